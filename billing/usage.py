"""Usage for billing.

Invoices read their GPU usage from the marts: :func:`load_usage_rows` reads ``marts.fct_usage``
(billable GPU-seconds per customer, workload, pool, customer-local day and rate card, metered by
dbt with the one metering rule, see :mod:`billing.engine`) and, for line-item
lineage, the pieces of ``intermediate.int_workload_usage_billable`` behind each row.
:func:`refresh_usage_marts` rebuilds them with dbt (Dagster does it through the asset graph).

:func:`load_spans` (running spans in SQL from dbt staging's workload events, which collapse on
event_id, latest load) remains for month-to-date budgets. Span rules (the same as dbt's
int_workload_sessions_built, so marts and invoices agree): a span opens on started/resumed and closes on the next
paused/completed/cancelled/failed, ordered by time to the second; repeated opens or closes are
ignored, as is anything after the first terminal event; a span still open at the end of the data
is cut at the watermark: the newest workload event (dbt's events_end_at), never newer telemetry.
Each span runs on the devices of its opening event (else of the workload's first placement):
GPU-seconds = devices x seconds.

The independent recomputation in :mod:`billing.reconcile` rebuilds the same spans in
Python from the same raw rows; the two must agree to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from billing.records import Span, UsageRow

if TYPE_CHECKING:
    from billing.catalog import Catalog

USAGE_MART = "marts.fct_usage"
USAGE_PIECES = "intermediate.int_workload_usage_billable"


SPANS_SQL = """
with ev as (
    select event_id, workload_id, customer_id, event_type, date_trunc('second', event_at) as event_at,
        workload_type, gpu_pool, device_ids
    from staging.stg_raw__workload_events
    where %(customers)s::text[] is null or customer_id = any(%(customers)s::text[])
),
wl as (
    select workload_id, max(customer_id) as customer_id, max(workload_type) as workload_type,
           max(gpu_pool) as gpu_pool,
           min(event_at) filter (where event_type in ('completed', 'cancelled', 'failed')) as terminal_at
    from ev group by workload_id
),
first_placement as (
    select distinct on (workload_id) workload_id, device_ids as first_devices
    from ev where event_type in ('started', 'resumed') and cardinality(device_ids) > 0
    order by workload_id, event_at, event_id
),
-- The workload's attributes travel with its transitions, so no join follows the window functions
-- (CTE row estimates are poor there and a nested loop would make this quadratic).
transitions as (
    select ev.workload_id, ev.event_id, ev.event_at, ev.device_ids,
           wl.customer_id, wl.workload_type, wl.gpu_pool,
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
    select workload_id, event_id, customer_id, workload_type, gpu_pool, event_at as started_at,
           device_ids, transition, lead(event_at) over w as closed_at
    from effective
    window w as (partition by workload_id order by event_at, same_second_rank, event_id)
),
devices as (
    select device_id, gpu_pool, hardware_model as model from staging.stg_raw__devices
),
placed as (
    -- The watermark is an uncorrelated scalar subquery: evaluated once, not once per span.
    select spans.*,
           coalesce(spans.closed_at, date_trunc('second', (select max(event_at) from staging.stg_raw__workload_events)))
               as ended_at,
           case when cardinality(spans.device_ids) > 0 then spans.device_ids
                else first_placement.first_devices end as used_devices
    from spans
    left join first_placement using (workload_id)
    where spans.transition = 'open'
)
select placed.workload_id, placed.event_id, placed.customer_id, placed.workload_type,
       coalesce(placed.gpu_pool, devices.gpu_pool), devices.model,
       placed.started_at, placed.ended_at, coalesce(cardinality(placed.used_devices), 0)
