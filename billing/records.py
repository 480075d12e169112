"""The records that flow between usage loading and pricing: spans, metered pieces, usage rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from billing.catalog import RateCard


@dataclass(frozen=True)
class Span:
    """One running span of a workload on ``gpus`` GPUs, ``[started_at, ended_at)``."""

    workload_id: str
    span_id: str  # the opening event's id
    customer_id: str
    workload_type: str | None
    gpu_pool: str | None
    gpu_model: str | None
    started_at: datetime
    ended_at: datetime
    gpus: int


@dataclass(frozen=True)
class Piece:
    """A metered piece: a span (``gpus`` devices) within one local day and one rate card."""

    workload_id: str
    span_id: str
    started_at: datetime
    ended_at: datetime
    gpus: int
    gpu_seconds: int
    billable_seconds: int
    gpu_model: str
    gpu_pool: str | None
    workload_type: str
    card: RateCard


@dataclass(frozen=True)
class UsageRow:
    """Usage of one workload in one customer-local day, pool, GPU model and card version: the grain
    of marts.fct_usage. ``pieces`` are the metered pieces behind it (lineage)."""

    usage_id: str
    customer_id: str
    usage_date: date
    workload_id: str
    workload_type: str
    gpu_pool: str | None
    gpu_model: str
    card: RateCard
    started_at: datetime
    ended_at: datetime
    gpu_seconds: int
    billable_seconds: int
    pieces: tuple[Piece, ...] = ()
