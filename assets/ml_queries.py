"""All SQL of the forecasting and anomaly assets: loaders (dbt staging, where the "latest load
wins" rule is applied once) and writers of the ml.* tables, including the model registry and its
rollback.

Reading champion forecasts (what the allocation plan does)::

    select series, target_at, yhat, yhat_lower, yhat_upper
    from ml.champion_forecasts
    where series = %(series)s and target_at >= %(from)s and target_at < %(to)s
    order by target_at

``ml.champion_forecasts`` holds, per series, the latest issue of the current champion version.
Series names: ``price:<market>:<node>`` (USD/MWh at the market's interval), ``hashprice`` (USD per
TH/s per day), ``demand:<gpu_pool>`` (GPU-hours per hour).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from kernels.forecasting.backtest import Selection, next_champion

# --- loaders -------------------------------------------------------------------------------------


def _frame(conn: psycopg.Connection, sql: str, params: Any = None) -> pd.DataFrame:
    cur = conn.execute(sql, params)
    columns = [c.name for c in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=columns)


def load_prices(conn: psycopg.Connection, since: datetime | None = None) -> pd.DataFrame:
    """Real-time prices (day-ahead where a node has no real-time price): market, node_name,
    price_kind, interval_start_utc, interval_minutes, price_usd_per_mwh (float)."""
    return _frame(
        conn,
        """
        with latest as (
            select market, price_node_name as node_name, price_kind, interval_start_at as interval_start_utc,
                interval_minutes, price_usd_per_mwh::float8 as price_usd_per_mwh
            from staging.stg_raw__energy_prices
            where %(since)s::timestamptz is null or interval_start_at >= %(since)s
        ),
        kinds as (
            select market, node_name, min(price_kind) filter (where price_kind = 'rt') as rt
            from latest group by market, node_name
        )
        select l.* from latest l join kinds k using (market, node_name)
        where l.price_kind = coalesce(k.rt, 'da')
        order by l.market, l.node_name, l.interval_start_utc
        """,
        {"since": since},
    )


def load_btc(conn: psycopg.Connection) -> pd.DataFrame:
    """Bitcoin economics, one row per observation time (latest load)."""
    return _frame(
        conn,
        """
        select observed_at, btc_price_usd::float8 as btc_price_usd, network_difficulty::float8 as difficulty,
            network_hashrate_ths::float8 as hashrate_ths, block_subsidy_btc::float8 as block_subsidy_btc,
            fees_btc_per_block::float8 as fees_btc_per_block
        from staging.stg_raw__btc_economics order by observed_at
        """,
    )


def load_workload_events(conn: psycopg.Connection) -> pd.DataFrame:
    """Workload lifecycle events (latest load per event_id)."""
    return _frame(
        conn,
        """
        select event_id, workload_id, customer_id, event_type, event_at, gpu_pool, gpus_requested, device_ids
        from staging.stg_raw__workload_events order by event_id
        """,
    )


def facility_nodes(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    """(market, price node) of every facility -> the facility's time zone: the nodes whose prices
    the allocation plan needs, and the local calendar their prices follow."""
    rows = conn.execute(
        """select distinct on (market, price_node_name) market, price_node_name, timezone
           from staging.stg_raw__facilities order by market, price_node_name, timezone"""
    ).fetchall()
    return {(row[0], row[1]): row[2] for row in rows}


def customer_timezones(conn: psycopg.Connection) -> dict[str, str]:
    """customer_id -> the customer's time zone (latest load)."""
    rows = conn.execute("select customer_id, timezone from staging.stg_raw__customers").fetchall()
    return {row[0]: row[1] for row in rows}


def market_countries(conn: psycopg.Connection) -> dict[str, str]:
    """Country code (for holidays) per market; every market the platform reads today is in the US."""
    rows = conn.execute("select distinct market from staging.stg_raw__price_nodes").fetchall()
    return {row[0]: "US" for row in rows}


def telemetry_range(conn: psycopg.Connection) -> tuple[datetime | None, datetime | None]:
    """The first and last sample time of the deduplicated telemetry."""
    return conn.execute(
        "select min(measured_at), max(measured_at) from staging.stg_raw__device_telemetry"
    ).fetchone()