from placed
left join devices on devices.device_id = placed.used_devices[1]
where placed.ended_at > %(lo)s and placed.started_at < %(hi)s
order by placed.customer_id, placed.started_at, placed.workload_id, placed.event_id
"""


def load_spans(
    conn: psycopg.Connection, lo: datetime, hi: datetime, customers: list[str] | None = None
) -> list[Span]:
    """Spans overlapping ``[lo, hi)`` (optionally for some customers), ordered by customer and start."""
    rows = conn.execute(SPANS_SQL, {"lo": lo, "hi": hi, "customers": customers}).fetchall()
    return [Span(*row) for row in rows]


def events_watermark(conn: psycopg.Connection) -> datetime | None:
    """The newest workload event time: usage is complete up to here."""
    return conn.execute("select max(event_at) from staging.stg_raw__workload_events").fetchone()[0]


@dataclass(frozen=True)
class EnergyInterval:
    """Metered energy of a colocation rack in one market interval, with the real-time price."""

    interval_start: datetime
    energy_kwh: Decimal
    price_usd_per_mwh: Decimal | None  # None: the price is missing (a data-quality failure)


ENERGY_SQL = """
with dev as (
    select device_id from staging.stg_raw__devices where facility_id = %(facility)s and rack = %(rack)s
),
fac as (
    select market, price_node_name from staging.stg_raw__facilities where facility_id = %(facility)s
),
prices as (
    select p.interval_start_at as interval_start_utc, p.interval_minutes, p.price_usd_per_mwh
    from staging.stg_raw__energy_prices p
    join fac on p.market = fac.market and p.price_node_name = fac.price_node_name
    where p.price_kind = 'rt' and p.interval_start_at >= %(start)s - interval '1 hour'
      and p.interval_start_at < %(end)s
),
step as (
    select coalesce(min(interval_minutes), 15) as minutes from prices
),
-- Samples of every interval that overlaps [start, end), also those just outside it: an interval
-- straddling a period or contract-version boundary is measured once, over all its samples, and
-- each side bills only its overlap (the rule: billing.reconcile_energy).
samples as (
    select t.device_id, t.measured_at as ts, t.power_kw
    from staging.stg_raw__device_power_live t join dev using (device_id)
    where t.measured_at >= %(start)s - interval '1 hour' and t.measured_at < %(end)s + interval '1 hour'
      and t.power_kw is not null
),
-- A device's mean measured power over the interval (missing samples are filled by the mean of
-- the others)
per_device as (
    select s.device_id,
           date_bin(make_interval(mins => step.minutes), s.ts, timestamptz '2000-01-01 00:00:00+00') as bucket,
           avg(s.power_kw)::numeric(14, 6) as kw, step.minutes
    from samples s cross join step
    group by 1, 2, step.minutes
),
-- times the interval's overlap with [start, end)
overlap as (
    select d.*,
           extract(epoch from least(d.bucket + make_interval(mins => d.minutes), %(end)s)
                              - greatest(d.bucket, %(start)s)) as seconds
    from per_device d
)
select d.bucket, sum(d.kw) * d.seconds / 3600 as kwh, p.price_usd_per_mwh
from overlap d left join prices p on p.interval_start_utc = d.bucket
where d.seconds > 0
group by d.bucket, d.seconds, p.price_usd_per_mwh
order by d.bucket
"""


def load_energy(
    conn: psycopg.Connection, facility_id: str, rack: str, start: datetime, end: datetime
) -> list[EnergyInterval]:
    """Metered energy of a rack per market interval in ``[start, end)`` with the node's RT price."""
    rows = conn.execute(ENERGY_SQL, {"facility": facility_id, "rack": rack, "start": start, "end": end})
    return [EnergyInterval(r[0], Decimal(r[1]), None if r[2] is None else Decimal(r[2])) for r in rows]


class UsageMartMissing(RuntimeError):
    """marts.fct_usage (or its pieces) does not exist yet: build the marts first."""


# Each row with the billable seconds of its pieces, to check they add up to it. The pieces
# themselves stay in the database: invoices link them to their lines there (invoices.LINEAGE_SQL).
USAGE_ROWS_SQL = """
with pieces as (
    select p.usage_id, sum(p.billable_gpu_seconds) as billable
    from intermediate.int_workload_usage_billable p
    where p.customer_id = any(%(customers)s::text[]) and p.usage_date >= %(lo)s and p.usage_date < %(hi)s
    group by p.usage_id
)
select u.usage_id, u.customer_id, u.usage_date, u.workload_id, u.workload_type, u.gpu_pool, u.gpu_model,
       u.rate_card_id, u.rate_card_effective_at, u.price_usd_per_gpu_hour, u.min_increment_seconds,
       u.first_piece_start_at, u.last_piece_end_at, u.gpu_seconds, u.billable_gpu_seconds,
       coalesce(pieces.billable, 0)
from marts.fct_usage u left join pieces using (usage_id)
where u.customer_id = any(%(customers)s::text[]) and u.usage_date >= %(lo)s and u.usage_date < %(hi)s
"""


