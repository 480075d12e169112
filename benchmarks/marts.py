"""Benchmark of the dbt marts: incremental cost against history length, and dashboard query latency.

``run_benchmark(url)`` (a) loads 7 and 28 days of a default fleet, builds the marts, adds one hour of
data and times the incremental ``dbt run`` on top of each history; the ratio 28 d / 7 d should
stay under 1.3 because incremental models only rebuild their lookback window; (b) times
dashboard-style queries on the 28-day marts (p50/p95; goal p95 < 50 ms).

Data comes from :func:`insert_synthetic_fleet`, a deterministic SQL generator of raw rows (it needs
no landing files), so the benchmark measures dbt and PostgreSQL, not parsers.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from core.db import scratch_database
from core.dbt import run_dbt

DEFAULT_END = datetime(2026, 3, 1, tzinfo=UTC)

Progress = Callable[[str], None] | None

_REFERENCE_SQL = """
insert into raw.facilities (facility_id, name, market, price_node, timezone, power_cap_kw, pue, load_id)
select format('fac-%%s', lpad(f::text, 2, '0')), format('Facility %%s', f),
       case when f %% 2 = 1 then 'ERCOT' else 'PJM' end,
       case when f %% 2 = 1 then 'HB_WEST' else 'WESTERN HUB' end,
       case when f %% 2 = 1 then 'America/Chicago' else 'America/New_York' end,
       10000, 1.1000, %(load_id)s
from generate_series(1, %(facilities)s) as f;

insert into raw.price_nodes (node_name, market, node_type, timezone, load_id) values
    ('HB_WEST', 'ERCOT', 'HU', 'America/Chicago', %(load_id)s),
    ('WESTERN HUB', 'PJM', 'HUB', 'America/New_York', %(load_id)s)
on conflict do nothing;

insert into raw.devices (device_id, facility_id, kind, model, gpu_pool, nominal_power_kw,
                         nominal_hashrate_ths, rack, rack_row, rack_slot, load_id)
select format('dev-%%s-%%s', lpad(f::text, 2, '0'), lpad(d::text, 4, '0')),
       format('fac-%%s', lpad(f::text, 2, '0')),
       case when d %% 5 = 0 then 'gpu' else 'asic' end,
       case when d %% 5 = 0 then 'NVIDIA H100 80GB HBM3' when d %% 2 = 0 then 'Antminer S21' else 'Antminer S19 XP' end,
       case when d %% 5 = 0 then 'h100' end,
       case when d %% 5 = 0 then 0.7 when d %% 2 = 0 then 3.5 else 3.01 end,
       case when d %% 5 = 0 then null when d %% 2 = 0 then 200 else 140 end,
       format('R%%s', d / 20), d / 20, d %% 20, %(load_id)s
from generate_series(1, %(facilities)s) as f, generate_series(1, %(devices)s) as d;

insert into raw.customers (customer_id, pii_encrypted, pii_key_id, timezone, tax_rate, customer_type, load_id)
select format('cust-%%s', c), '\\x00'::bytea, 'synthetic', 'America/New_York', 0.0825, 'inference', %(load_id)s
from generate_series(1, 3) as c;

insert into raw.rate_cards (rate_card_id, customer_id, gpu_model, workload_type, price_usd_per_gpu_hour,
                            min_increment_seconds, effective_from, load_id) values
    ('list-h100-inference', null, 'NVIDIA H100 80GB HBM3', 'inference', 2.490000, 60, '2020-01-01Z', %(load_id)s),
    ('list-h100-fine_tune', null, 'NVIDIA H100 80GB HBM3', 'fine_tune', 2.990000, 60, '2020-01-01Z', %(load_id)s),
    ('cust-1-h100', 'cust-1', 'NVIDIA H100 80GB HBM3', 'inference', 1.990000, 1, '2020-01-01Z', %(load_id)s);
"""

_WINDOW_SQL = """
create temporary table _slots on commit drop as
select ts from generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '5 minutes',
                               interval '5 minutes') as ts;

create temporary table _draw on commit drop as
select d.device_id, d.facility_id, d.kind, s.ts, d.nominal_power_kw,
       case when d.kind = 'asic' and hashtext(d.device_id) %% 13 = 0
                 and extract(hour from s.ts at time zone 'UTC') between 3 and 4 then 0
            else d.nominal_power_kw * (0.94 + 0.05 * sin(extract(epoch from s.ts) / 3600.0 + hashtext(d.device_id)))
       end as power_kw,
       d.nominal_hashrate_ths
