"""Metered GPU usage for invoices: workload running spans built in SQL from raw.workload_events.

Span rules (the same as dbt's int_workload_sessions_built, so marts and invoices agree): events
collapse on event_id (latest load); a span opens on started/resumed and closes on the next
paused/completed/cancelled/failed, ordered by time to the second; repeated opens or closes are
ignored, as is anything after the first terminal event; a span still open at the end of the data
is cut at the watermark (the newest event). Each span runs on the devices of its opening event
(else of the workload's first placement): GPU-seconds = devices x seconds.

The independent recomputation in :mod:`orchestration.billing.reconcile` rebuilds the same spans in
Python from the same raw rows; the two must agree to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


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


SPANS_SQL = """
with ev as (
    select distinct on (event_id)
        event_id, workload_id, customer_id, event_type, date_trunc('second', event_at) as event_at,
        workload_type, nullif(gpu_pool, '') as gpu_pool, device_ids
    from raw.workload_events
    order by event_id, load_id desc
),
wl as (
    select workload_id, max(customer_id) as customer_id, max(workload_type) as workload_type,
           max(gpu_pool) as gpu_pool,
           min(event_at) filter (where event_type in ('completed', 'cancelled', 'failed')) as terminal_at
    from ev group by workload_id
),
first_placement as (
    select distinct on (workload_id) workload_id, device_ids
    from ev where event_type in ('started', 'resumed') and cardinality(device_ids) > 0
    order by workload_id, event_at, event_id
),
transitions as (
    select ev.workload_id, ev.event_id, ev.event_at, ev.device_ids,
           case when ev.event_type in ('started', 'resumed') then 'open' else 'close' end as transition,
           case ev.event_type when 'started' then 1 when 'paused' then 2 when 'resumed' then 3 else 4 end
               as same_second_rank
    from ev join wl using (workload_id)
    where ev.event_type <> 'submitted' and (wl.terminal_at is null or ev.event_at <= wl.terminal_at)
),
sequenced as (
    select *, lag(transition) over w as previous_transition
    from transitions
    window w as (partition by workload_id order by event_at, same_second_rank, event_id)
),
effective as (
    select * from sequenced
    where (transition = 'open' and previous_transition is distinct from 'open')
       or (transition = 'close' and previous_transition = 'open')
),
spans as (
    select workload_id, event_id, event_at as started_at, device_ids, transition,
           lead(event_at) over w as closed_at
    from effective
    window w as (partition by workload_id order by event_at, same_second_rank, event_id)
),
devices as (
    select distinct on (device_id) device_id, gpu_pool, model
    from raw.devices order by device_id, load_id desc
),
placed as (
    select spans.*, case when cardinality(spans.device_ids) > 0 then spans.device_ids
                         else first_placement.device_ids end as used_devices
    from spans left join first_placement using (workload_id)
    where spans.transition = 'open'
),
watermark as (select max(event_at) as watermark_at from ev)
select placed.workload_id, placed.event_id, wl.customer_id, wl.workload_type,
       coalesce(wl.gpu_pool, devices.gpu_pool), devices.model,
       placed.started_at, coalesce(placed.closed_at, watermark.watermark_at) as ended_at,
       coalesce(cardinality(placed.used_devices), 0)
from placed
join wl using (workload_id)
cross join watermark
left join devices on devices.device_id = placed.used_devices[1]
where coalesce(placed.closed_at, watermark.watermark_at) > %(lo)s and placed.started_at < %(hi)s
  and (%(customers)s::text[] is null or wl.customer_id = any(%(customers)s::text[]))
order by wl.customer_id, placed.started_at, placed.workload_id, placed.event_id
"""


def load_spans(
    conn: psycopg.Connection, lo: datetime, hi: datetime, customers: list[str] | None = None
) -> list[Span]:
    """Spans overlapping ``[lo, hi)`` (optionally for some customers), ordered by customer and start."""
    rows = conn.execute(SPANS_SQL, {"lo": lo, "hi": hi, "customers": customers}).fetchall()
    return [Span(*row) for row in rows]


def events_watermark(conn: psycopg.Connection) -> datetime | None:
    """The newest workload event time: usage is complete up to here."""
    return conn.execute("select max(event_at) from raw.workload_events").fetchone()[0]