def usage_marts_available(conn: psycopg.Connection) -> bool:
    found = conn.execute("select to_regclass(%s), to_regclass(%s)", (USAGE_MART, USAGE_PIECES)).fetchone()
    return None not in found


def load_usage_rows(
    conn: psycopg.Connection, catalog: Catalog, bounds: dict[str, tuple[date, date]]
) -> tuple[dict[str, list[UsageRow]], dict[str, list[str]]]:
    """Usage rows of marts.fct_usage per customer for its local dates ``[first, end)`` (without
    their pieces: lineage is written in the database); and the data-quality problems per customer
    (a row without a rate card, a row whose pieces do not add up to it)."""
    from billing.catalog import RateCard

    if not usage_marts_available(conn):
        raise UsageMartMissing(
            f"{USAGE_MART} is not built: run `hcp materialize` (or dbt build --select +fct_usage) first"
        )
    params = {
        "customers": sorted(bounds),
        "lo": min(b[0] for b in bounds.values()),
        "hi": max(b[1] for b in bounds.values()),
    }
    rows: dict[str, list[UsageRow]] = defaultdict(list)
    problems: dict[str, list[str]] = defaultdict(list)
    for r in conn.execute(USAGE_ROWS_SQL, params):
        (
            usage_id,
            cid,
            day,
            wid,
            wtype,
            pool,
            model,
            card_id,
            card_at,
            price,
            inc,
            first,
            last,
            secs,
            billable,
            pieces_billable,
        ) = r
        lo, hi = bounds[cid]
        if not lo <= day < hi:
            continue
        if card_id is None:
            problems[cid].append(
                f"no rate card for {model or pool} / {wtype or '?'} on {day} (workload {wid}, customer {cid})"
            )
            continue
        card = catalog.card_version(card_id, card_at) or RateCard(
            card_id, None, model, wtype, Decimal(price), int(inc), card_at
        )
        if pieces_billable != billable:
            problems[cid].append(f"usage row {usage_id} ({wid}, {day}) does not match its pieces")
        rows[cid].append(
            UsageRow(
                usage_id,
                cid,
                day,
                wid,
                wtype or "",
                pool,
                model,
                card,
                first,
                last,
                int(secs),
                int(billable),
            )
        )
    return rows, problems


def usage_mart_watermark(conn: psycopg.Connection) -> datetime | None:
    """How far the workload events behind the usage mart reached when dbt last built it (None if
    it was never built, or built before it recorded that: rebuild)."""
    found = conn.execute(
        """select 1 from information_schema.columns where table_schema = 'intermediate'
             and table_name = 'int_watermarks_computed' and column_name = 'events_end_at'"""
    ).fetchone()
    if found is None:
        return None
    row = conn.execute("select max(events_end_at) from intermediate.int_watermarks_computed").fetchone()
    return row[0] if row else None


def local_dates(start: datetime, end: datetime, timezone: str) -> tuple[date, date]:
    """The customer-local dates ``[first, end)`` of a period whose bounds are local midnights."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    return start.astimezone(zone).date(), end.astimezone(zone).date()


def refresh_usage_marts(
    url: str, target_path: Path | None = None, on_line: Callable[[str], None] | None = None
) -> None:
    """Rebuild marts.fct_usage and everything upstream of it with dbt (``dbt run -s +fct_usage``);
    ``on_line`` receives dbt's output lines as they come (progress)."""
    from core.dbt import run_dbt

    run_dbt(url, "run", "--select", "+fct_usage", target_path=target_path, on_line=on_line)