from (select distinct on (device_id) * from raw.devices order by device_id, load_id desc) as d
cross join _slots as s;

select raw.create_day_partitions(
    'raw.device_telemetry', array(select distinct (ts at time zone 'UTC')::date from _slots)
);

insert into raw.device_telemetry (device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id)
select device_id, ts, power_kw,
       case when kind = 'asic' then nominal_hashrate_ths * power_kw / nominal_power_kw end,
       case when kind = 'gpu' then 55 + 40 * sin(extract(epoch from ts) / 7200.0) end,
       55 + 10 * cos(extract(epoch from ts) / 5400.0), %(load_id)s
from _draw;

insert into raw.site_meter (facility_id, ts, power_kw, load_id)
select d.facility_id, d.ts, round((sum(d.power_kw) * max(f.pue))::numeric, 3), %(load_id)s
from _draw as d
join (select distinct on (facility_id) * from raw.facilities order by facility_id, load_id desc) as f
  using (facility_id)
group by d.facility_id, d.ts;

insert into raw.energy_prices (market, node_name, price_kind, interval_start_utc, interval_minutes,
                               interval_start_local, price_usd_per_mwh, load_id)
select n.market, n.node, 'rt', s.ts, n.minutes, s.ts at time zone n.tz,
       round((35 + 25 * sin(extract(epoch from s.ts) / 9000.0))::numeric, 4), %(load_id)s
from (values ('ERCOT', 'HB_WEST', 15, 'America/Chicago'), ('PJM', 'WESTERN HUB', 5, 'America/New_York'))
     as n (market, node, minutes, tz)
cross join _slots as s
where extract(epoch from s.ts)::bigint %% (n.minutes * 60) = 0
union all
select n.market, n.node, 'da', s.ts, 60, s.ts at time zone n.tz,
       round((38 + 20 * sin(extract(epoch from s.ts) / 9000.0))::numeric, 4), %(load_id)s
from (values ('ERCOT', 'HB_WEST', 'America/Chicago'), ('PJM', 'WESTERN HUB', 'America/New_York')) as n (market, node, tz)
cross join _slots as s
where extract(epoch from s.ts)::bigint %% 3600 = 0;

insert into raw.btc_economics (observed_at, btc_price_usd, difficulty, block_subsidy_btc, fees_btc_per_block, load_id)
select s.ts, 90000 + 1000 * sin(extract(epoch from s.ts) / 86400.0), 110000000000000, 3.125, 0.05, %(load_id)s
from _slots as s
where extract(epoch from s.ts)::bigint %% 86400 = 0;

-- one workload per GPU and day: started 02:00, paused 06:00, resumed 07:00, completed 12:00 UTC;
-- the started event is delivered twice (same event_id, later load) to exercise idempotency.
insert into raw.workload_events (event_id, workload_id, customer_id, event_type, event_at, workload_type,
                                 gpu_pool, gpus_requested, device_ids, load_id)
select format('%%s-%%s', w.workload_id, e.event_type), w.workload_id, w.customer_id, e.event_type,
       w.day + e.offset_at, w.workload_type, 'h100', 1,
       case when e.event_type in ('started', 'resumed') then array[w.device_id] end, %(load_id)s
from (
    select format('wl-%%s-%%s', d.device_id, to_char(s.ts at time zone 'UTC', 'YYYYMMDD')) as workload_id,
           d.device_id, s.ts as day,
           format('cust-%%s', 1 + abs(hashtext(d.device_id)) %% 3) as customer_id,
           case when abs(hashtext(d.device_id)) %% 2 = 0 then 'inference' else 'fine_tune' end as workload_type
    from (select distinct device_id from raw.devices where kind = 'gpu') as d
    cross join (select generate_series(date_trunc('day', %(start)s::timestamptz - interval '1 day', 'UTC'),
                                       %(end)s::timestamptz, interval '1 day') as ts) as s
) as w
cross join (values ('submitted', interval '1 hour 59 minutes'), ('started', interval '2 hours 0 minutes 7 seconds'),
                   ('paused', interval '6 hours'), ('resumed', interval '7 hours 30 seconds'),
                   ('completed', interval '12 hours 0 minutes 1 second')) as e (event_type, offset_at)
