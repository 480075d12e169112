"""Device status, utilization and workload events come from marts built by dbt, not from the app's SQL."""

from __future__ import annotations

import math

import psycopg


def test_device_status_and_utilization_are_mart_columns(fleet_url):
    from apps.streamlit.lib import queries

    with psycopg.connect(fleet_url) as conn:
        mart = dict(
            conn.execute("select device_id, device_status from marts.fct_device_status_current").fetchall()
        )
        devices = conn.execute("select count(*) from marts.dim_devices").fetchone()[0]
        hourly = conn.execute(
            """select h.device_kind, h.sample_count, h.uptime_pct, h.avg_gpu_util_pct, h.avg_hashrate_ths,
                      d.nominal_hashrate_ths, h.utilization_pct, h.device_status
               from marts.fct_device_hourly h join marts.dim_devices d using (device_id)"""
        ).fetchall()
    assert len(mart) == devices and set(mart.values()) <= {"running", "idle", "offline"}
    assert "running" in mart.values()
    kinds = set()
    for kind, samples, uptime, gpu_util, hashrate, nominal, utilization, status in hourly:
        expected = (
            gpu_util
            if gpu_util is not None
            else (float(hashrate) / float(nominal) * 100 if hashrate is not None else None)
        )
        if expected is None:
            assert utilization is None
        else:
            # the mart rounds avg_hashrate_ths to 4 decimals; utilization is computed before that rounding
            assert math.isclose(utilization, expected, rel_tol=1e-6, abs_tol=1e-3), (
                kind,
                utilization,
                expected,
            )
            kinds.add(kind)
        assert status == ("offline" if samples == 0 else "running" if uptime >= 50 else "idle")
    assert kinds == {"asic", "gpu"}

    page = queries.devices(limit=10_000)
    assert len(page) == devices
    assert dict(zip(page["device_id"], page["status"], strict=True)) == mart
    running = queries.devices(status="running", limit=10_000)
    assert set(running["device_id"]) == {d for d, s in mart.items() if s == "running"}


def test_workload_lifecycle_reads_real_events(fleet_url):
    from apps.streamlit.lib import queries

    with psycopg.connect(fleet_url) as conn:
        workload, expected = conn.execute(
            """select workload_id, count(*) from marts.fct_workload_events
               where workload_id in (select workload_id from marts.fct_usage)
               group by 1 order by 2 desc, 1 limit 1"""
        ).fetchone()
        raw_types = {r[0] for r in conn.execute("select distinct event_type from raw.workload_events")}
    events = queries.workload_events(workload)
    assert len(events) == expected > 1
    assert events["event_at"].is_monotonic_increasing
    assert set(events["event_type"]) <= raw_types and "started" in set(events["event_type"])
