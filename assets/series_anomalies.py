"""Facility series anomalies: the causal univariate detector (``kernels.anomalies.streaming``, the
one judged on the real labelled series, docs/anomalies.md) on each facility's hourly site-meter
energy and measured PUE from the marts, into ml.anomalies beside the device alerts.

A facility alert has the facility id as its ``device_id`` and ``facility`` as its model. The
detector is causal, so re-scoring the recent history gives the same alerts at the same hours, and
writing them again changes nothing: each run scores the last ``history()`` (its threshold's memory)
and writes the alerts of the hours it has not written yet.
"""

from datetime import timedelta
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
import psycopg

from assets import ml_queries as q
from assets.groups import ANOMALIES
from assets.resources import PostgresResource
from core import db
from kernels import anomalies  # its exports load lazily: numba only in the runs that score

if TYPE_CHECKING:
    from kernels.anomalies import StreamConfig

FACILITY_HOURLY = dg.AssetKey(["marts", "fct_facility_hourly"])
DETECTOR = "stream(spike,level)"
FACILITY_MODEL = "facility"
# what each series is, for the operator reading the alert
METRICS = {
    "site_meter_mwh": ("site_power", "site meter {value:.3f} MWh in the hour"),
    "measured_pue": ("measured_pue", "measured PUE {value:.3f}"),
}


def history() -> timedelta:
    """How far back each run scores: the detector's threshold memory."""
    return timedelta(days=anomalies.StreamConfig().history_days)


def facility_events(series: pd.DataFrame, config: "StreamConfig | None" = None) -> pd.DataFrame:
    """ml.anomalies rows (columns of ``kernels.anomalies.detect.alert_events``) of hourly facility
    series (facility_id, hour_start_at and the ``METRICS`` columns)."""
    rows = []
    for facility_id, part in series.groupby("facility_id", sort=True):
        indexed = part.set_index(pd.to_datetime(part["hour_start_at"], utc=True))
        for column, (metric, what) in METRICS.items():
            alerts = anomalies.series_alerts(indexed[column].astype(float), config)
            for alert in alerts.itertuples(index=False):
                kind = "a lasting shift" if alert.trigger == "level" else "a new extreme"
                rows.append(
                    {
                        "device_id": facility_id,
                        "device_model": FACILITY_MODEL,
                        "start_at": alert.start_at,
                        "end_at": alert.end_at,
                        "metric": metric,
                        "score": alert.score,
                        "severity": "critical" if alert.score >= 3 else "warning",
                        "detector": DETECTOR,
                        "explanation": f"{what.format(value=alert.value)}: {kind}, "
                        f"{alert.score:.1f}x its alert threshold",
                    }
                )
    return pd.DataFrame(rows)


@dg.asset(
    key=["ml", "facility_anomalies"],
    group_name=ANOMALIES,
    deps=[FACILITY_HOURLY],
    kinds={"python", "postgres"},
    description="Facility alerts into ml.anomalies: the causal series detector on each facility's hourly "
    "site-meter energy and measured PUE (warm-up one day, thresholds from each series' own scores, "
    "one alert per incident).",
)
def facility_anomalies(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    url = postgres.get_url()
    try:
        with db.connect(url) as conn:
            series = q.facility_hourly_series(conn, history(), list(METRICS))
    except psycopg.errors.UndefinedTable:  # dbt has not built the facility mart yet: nothing to score
        series = pd.DataFrame()
    if series.empty:
        context.log.warning("no facility hours in the marts yet")
        return dg.MaterializeResult(metadata={"alert_events": 0, "series": 0})
    events = facility_events(series)
    with db.connect(url) as conn:
        written = q.write_anomalies(conn, events)
    return dg.MaterializeResult(
        metadata={
            "alert_events": written,
            "series": series["facility_id"].nunique() * len(METRICS),
            "hours": int(series["hour_start_at"].nunique()),
        }
    )


defs = dg.Definitions(assets=[facility_anomalies])