def devices_by_facility(conn: psycopg.Connection) -> dict[str, int]:
    """Devices of the fleet per facility (dbt staging)."""
    rows = conn.execute("select facility_id, count(*) from staging.stg_raw__devices group by 1 order by 1")
    return {facility: count for facility, count in rows.fetchall()}


def telemetry_interval(conn: psycopg.Connection, latest: datetime) -> timedelta:
    """The sampling interval: the median spacing of one device's rows in the two hours to ``latest``
    (five minutes when it cannot tell)."""
    step = conn.execute(
        """
        with one as (
            select device_id from staging.stg_raw__device_telemetry where measured_at = %(latest)s limit 1
        )
        select percentile_disc(0.5) within group (order by step) from (
            select measured_at - lag(measured_at) over (order by measured_at) as step
            from staging.stg_raw__device_telemetry
            where measured_at > %(latest)s - interval '2 hours' and device_id = (select device_id from one)
        ) s
        where step > interval '0'
        """,
        {"latest": latest},
    ).fetchone()[0]
    return step or timedelta(minutes=5)


def load_telemetry(
    conn: psycopg.Connection,
    since: datetime | None = None,
    until: datetime | None = None,
    stride: int = 1,
    interval: timedelta = timedelta(minutes=5),
    facilities: list[str] | None = None,
) -> pd.DataFrame:
    """Telemetry joined to devices: device_id, facility_id, kind, model, ts, power_kw, hashrate_ths,
    gpu_util_pct, temperature_c (dbt staging: the latest load per device and time). With ``stride``
    above 1 only every stride-th ``interval`` of time is read, for all devices (a sample of a big
    fleet's day that keeps each moment's whole facility, which the residuals compare against).
    ``facilities``: only their devices (None: all)."""
    return _frame(
        conn,
        """
        select t.device_id, d.facility_id, d.device_kind as kind, d.hardware_model as model,
            t.measured_at as ts, t.power_kw::float8 as power_kw, t.hashrate_ths::float8 as hashrate_ths,
            t.gpu_util_pct, t.temperature_c
        from staging.stg_raw__device_telemetry t join staging.stg_raw__devices d using (device_id)
        where (%(since)s::timestamptz is null or t.measured_at >= %(since)s)
          and (%(until)s::timestamptz is null or t.measured_at < %(until)s)
          and (%(stride)s = 1 or floor(extract(epoch from t.measured_at) / %(step)s)::bigint %% %(stride)s = 0)
          and (%(facilities)s::text[] is null or d.facility_id = any(%(facilities)s::text[]))
        order by t.device_id, t.measured_at
        """,
        {
            "since": since,
            "until": until,
            "stride": stride,
            "step": interval.total_seconds(),
            "facilities": facilities,
        },  # fmt: skip
    )


def facility_hourly_series(conn: psycopg.Connection, history: timedelta, columns: list[str]) -> pd.DataFrame:
    """facility_id, hour_start_at and ``columns`` (float) of marts.fct_facility_hourly over the last
    ``history`` before its newest hour."""
    picked = ", ".join(f"{c}::float8 as {c}" for c in columns)
    return _frame(
        conn,
        f"""
        select facility_id, hour_start_at, {picked}
        from marts.fct_facility_hourly
        where hour_start_at > (select max(hour_start_at) from marts.fct_facility_hourly) - %(history)s
        order by facility_id, hour_start_at
        """,
        {"history": history},
    )


def save_detector(
    conn: psycopg.Connection,
    blob: bytes,
    fitted_from: datetime,
    fitted_until: datetime,
    rows: int,
    devices: int,
) -> None:
    """Store a fitted fleet detector (pickled) and keep only the newest three."""
    with conn.transaction():
        conn.execute(
            """insert into ml.anomaly_detectors (fitted_from, fitted_until, fit_rows, devices, detector)
               values (%s, %s, %s, %s, %s)""",
            (fitted_from, fitted_until, rows, devices, blob),
        )
        conn.execute(
            """delete from ml.anomaly_detectors where detector_id not in (
                   select detector_id from ml.anomaly_detectors order by fitted_until desc, detector_id desc
                   limit 3)"""
        )


