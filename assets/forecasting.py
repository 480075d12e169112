"""Forecasting assets: weekly backtest + champion selection into ml.models / ml.forecast_metrics,
and hourly scoring of every series' champion into ml.forecasts.

Series: energy price per price node (next 48 h at the market's interval), hashprice (next 7 days),
inference demand per GPU pool in GPU-hours per hour (next 48 h). How the allocation plan reads the
champion forecasts: see ``assets.ml_queries`` (``ml.champion_forecasts``).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from assets import ml_queries as q
from assets.automation import schedule_status
from assets.groups import FORECASTING
from assets.resources import PostgresResource
from core import db
from kernels.forecasting import (
    Candidate,
    ForecastSeries,
    SeriesError,
    default_candidates,
    forecast_or_baseline,
    regularize,
    select,
)
from kernels.forecasting.backtest import SELECTION_FOLDS
from kernels.forecasting.models import season_length
from kernels.forecasting.sources import hashprice, pool_demand

# the dbt staging models the loaders read (raw with the same dedup rule until dbt has built them)
PRICES = dg.AssetKey(["staging", "stg_raw__energy_prices"])
BTC = dg.AssetKey(["staging", "stg_raw__btc_economics"])
EVENTS = dg.AssetKey(["staging", "stg_raw__workload_events"])
FACILITIES = dg.AssetKey(["staging", "stg_raw__facilities"])
# Everything ``series_frames`` reads: declared, so that the automation holds the forecasts back
# while one was never built (an undeclared one failed the soak: relation ... does not exist).
SERIES_INPUTS = [
    PRICES, BTC, EVENTS, FACILITIES,
    dg.AssetKey(["staging", "stg_raw__customers"]), dg.AssetKey(["staging", "stg_raw__price_nodes"]),
]  # fmt: skip
HISTORY = timedelta(days=60)  # training window: enough for weekly seasonality, recent enough to adapt


def series_frames(url: str) -> dict[str, ForecastSeries]:
    """Every forecast series from the database, by name (see ``build_series``)."""
    since = datetime.now(UTC) - HISTORY
    with db.connect(url) as conn:
        prices = q.load_prices(conn)
        countries = q.market_countries(conn)
        nodes = q.facility_nodes(conn)
        btc = q.load_btc(conn)
        events = q.load_workload_events(conn)
        customer_tz = q.customer_timezones(conn)
    if not prices.empty and len(prices) > 2000:
        prices = prices[prices["interval_start_utc"] >= since]
    return build_series(prices, nodes, btc, events, countries, customer_tz)


def series_from_landing(folder: Path) -> dict[str, ForecastSeries]:
    """The same series read straight from a landing folder's files (real-time prices, Bitcoin
    economics, workload events, facilities), without a database: for benchmarks and evaluation."""
    from ingestion.formats.ercot import read_ercot_rt
    from ingestion.formats.jsonlines import read_events
    from ingestion.formats.pjm import read_pjm_lmp
    from ingestion.formats.records import read_bitcoin, read_customers, read_facilities

    def frames(reader, pattern: str) -> pd.DataFrame:
        parts = [reader(p).frame for p in sorted(folder.glob(pattern))]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    prices = pd.concat(
        [frames(read_ercot_rt, "prices/ercot_rt/*.csv"), frames(read_pjm_lmp, "prices/pjm/*.csv")]
    )
    prices = prices.drop_duplicates(["market", "node_name", "interval_start_utc"], keep="last")
    prices["price_usd_per_mwh"] = prices["price_usd_per_mwh"].astype(float)
    facilities = frames(read_facilities, "reference/facilities.csv")
    nodes = (
        {(m, n): tz for m, n, tz in facilities[["market", "price_node", "timezone"]].itertuples(index=False)}
        if not facilities.empty
        else {}
    )
    customers = frames(read_customers, "reference/customers.csv")
    customer_tz = (
        dict(zip(customers["customer_id"], customers["timezone"], strict=True)) if not customers.empty else {}
    )
    btc = frames(read_bitcoin, "bitcoin/*.csv")
    events = frames(read_events, "workloads/*.jsonl").drop_duplicates("event_id", keep="last")
    countries = dict.fromkeys(prices["market"].unique(), "US")
    return build_series(prices, nodes, btc, events, countries, customer_tz)


def build_series(
    prices: pd.DataFrame,
    nodes: dict[tuple[str, str], str],
    btc: pd.DataFrame,
    events: pd.DataFrame,
    countries: dict[str, str],
    customer_tz: dict[str, str] | None = None,
) -> dict[str, ForecastSeries]:
    """name -> series: energy price at each facility's node (48 h, the facility's calendar),
    hashprice (7 days), GPU-hours of demand per pool (48 h, the calendar of the customers who bring
    most of it). ``nodes`` maps (market, node) to the facility's time zone."""
    out: dict[str, ForecastSeries] = {}
    if not prices.empty:
        prices = prices.copy()
        prices["ts"] = pd.to_datetime(prices["interval_start_utc"], utc=True).dt.tz_localize(None)
        for (market, node), part in prices.groupby(["market", "node_name"]):
            if nodes and (market, node) not in nodes:
                continue  # only the nodes facilities buy at feed the allocation plan
            minutes = int(part["interval_minutes"].mode().iloc[0])
            y = part.set_index("ts")["price_usd_per_mwh"]
            horizon = 48 * 60 // minutes
            out[f"price:{market}:{node}"] = ForecastSeries(
                y, horizon, countries.get(market, "US"), nodes.get((market, node))
            )
    if not btc.empty:
        out["hashprice"] = ForecastSeries(hashprice(btc), 7, None)  # daily data: 7 steps = 7 days
    demand, pool_tz = pool_demand(events, customer_tz or {})
    for pool in demand.columns:
        out[f"demand:{pool}"] = ForecastSeries(demand[pool], 48, "US", pool_tz.get(pool))
    return out