where w.day + e.offset_at >= %(start)s::timestamptz and w.day + e.offset_at < %(end)s::timestamptz;

insert into raw.demand_response_events (event_id, facility_id, start_at, end_at, curtail_kw, credit_usd_per_mwh, load_id)
select format('dr-%%s-%%s', f.facility_id, to_char(s.ts at time zone 'UTC', 'YYYYMMDD')), f.facility_id,
       s.ts + interval '17 hours 30 minutes', s.ts + interval '18 hours 30 minutes', 500, 50, %(load_id)s
from (select distinct facility_id from raw.facilities) as f
cross join _slots as s
where extract(epoch from s.ts)::bigint %% 86400 = 0;
"""


def insert_synthetic_fleet(
    url: str,
    *,
    start: datetime,
    end: datetime,
    facilities: int = 2,
    devices: int = 30,
    reference: bool = True,
) -> int:
    """Insert deterministic raw rows for [start, end) as one load; returns its load_id.

    ``reference`` also inserts facilities, devices, price nodes, customers and rate cards (once).
    Site meters equal the devices' draw times PUE, so the energy balance holds exactly.
    """
    with psycopg.connect(url, cursor_factory=psycopg.ClientCursor) as conn:
        load_id = conn.execute(
            "insert into raw.load_log (kind, source_file, status, finished_at) "
            "values ('synthetic', 'bench_marts', 'succeeded', now()) returning load_id"
        ).fetchone()[0]
        params = {
            "load_id": load_id,
            "facilities": facilities,
            "devices": devices,
            "start": start,
            "end": end,
        }
        if reference:
            conn.execute(_REFERENCE_SQL, params)
        conn.execute(_WINDOW_SQL, params)
    return load_id


DASHBOARD_QUERIES = {
    "kpis_for_a_day": "select * from marts.fct_exec_kpis_daily where activity_date = %(day)s::date",
    "facility_hourly_for_a_week": """
        select * from marts.fct_facility_hourly
        where facility_id = %(facility_id)s
          and hour_start_at >= %(day)s::timestamptz - interval '6 days'
          and hour_start_at < %(day)s::timestamptz + interval '1 day'
        order by hour_start_at""",
    "top_devices_by_margin_for_a_day": """
        select device_id, hardware_model, sum(margin_usd) as margin_usd, sum(energy_kwh) as energy_kwh
        from marts.fct_device_hourly
        where hour_start_at >= %(day)s::timestamptz and hour_start_at < %(day)s::timestamptz + interval '1 day'
        group by device_id, hardware_model
        order by margin_usd desc
        limit 20""",
}


def _model_seconds(target: Path) -> float:
    results = json.loads((target / "run_results.json").read_text())
    return sum(r["execution_time"] for r in results["results"])


def _timed_dbt(url: str, target: Path, *args: str) -> dict:
    started = time.perf_counter()
    run_dbt(url, *args, target_path=target)
    return {"wall_seconds": time.perf_counter() - started, "model_seconds": _model_seconds(target)}


def _query_latency(url: str, day: datetime, repeats: int) -> dict:
    latencies: dict[str, dict] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        facility_id = conn.execute("select min(facility_id) from marts.dim_facilities").fetchone()[0]
        params = {"day": day, "facility_id": facility_id}
        for name, query in DASHBOARD_QUERIES.items():
            for _ in range(3):
                conn.execute(query, params).fetchall()
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                conn.execute(query, params).fetchall()
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            latencies[name] = {
                "p50_ms": statistics.median(samples),
                "p95_ms": samples[min(len(samples) - 1, math.ceil(0.95 * len(samples)) - 1)],
            }
    return latencies


def run_benchmark(
    url: str,
    progress: Progress = None,
    *,
    facilities: int = 3,
    devices: int = 1000,
    history_days: tuple[int, ...] = (7, 28),
    end: datetime = DEFAULT_END,
    repeats: int = 50,
    incremental_repeats: int = 3,
) -> dict:
    """Time an incremental dbt run adding one hour on top of each history length, side by side,
    and dashboard query latency on the longest history. Works in scratch databases on the server
    of ``url`` (created and dropped here); the platform database is not touched.

    ``devices`` is the fleet size (the simulator's default fleet: 3 facilities, 1000 devices).
    """
    say = progress or (lambda message: None)
    per_facility = max(1, math.ceil(devices / facilities))
    result: dict = {"facilities": facilities, "devices": per_facility * facilities, "runs": {}, "queries": {}}
    with tempfile.TemporaryDirectory(prefix="hcp-bench-dbt-") as tmp:
        target = Path(tmp)
        for days in history_days:
            with scratch_database(url, "hcp_bench_marts") as scratch:
                say(f"{days} d: loading {per_facility * facilities} devices x {days} days")
                started = time.perf_counter()
                insert_synthetic_fleet(
                    scratch,
                    start=end - timedelta(days=days),
                    end=end,
                    facilities=facilities,
                    devices=per_facility,
                )
                load_seconds = time.perf_counter() - started
                say(f"{days} d: full build")
                full = _timed_dbt(scratch, target, "run", "--full-refresh")
                samples = []
                for hour in range(incremental_repeats):  # one more hour each time; the median is kept
                    insert_synthetic_fleet(
                        scratch,
                        start=end + timedelta(hours=hour),
                        end=end + timedelta(hours=hour + 1),
                        facilities=facilities,
                        devices=per_facility,
                        reference=False,
                    )
                    say(f"{days} d: incremental run (+1 hour) {hour + 1}/{incremental_repeats}")
                    samples.append(_timed_dbt(scratch, target, "run"))
                incremental = {
                    key: statistics.median(sample[key] for sample in samples)
                    for key in ("wall_seconds", "model_seconds")
                }
                with psycopg.connect(scratch) as conn:
                    telemetry_rows = conn.execute("select count(*) from raw.device_telemetry").fetchone()[0]
                result["runs"][days] = {
                    "telemetry_rows": telemetry_rows,
                    "load_seconds": load_seconds,
                    "full_refresh": full,
                    "incremental": incremental,
                }
                if days == max(history_days):
                    say(f"{days} d: dashboard queries")
                    result["queries"] = _query_latency(scratch, end - timedelta(days=1), repeats)
    runs = result["runs"]
    shortest, longest = min(history_days), max(history_days)
    for key in ("wall_seconds", "model_seconds"):
        result[f"incremental_ratio_{key}"] = (
            runs[longest]["incremental"][key] / runs[shortest]["incremental"][key]
        )
    result["incremental_ratio_ok"] = result["incremental_ratio_model_seconds"] < 1.3
    result["queries_p95_ok"] = all(q["p95_ms"] < 50 for q in result["queries"].values())
    return result


def format_table(result: dict) -> str:
    """A plain-text report of :func:`run_benchmark`."""
    runs = result["runs"]
    days = sorted(runs)
    lines = [f"dbt marts benchmark: {result['facilities']} facilities, {result['devices']} devices", ""]
    header = f"{'':34}" + "".join(f"{str(d) + ' days':>16}" for d in days)
    lines.append(header)
    rows = [
        ("telemetry rows", lambda r: f"{r['telemetry_rows']:,}"),
        ("full refresh, models (s)", lambda r: f"{r['full_refresh']['model_seconds']:.2f}"),
        ("full refresh, wall (s)", lambda r: f"{r['full_refresh']['wall_seconds']:.2f}"),
        ("incremental +1 h, models (s)", lambda r: f"{r['incremental']['model_seconds']:.2f}"),
        ("incremental +1 h, wall (s)", lambda r: f"{r['incremental']['wall_seconds']:.2f}"),
    ]
    for label, cell in rows:
        lines.append(f"{label:34}" + "".join(f"{cell(runs[d]):>16}" for d in days))
    ok = "ok" if result["incremental_ratio_ok"] else "OVER GOAL"
    lines.append(
        f"incremental ratio {days[-1]} d / {days[0]} d: models {result['incremental_ratio_model_seconds']:.2f}, "
        f"wall {result['incremental_ratio_wall_seconds']:.2f} (goal < 1.3: {ok})"
    )
    lines += ["", f"{'dashboard query (' + str(days[-1]) + ' days)':40}{'p50 ms':>10}{'p95 ms':>10}"]
    for name, q in result["queries"].items():
        lines.append(f"{name:40}{q['p50_ms']:>10.2f}{q['p95_ms']:>10.2f}")
    lines.append(f"goal p95 < 50 ms: {'ok' if result['queries_p95_ok'] else 'OVER GOAL'}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m benchmarks.marts [devices]
    from core.db import database_url

    fleet = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(format_table(run_benchmark(database_url(), progress=print, devices=fleet)))