def latest_detector(conn: psycopg.Connection) -> tuple[datetime, bytes] | None:
    """(fitted_until, pickled detector) of the newest stored fleet detector, or None."""
    return conn.execute(
        "select fitted_until, detector from ml.anomaly_detectors order by fitted_until desc, detector_id desc limit 1"
    ).fetchone()


# --- registry ------------------------------------------------------------------------------------


def champion(conn: psycopg.Connection, series: str) -> dict | None:
    """The series' champion row of ml.models as a dict, or None."""
    cur = conn.execute(
        "select version, name, kind, parameters, metrics from ml.models where series = %s and status = 'champion'",
        (series,),
    )
    row = cur.fetchone()
    return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None


def _clean(metrics: dict) -> dict:
    return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in metrics.items()}


def record_selection(
    conn: psycopg.Connection, series: str, selection: Selection, train_start: datetime, train_end: datetime
) -> dict:
    """Register the backtest's winner as a new model version and write every candidate's metrics.

    The new version becomes champion when the series has none, when it is a refit of the champion's
    configuration, or when it beats the champion's configuration on this backtest (A/B,
    ``wins_ab`` through ``next_champion``); otherwise it is kept as a challenger. Returns ``{"version", "name", "status"}``.
    """
    best = selection.result(selection.champion)
    with conn.transaction():
        current = champion(conn, series)
        version = conn.execute(
            "select coalesce(max(version), 0) + 1 from ml.models where series = %s", (series,)
        ).fetchone()[0]
        # the same rule as the walk-forward evaluation (``hcp eval forecast --walk-forward``)
        keep = next_champion(selection.results, current and current["name"], best.candidate.name)
        promote = keep == best.candidate.name
        if promote and current is not None:
            conn.execute(
                "update ml.models set status = 'retired' where series = %s and status = 'champion'", (series,)
            )
        conn.execute(
            """insert into ml.models (series, version, name, kind, parameters, train_start, train_end,
                   metrics, status) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                series,
                version,
                best.candidate.name,
                best.candidate.kind,
                json.dumps(best.candidate.params),
                train_start,
                train_end,
                json.dumps(_clean(best.metrics)),
                "champion" if promote else "challenger",
            ),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """insert into ml.forecast_metrics (series, model_name, model_version, horizon_steps, folds,
                       mape, smape, mae, mase, seconds, is_champion)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [
                    (
                        series,
                        r.candidate.name,
                        version if r is best else None,
                        selection.horizon,
                        selection.folds,
                        *(_clean(r.metrics).get(m) for m in ("mape", "smape", "mae", "mase")),
                        r.seconds,
                        r is best and promote,
                    )
                    for r in selection.results
                ],
            )
    return {
        "version": version,
        "name": best.candidate.name,
        "status": "champion" if promote else "challenger",
    }


class RollbackError(ValueError):
    """The requested rollback is impossible (unknown series or version)."""


def rollback(conn: psycopg.Connection, series: str, version: int, actor: str) -> dict:
    """Make ``version`` the champion of ``series`` again (the current one is retired) and record it
    in ops.audit_log. Returns ``{"before": old champion version or None, "after": version}``."""
    with conn.transaction():
        target = conn.execute(
            "select status from ml.models where series = %s and version = %s for update", (series, version)
        ).fetchone()
        if target is None:
            known = [r[0] for r in conn.execute("select version from ml.models where series = %s", (series,))]
            if not known:
                raise RollbackError(f"no models registered for series {series!r}")
            raise RollbackError(f"series {series!r} has no version {version}; versions: {known}")
        current = champion(conn, series)
        before = current["version"] if current else None
        conn.execute(
            "update ml.models set status = 'retired' where series = %s and status = 'champion'", (series,)
        )
        conn.execute(
            "update ml.models set status = 'champion' where series = %s and version = %s", (series, version)
        )
        conn.execute(
            "insert into ops.audit_log (actor, action, entity, before, after) values (%s, %s, %s, %s, %s)",
            (
                actor,
                "ml.rollback",
                f"ml.models:{series}",
                json.dumps({"champion_version": before}),
                json.dumps({"champion_version": version}),
            ),
        )
    return {"series": series, "before": before, "after": version}


