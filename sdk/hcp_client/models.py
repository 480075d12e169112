"""Typed models of the API's responses: GENERATED from api/openapi.json, do not edit.

Regenerate with ``uv run hcp api spec``. Money and other exact quantities are ``Decimal`` (the API
sends decimal strings); times are aware datetimes. Lists come as ``hcp_client.Page[Model]``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, Field

from hcp_client._base import Model


class DeviceInterval(Model):
    device_id: str = Field(..., title="Device Id")
    expected_margin_usd: Decimal = Field(..., title="Expected Margin Usd")
    interval_start: AwareDatetime = Field(..., title="Interval Start")
    mode: str = Field(..., title="Mode")
    reason: str = Field(..., title="Reason")


class FacilityInterval(Model):
    cap_mw: Decimal = Field(..., title="Cap Mw")
    expected_profit_usd: Decimal = Field(..., title="Expected Profit Usd")
    facility_id: str = Field(..., title="Facility Id")
    interval_start: AwareDatetime = Field(..., title="Interval Start")
    mw_curtailed: Decimal = Field(..., title="Mw Curtailed")
    mw_inference: Decimal = Field(..., title="Mw Inference")
    mw_mining: Decimal = Field(..., title="Mw Mining")


class Health(Model):
    database: bool = Field(..., title="Database")
    schema_version: int | None = Field(..., title="Schema Version")
    status: str = Field(..., title="Status")


class InvoiceLine(Model):
    amount_usd: Decimal = Field(..., title="Amount Usd")
    description: str = Field(..., title="Description")
    gpu_model: str | None = Field(..., title="Gpu Model")
    gpu_pool: str | None = Field(..., title="Gpu Pool")
    line_kind: str = Field(..., title="Line Kind")
    line_no: int = Field(..., title="Line No")
    quantity: Decimal = Field(..., title="Quantity")
    unit: str = Field(..., title="Unit")
    unit_price_usd: Decimal = Field(..., title="Unit Price Usd")
    workload_type: str | None = Field(..., title="Workload Type")


class InvoiceSummary(Model):
    credit_usd: Decimal = Field(..., title="Credit Usd")
    currency: str = Field(..., title="Currency")
    customer_id: str = Field(..., title="Customer Id")
    discount_usd: Decimal = Field(..., title="Discount Usd")
    due_at: AwareDatetime | None = Field(..., title="Due At")
    invoice_id: int = Field(..., title="Invoice Id")
    invoice_number: str | None = Field(..., title="Invoice Number")
    issued_at: AwareDatetime | None = Field(..., title="Issued At")
    kind: str = Field(..., title="Kind")
    paid_at: AwareDatetime | None = Field(..., title="Paid At")
    period: str = Field(..., title="Period")
    period_end: AwareDatetime = Field(..., title="Period End")
    period_start: AwareDatetime = Field(..., title="Period Start")
    reason: str | None = Field(..., title="Reason")
    refers_to: int | None = Field(..., title="Refers To")
    """
    for a credit or debit note: the invoice it corrects
    """
    status: str = Field(..., title="Status")
    subtotal_usd: Decimal = Field(..., title="Subtotal Usd")
    tax_usd: Decimal = Field(..., title="Tax Usd")
    total_usd: Decimal = Field(..., title="Total Usd")


class Plan(Model):
    devices: int = Field(..., title="Devices")
    dt_hours: Decimal = Field(..., title="Dt Hours")
    gap: float | None = Field(..., title="Gap")
    horizon_hours: Decimal = Field(..., title="Horizon Hours")
    horizon_start: AwareDatetime = Field(..., title="Horizon Start")
    intervals: int = Field(..., title="Intervals")
    issued_at: AwareDatetime = Field(..., title="Issued At")
    objective: float | None = Field(..., title="Objective")
    plan_id: str = Field(..., title="Plan Id")
    status: str = Field(..., title="Status")
    upper_bound: float | None = Field(..., title="Upper Bound")


class PlanDetail(Plan):
    facilities: list[FacilityInterval] = Field(..., title="Facilities")


class Session(Model):
    customer_id: str = Field(..., title="Customer Id")
    device_id: str | None = Field(..., title="Device Id")
    end_reason: str | None = Field(..., title="End Reason")
    ended_at: AwareDatetime | None = Field(..., title="Ended At")
    gpu_pool: str | None = Field(..., title="Gpu Pool")
    gpu_seconds: int = Field(..., title="Gpu Seconds")
    is_open: bool = Field(..., title="Is Open")
    session_id: str = Field(..., title="Session Id")
    started_at: AwareDatetime = Field(..., title="Started At")
    workload_id: str = Field(..., title="Workload Id")
    workload_type: str | None = Field(..., title="Workload Type")


class UsageRow(Model):
    """
    Usage of one customer on one day (the customer's time zone) for one product.
    """

    amount_usd: Decimal = Field(..., title="Amount Usd")
    """
    informational (6 decimals); invoices round per line
    """
    billable_gpu_seconds: int = Field(..., title="Billable Gpu Seconds")
    customer_id: str = Field(..., title="Customer Id")
    gpu_model: str | None = Field(..., title="Gpu Model")
    gpu_seconds: int = Field(..., title="Gpu Seconds")
    usage_date: date = Field(..., title="Usage Date")
    workload_type: str | None = Field(..., title="Workload Type")
    workloads: int = Field(..., title="Workloads")


class ValidationError(Model):
    ctx: dict[str, Any] | None = Field(None, title="Context")
    input: Any | None = Field(None, title="Input")
    loc: list[str | int] = Field(..., title="Location")
    msg: str = Field(..., title="Message")
    type: str = Field(..., title="Error Type")


class WebhookResult(Model):
    duplicate: bool = Field(..., title="Duplicate")
    event_id: str = Field(..., title="Event Id")
    outcome: str = Field(..., title="Outcome")


class Workload(Model):
    customer_id: str = Field(..., title="Customer Id")
    first_started_at: AwareDatetime = Field(..., title="First Started At")
    gpu_pool: str | None = Field(..., title="Gpu Pool")
    gpu_seconds: int = Field(..., title="Gpu Seconds")
    gpus_requested: int | None = Field(..., title="Gpus Requested")
    is_open: bool = Field(..., title="Is Open")
    last_ended_at: AwareDatetime | None = Field(..., title="Last Ended At")
    sessions: int = Field(..., title="Sessions")
    workload_id: str = Field(..., title="Workload Id")
    workload_type: str | None = Field(..., title="Workload Type")


class WorkloadDetail(Workload):
    session_list: list[Session] = Field(..., title="Session List")


class HTTPValidationError(Model):
    detail: list[ValidationError] | None = Field(None, title="Detail")


class Invoice(InvoiceSummary):
    lines: list[InvoiceLine] = Field(..., title="Lines")
