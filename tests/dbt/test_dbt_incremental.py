"""An incremental run after late-arriving data gives the same marts as a full refresh.

Late data inside the lookback window (revised GPU telemetry, a late 'completed' event closing a
session that was cut at the watermark) plus one new hour of telemetry, meters and prices are
appended as a new load; `dbt run` (incremental) and `dbt run --full-refresh` must then agree.
"""

from __future__ import annotations

import math

import psycopg
import pytest

from core.dbt import run_dbt

# incremental runs against full refreshes: handed out first (tests/conftest.py)
pytestmark = pytest.mark.slow(seconds=90)

MARTS = (
    "fct_device_hourly",
    "fct_facility_hourly",
    "fct_unit_economics_daily",
    "fct_usage",
    "fct_exec_kpis_daily",
)

LATE_DATA_SQL = """
select raw.create_day_partitions('raw.device_telemetry',
    array[(select (max(ts) + interval '1 hour') at time zone 'UTC' from raw.device_telemetry)::date]);

with newest as (select max(ts) as ts from raw.device_telemetry)
insert into raw.device_telemetry (device_id, ts, power_kw, hashrate_ths, gpu_util_pct, temperature_c, load_id)
select t.device_id, t.ts, t.power_kw * 1.05, t.hashrate_ths, least(t.gpu_util_pct + 7, 100), t.temperature_c, %(load_id)s
from raw.device_telemetry as t, newest
where t.gpu_util_pct is not null and t.ts > newest.ts - interval '3 hours' and t.ts <= newest.ts - interval '2 hours'
union all
select t.device_id, t.ts + interval '1 hour', t.power_kw, t.hashrate_ths, t.gpu_util_pct, t.temperature_c, %(load_id)s
from raw.device_telemetry as t, newest
where t.ts > newest.ts - interval '1 hour';

with newest as (select max(ts) as newest_ts from raw.site_meter)
insert into raw.site_meter (facility_id, ts, power_kw, load_id)
select facility_id, ts + interval '1 hour', power_kw, %(load_id)s
from raw.site_meter, newest where ts > newest_ts - interval '1 hour';

with newest as (select max(interval_start_utc) as newest_ts from raw.energy_prices)
insert into raw.energy_prices (market, node_name, price_kind, interval_start_utc, interval_minutes,
                               interval_start_local, price_usd_per_mwh, load_id)
select market, node_name, price_kind, interval_start_utc + interval '1 hour', interval_minutes,
       interval_start_local + interval '1 hour', price_usd_per_mwh + 3, %(load_id)s
from raw.energy_prices, newest
where interval_start_utc > newest_ts - interval '1 hour';
"""


def _append_late_data(url: str) -> None:
    with psycopg.connect(url) as conn:
        load_id = conn.execute(
            "insert into raw.load_log (kind, source_file, status) values ('test', 'late-data', 'succeeded') "
            "returning load_id"
        ).fetchone()[0]
        for statement in LATE_DATA_SQL.split(";")[:-1]:
            conn.execute(statement, {"load_id": load_id})
        open_session = conn.execute(
            """select workload_id, customer_id, ended_at from intermediate.int_workload_sessions_built
               where is_open order by workload_id limit 1"""
        ).fetchone()
        if open_session:  # a late 'completed' event closes it 30 minutes after the old watermark
            workload_id, customer_id, ended_at = open_session
            conn.execute(
                """insert into raw.workload_events (event_id, workload_id, customer_id, event_type, event_at, load_id)
                   values (%s, %s, %s, 'completed', %s + interval '30 minutes', %s)""",
                (f"{workload_id}-late-completed", workload_id, customer_id, ended_at, load_id),
            )


def _snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    snapshot = {}
    for table in MARTS:
        rows = conn.execute(f"select * from marts.{table}").fetchall()
        normalized = [
            tuple(round(v, 9) if isinstance(v, float) and math.isfinite(v) else v for v in row)
            for row in rows
        ]
        snapshot[table] = sorted(normalized, key=repr)
    return snapshot


def test_incremental_after_late_data_equals_full_refresh(marts_fleet, conn):
    url, target = marts_fleet["url"], marts_fleet["target"]
    before = conn.execute("select count(*), max(hour_start_at) from marts.fct_device_hourly").fetchone()
    _append_late_data(url)

    run_dbt(url, "run", target_path=target)
    incremental = _snapshot(conn)
    after = conn.execute("select count(*), max(hour_start_at) from marts.fct_device_hourly").fetchone()
    assert after[0] > before[0] and after[1] > before[1]  # the new hour arrived

    run_dbt(url, "run", "--full-refresh", target_path=target)
    full = _snapshot(conn)
    for table in MARTS:
        assert incremental[table] == full[table], table


# Real-time prices revised (or first landed) for hours older than the lookback: a day's RT file that
# lands after the day's telemetry was built with its day-ahead prices.
LATE_PRICES_SQL = """
with newest as (select max(interval_start_utc) as newest_ts from raw.energy_prices where price_kind = 'rt')
insert into raw.energy_prices (market, node_name, price_kind, interval_start_utc, interval_minutes,
                               interval_start_local, price_usd_per_mwh, load_id)
select market, node_name, price_kind, interval_start_utc, interval_minutes, interval_start_local,
       price_usd_per_mwh * 2 + 11, %(load_id)s
from raw.energy_prices, newest
where price_kind = 'rt' and interval_start_utc >= newest_ts - interval '20 hours'
  and interval_start_utc < newest_ts - interval '12 hours'
"""


@pytest.mark.parametrize("first", ["incremental", "full"])
def test_incremental_after_late_prices_older_than_the_lookback_equals_full_refresh(marts_fleet, conn, first):
    """The models know which price loads they read, whether their last build was incremental or a full
    one (a new platform's first build, or ``--full-refresh``: the soak once served marts priced before
    the day's prices landed, because only an incremental run recorded what it had read)."""
    url, target = marts_fleet["url"], marts_fleet["target"]
    if first == "full":
        # a platform whose models were only ever built in full
        conn.execute("delete from ops.dbt_source_watermarks")
        run_dbt(url, "run", "--full-refresh", target_path=target)
    else:
        run_dbt(url, "run", target_path=target)
    with psycopg.connect(url) as load:
        load_id = load.execute(
            "insert into raw.load_log (kind, source_file, status, finished_at)"
            " values ('energy_prices', 'late-rt-prices', 'succeeded', now()) returning load_id"
        ).fetchone()[0]
        assert load.execute(LATE_PRICES_SQL, {"load_id": load_id}).rowcount > 0
    run_dbt(url, "run", target_path=target)
    incremental = _snapshot(conn)
    run_dbt(url, "run", "--full-refresh", target_path=target)
    full = _snapshot(conn)
    for table in MARTS:
        assert incremental[table] == full[table], table