def list_models(conn: psycopg.Connection, series: str | None = None) -> pd.DataFrame:
    """Registry rows (series, version, name, status, metrics, train window, created_at)."""
    return _frame(
        conn,
        """select series, version, name, status, metrics, train_start, train_end, created_at
           from ml.models where %(s)s::text is null or series = %(s)s order by series, version""",
        {"s": series},
    )


# --- writers -------------------------------------------------------------------------------------


def write_forecast(
    conn: psycopg.Connection,
    series: str,
    version: int,
    name: str,
    issued_at: datetime,
    forecast: pd.DataFrame,
) -> int:
    """Insert one issue of a forecast (index: target time, naive UTC); returns rows written."""
    rows = [
        (series, version, name, issued_at, ts.tz_localize("UTC") if ts.tzinfo is None else ts, *vals)
        for ts, vals in zip(
            forecast.index,
            forecast[["yhat", "yhat_lower", "yhat_upper"]].astype(float).to_numpy(),
            strict=True,
        )
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """insert into ml.forecasts (series, model_version, model_name, issued_at, target_at, yhat,
                   yhat_lower, yhat_upper) values (%s, %s, %s, %s, %s, %s, %s, %s)
               on conflict do nothing""",
            [(*r[:5], float(r[5]), float(r[6]), float(r[7])) for r in rows],
        )
    return len(rows)


def write_anomalies(conn: psycopg.Connection, events: pd.DataFrame) -> int:
    """Write alert events (columns of ``kernels.anomalies.detect.alert_events``); returns rows written.

    An event that overlaps one already written of the same device and detector is the same
    incident seen again (a run re-reads a lead-in before its new rows): it extends that event, and
    the higher score's severity and explanation win. Any other event is inserted."""
    if events.empty:
        return 0
    cols = [
        "device_id",
        "device_model",
        "start_at",
        "end_at",
        "metric",
        "score",
        "severity",
        "detector",
        "explanation",
    ]
    records = [
        (i,)
        + tuple(
            (v.tz_localize("UTC") if isinstance(v, pd.Timestamp) and v.tzinfo is None else v)
            if not isinstance(v, np.floating)
            else float(v)
            for v in row
        )
        for i, row in enumerate(events[cols].itertuples(index=False))
    ]
    columns = ", ".join(cols)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "create temporary table new_anomalies on commit drop as "
            f"select 0 as n, {columns} from ml.anomalies with no data"
        )
        with cur.copy(f"copy new_anomalies (n, {columns}) from stdin") as copy:
            for record in records:
                copy.write_row(record)
        cur.execute(
            f"""
            with seen_again as (
                update ml.anomalies a
                set end_at = greatest(a.end_at, n.end_at),
                    severity = case when n.score > a.score then n.severity else a.severity end,
                    explanation = case when n.score > a.score then n.explanation else a.explanation end,
                    score = greatest(a.score, n.score)
                from new_anomalies n
                where a.device_id = n.device_id and a.detector = n.detector
                  and a.start_at <= n.start_at and n.start_at <= a.end_at
                returning n.n
            )
            insert into ml.anomalies ({columns})
            select {columns} from new_anomalies where n not in (select n from seen_again)
            on conflict (device_id, start_at, detector) do update set end_at = excluded.end_at,
                score = excluded.score, severity = excluded.severity, explanation = excluded.explanation
            """
        )
    return len(records)


def write_anomaly_metrics(conn: psycopg.Connection, scope: str, fault_types: list[str], scores: dict) -> None:
    """One row of ml.anomaly_metrics from ``kernels.anomalies.scoring.event_scores`` output."""
    conn.execute(
        """insert into ml.anomaly_metrics (scope, fault_types, gap_minutes, faults, faults_found,
               alert_events, false_positives, precision, recall, f1, point_f1)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            scope,
            fault_types,
            int(scores["gap_minutes"]),
            scores["faults"],
            scores["faults_found"],
            scores["alert_events"],
            scores["false_positives"],
            scores["precision"],
            scores["recall"],
            scores["f1"],
            scores.get("point_f1"),
        ),
    )
