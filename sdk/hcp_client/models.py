"""Typed models of the API's responses (the component schemas of api/openapi.json).

Money fields are ``Decimal`` (the API sends exact decimal strings); times are aware datetimes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Health(_Model):
    status: str
    database: bool
    schema_version: int | None


class UsageRow(_Model):
    customer_id: str
    usage_date: date
    gpu_model: str | None
    workload_type: str | None
    workloads: int
    gpu_seconds: int
    billable_gpu_seconds: int
    amount_usd: Decimal


class InvoiceLine(_Model):
    line_no: int
    line_kind: str
    description: str
    gpu_model: str | None
    gpu_pool: str | None
    workload_type: str | None
    quantity: Decimal
    unit: str
    unit_price_usd: Decimal
    amount_usd: Decimal


class InvoiceSummary(_Model):
    invoice_id: int
    kind: str
    invoice_number: str | None
    customer_id: str
    period: str
    period_start: datetime
    period_end: datetime
    status: str
    currency: str
    subtotal_usd: Decimal
    discount_usd: Decimal
    credit_usd: Decimal
    tax_usd: Decimal
    total_usd: Decimal
    issued_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    refers_to: int | None
    reason: str | None


class Invoice(InvoiceSummary):
    lines: list[InvoiceLine]


class Workload(_Model):
    workload_id: str
    customer_id: str
    workload_type: str | None
    gpu_pool: str | None
    gpus_requested: int | None
    sessions: int
    first_started_at: datetime
    last_ended_at: datetime | None
    is_open: bool
    gpu_seconds: int


class Session(_Model):
    session_id: str
    workload_id: str
    device_id: str | None
    customer_id: str
    workload_type: str | None
    gpu_pool: str | None
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    is_open: bool
    gpu_seconds: int


class WorkloadDetail(Workload):
    session_list: list[Session]


class Plan(_Model):
    plan_id: str
    issued_at: datetime
    horizon_start: datetime
    horizon_hours: Decimal
    dt_hours: Decimal
    objective: float | None
    upper_bound: float | None
    gap: float | None
    devices: int
    intervals: int
    status: str


class FacilityInterval(_Model):
    facility_id: str
    interval_start: datetime
    mw_mining: Decimal
    mw_inference: Decimal
    mw_curtailed: Decimal
    cap_mw: Decimal
    expected_profit_usd: Decimal


class PlanDetail(Plan):
    facilities: list[FacilityInterval]


class DeviceInterval(_Model):
    device_id: str
    interval_start: datetime
    mode: str
    expected_margin_usd: Decimal
    reason: str


class Page(_Model, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next (None: the last)."""

    data: list[T]
    next_cursor: str | None
