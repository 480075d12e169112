"""Response models: what the OpenAPI spec, the SDK and the TypeScript types describe.

Money is a decimal string (exact, as NUMERIC in the database); times are UTC ISO 8601.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, WithJsonSchema

# Exact decimals travel as strings; the "decimal" format tells generators (the SDK's models) to type
# them as Decimal rather than str.
DecimalString = Annotated[Decimal, WithJsonSchema({"type": "string", "format": "decimal"})]


class Health(BaseModel):
    status: str
    database: bool
    schema_version: int | None


class UsageRow(BaseModel):
    """Usage of one customer on one day (the customer's time zone) for one product."""

    customer_id: str
    usage_date: date
    gpu_model: str | None
    workload_type: str | None
    workloads: int
    gpu_seconds: int
    billable_gpu_seconds: int
    amount_usd: DecimalString = Field(description="informational (6 decimals); invoices round per line")


class UsagePage(BaseModel):
    data: list[UsageRow]
    next_cursor: str | None


class InvoiceLine(BaseModel):
    line_no: int
    line_kind: str
    description: str
    gpu_model: str | None
    gpu_pool: str | None
    workload_type: str | None
    quantity: DecimalString
    unit: str
    unit_price_usd: DecimalString
    amount_usd: DecimalString


class InvoiceSummary(BaseModel):
    invoice_id: int
    kind: str
    invoice_number: str | None
    customer_id: str
    period: str
    period_start: datetime
    period_end: datetime
    status: str
    currency: str
    subtotal_usd: DecimalString
    discount_usd: DecimalString
    credit_usd: DecimalString
    tax_usd: DecimalString
    total_usd: DecimalString
    issued_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    refers_to: int | None = Field(description="for a credit or debit note: the invoice it corrects")
    reason: str | None


class Invoice(InvoiceSummary):
    lines: list[InvoiceLine]


class InvoicePage(BaseModel):
    data: list[InvoiceSummary]
    next_cursor: str | None


class Workload(BaseModel):
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


class WorkloadPage(BaseModel):
    data: list[Workload]
    next_cursor: str | None


class Session(BaseModel):
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


class SessionPage(BaseModel):
    data: list[Session]
    next_cursor: str | None


class WorkloadDetail(Workload):
    session_list: list[Session]


class Plan(BaseModel):
    plan_id: str
    issued_at: datetime
    horizon_start: datetime
    horizon_hours: DecimalString
    dt_hours: DecimalString
    objective: float | None
    upper_bound: float | None
    gap: float | None
    devices: int
    intervals: int
    status: str


class PlanPage(BaseModel):
    data: list[Plan]
    next_cursor: str | None


class FacilityInterval(BaseModel):
    facility_id: str
    interval_start: datetime
    mw_mining: DecimalString
    mw_inference: DecimalString
    mw_curtailed: DecimalString
    cap_mw: DecimalString
    expected_profit_usd: DecimalString


class PlanDetail(Plan):
    facilities: list[FacilityInterval]


class DeviceInterval(BaseModel):
    device_id: str
    interval_start: datetime
    mode: str
    expected_margin_usd: DecimalString
    reason: str


class DeviceIntervalPage(BaseModel):
    data: list[DeviceInterval]
    next_cursor: str | None


class WebhookResult(BaseModel):
    event_id: str
    outcome: str
    duplicate: bool