def backtest_plan(n_points: int, season: int, horizon: int, folds: int = 3) -> tuple[int, int]:
    """(horizon, folds) of the rolling-origin backtest that fit ``n_points`` observations: two
    seasons of training before the first origin; up to ``SELECTION_FOLDS`` folds of the whole
    horizon when more than ``folds`` of them fit (the walk-forward's configuration), else ``folds``
    with the forecast horizon cut to what is left."""
    room = n_points - 2 * season
    whole = room // horizon if room > 0 else 0
    if whole > folds:
        return horizon, min(SELECTION_FOLDS, whole)
    h = min(horizon, room // folds) if room > 0 else 0
    while folds > 1 and h < max(1, season // 4):
        folds -= 1
        h = min(horizon, room // folds) if room > 0 else 0
    if h < 1:
        raise SeriesError(f"too few points: {n_points}, need more than two seasons of {season}")
    return h, folds


def _regular(y: pd.Series) -> tuple[pd.Series, pd.Timedelta]:
    frame = pd.DataFrame({"ds": y.index.astype(str), "y": y.to_numpy()})
    return regularize(frame, "ds", "y")


@dg.asset(
    key=["ml", "forecast_models"],
    group_name=FORECASTING,
    deps=SERIES_INPUTS,
    kinds={"python", "postgres"},
    description="Weekly: rolling-origin backtest per series, champion by MASE (A/B against the current one).",
)
def forecast_models(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    url = postgres.get_url()
    summary = {}
    for name, spec in series_frames(url).items():
        try:
            y, step = _regular(spec.values)
            h, folds = backtest_plan(len(y), season_length(step), spec.horizon)
            candidates = default_candidates(step, len(y), spec.country, spec.tz)
            selection = select(y, candidates, horizon=h, folds=folds)
        except SeriesError as err:
            context.log.warning(f"{name}: skipped ({err})")
            continue
        with db.connect(url) as conn:
            result = q.record_selection(conn, name, selection, y.index[0], y.index[-1])
        summary[name] = {**result, "mase": selection.result(selection.champion).metrics["mase"]}
        context.log.info(f"{name}: {result}")
    return dg.MaterializeResult(metadata={"series": dg.MetadataValue.json(summary)})


@dg.asset(
    key=["ml", "forecasts"],
    group_name=FORECASTING,
    deps=[forecast_models, *SERIES_INPUTS],
    kinds={"python", "postgres"},
    description="Hourly: each series' champion refitted on the latest data, forecast with intervals into ml.forecasts.",
)
def forecasts(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    url = postgres.get_url()
    issued_at = datetime.now(UTC).replace(microsecond=0)
    written, fallbacks = {}, {}
    for name, spec in series_frames(url).items():
        with db.connect(url) as conn:
            champ = q.champion(conn, name)
        if champ is None:
            context.log.warning(f"{name}: no champion yet (materialize ml/forecast_models)")
            continue
        try:
            y, step = _regular(spec.values)
        except SeriesError as err:
            context.log.warning(f"{name}: skipped ({err})")
            continue
        champion = Candidate(champ["name"], champ["kind"], champ["parameters"])
        pred, used, error = forecast_or_baseline(champion, y, spec.horizon, season_length(step))
        if error is not None:
            context.log.warning(
                f"{name}: the champion failed on the latest data, the baseline forecasts ({error})"
            )
            fallbacks[name] = error
        with db.connect(url) as conn:
            written[name] = q.write_forecast(conn, name, champ["version"], used, issued_at, pred)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.json(written),
            "baseline_stood_in": dg.MetadataValue.json(fallbacks),
        }
    )


retrain_job = dg.define_asset_job(
    "ml_forecast_retrain_weekly", selection=dg.AssetSelection.assets(forecast_models)
)
scoring_job = dg.define_asset_job("ml_forecast_scoring_hourly", selection=dg.AssetSelection.assets(forecasts))
defs = dg.Definitions(
    assets=[forecast_models, forecasts],
    jobs=[retrain_job, scoring_job],
    schedules=[
        # forecasts follow the marts (orchestration.automation); model selection is weekly
        dg.ScheduleDefinition(
            job=retrain_job,
            cron_schedule="0 3 * * 1",
            name="ml_forecast_retrain_weekly",
            default_status=schedule_status(),
        ),
    ],
)
