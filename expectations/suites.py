"""The expectation suites, and the SQL frame each one validates.

Raw tables are append-only with versions: every frame keeps the latest load per natural key
(``load_id = max(load_id) over (partition by key)``), so a corrected file supersedes the old rows
while two rows for one key *within* a load still show as duplicates. Daily frames cover the
partition's day only. Set-based properties (gaps, coverage, transitions, known keys) are computed
in SQL into small frames, and every assertion is one of Great Expectations' own expectations.

The suites are the source of truth; ``expectations/gx/expectations/*.json`` is their export into
the repository's file context (``hcp quality docs`` rewrites it, a test keeps it in sync).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from expectations.context import gx_module

# Plausible price bands (USD/MWh) per market: ERCOT's system-wide offer cap and floor; PJM and
# CAISO settle inside their offer caps plus shortage adders and below their bid floors.
PRICE_BANDS: dict[str, tuple[float, float]] = {
    "ERCOT": (-251.0, 5000.0),
    "PJM": (-1000.0, 3700.0),
    "CAISO": (-1000.0, 2000.0),
}
DEFAULT_PRICE_BAND = (-1000.0, 10000.0)
MARKET_INTERVALS = [5, 15, 60]  # minutes a market settles on

POWER_NAMEPLATE_FACTOR = 1.2  # a device may draw up to 120% of its nameplate (overclock, PSU loss)
HASHRATE_NAMEPLATE_FACTOR = 1.3
TEMPERATURE_BOUNDS_C = (-40.0, 125.0)  # coldest site ambient .. silicon junction limit
COVERAGE_MIN = 0.8  # share of expected readings a device must report in an hour
COVERAGE_MOSTLY = 0.95  # share of device-hours that must meet it (a few devices are offline)
BTC_PRICE_DAY_CHANGE = (-0.5, 1.0)  # worst daily moves on record are about -40% / +30%
DIFFICULTY_DAY_CHANGE = (-0.3, 0.3)  # retargets are every ~2 weeks, largest ever about -28%
ENERGY_BALANCE_TOLERANCE = 0.1  # site meter vs device draw x PUE, relative

# Workload lifecycle: allowed (previous event, event) pairs; 'none' is the first event seen.
LIFECYCLE_TRANSITIONS = [
    "none->submitted",
    "submitted->started",
    "submitted->cancelled",
    "submitted->failed",
    *(f"{a}->{b}" for a in ("started", "resumed") for b in ("paused", "completed", "cancelled", "failed")),
    *(f"paused->{b}" for b in ("resumed", "cancelled", "failed")),
]


@dataclass(frozen=True)
class Frame:
    """One suite and the query producing the rows it validates.

    ``sql`` takes ``%(day)s`` (the partition day, ISO) for daily frames; ``index_columns`` name an
    offending row in the sample.
    """

    suite: str
    sql: str
    expectations: Callable[[], list[Any]]
    index_columns: tuple[str, ...]
    daily: bool = True


@dataclass(frozen=True)
class CheckSpec:
    """A Dagster asset check: the asset it sits on and the frames (suites) it validates."""

    name: str
    asset: tuple[str, ...]
    frames: tuple[Frame, ...]
    daily: bool = True
    description: str = ""
    mart: str | None = None  # asset name, for checks registered only when the asset exists
    blocking: bool = True  # False: a WARN check that never stops downstream assets


def _gxe():
    gx_module()
    import great_expectations.expectations as gxe

    return gxe


# --- prices ---------------------------------------------------------------------------------------

_PRICE_BANDS_SQL = ", ".join(f"('{m}', {lo}, {hi})" for m, (lo, hi) in PRICE_BANDS.items())

_PRICES_LATEST = """
    select p.*, max(p.load_id) over (
               partition by p.market, p.node_name, p.price_kind, p.interval_start_utc) as latest_load
    from raw.energy_prices p
    where p.interval_start_utc >= %(day)s::date - interval '1 day'
      and p.interval_start_utc < %(day)s::date + interval '2 days'
      and p.interval_start_local >= %(day)s::date
      and p.interval_start_local < %(day)s::date + 1
"""

PRICES_ROWS_SQL = f"""
with versions as ({_PRICES_LATEST})
select v.market, v.node_name, v.price_kind, v.interval_start_utc, v.interval_minutes,
       v.price_usd_per_mwh,
       coalesce(b.floor_usd, {DEFAULT_PRICE_BAND[0]}) as floor_usd_per_mwh,
       coalesce(b.cap_usd, {DEFAULT_PRICE_BAND[1]}) as cap_usd_per_mwh,
       mod(extract(epoch from v.interval_start_local)::bigint, v.interval_minutes * 60) as misaligned_s
from versions v
left join (values {_PRICE_BANDS_SQL}) as b (market, floor_usd, cap_usd) on b.market = v.market
where v.load_id = v.latest_load
"""

# Gaps only on a closed day (over in the market's time zone); the day's length follows DST.
PRICES_SERIES_SQL = f"""
with versions as ({_PRICES_LATEST}),
latest as (select * from versions where load_id = latest_load),
series as (
    select l.market, l.node_name, l.price_kind, min(l.interval_minutes) as interval_minutes,
           count(distinct l.interval_start_utc) as intervals,
           coalesce(max(n.timezone), 'UTC') as timezone
    from latest l
    left join raw.price_nodes n on n.market = l.market and n.node_name = l.node_name
    group by l.market, l.node_name, l.price_kind
)
select market, node_name, price_kind, interval_minutes, intervals,
       (extract(epoch from ((%(day)s::date + 1)::timestamp at time zone timezone)
                          - (%(day)s::date::timestamp at time zone timezone))
        / 60 / interval_minutes)::bigint as expected_intervals
from series
where now() >= (%(day)s::date + 1)::timestamp at time zone timezone
"""


def _price_rows() -> list[Any]:
    gxe = _gxe()
    key = ["market", "node_name", "price_kind", "interval_start_utc"]
    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=key),
        gxe.ExpectColumnValuesToNotBeNull(column="price_usd_per_mwh"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="cap_usd_per_mwh", column_B="price_usd_per_mwh", or_equal=True
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="price_usd_per_mwh", column_B="floor_usd_per_mwh", or_equal=True
        ),
        gxe.ExpectColumnValuesToBeInSet(column="interval_minutes", value_set=MARKET_INTERVALS),
        gxe.ExpectColumnValuesToBeInSet(column="misaligned_s", value_set=[0]),
    ]


def _price_series() -> list[Any]:
    gxe = _gxe()
    return [gxe.ExpectColumnPairValuesToBeEqual(column_A="intervals", column_B="expected_intervals")]


# --- telemetry ------------------------------------------------------------------------------------

_DEVICES_LATEST = """
    select distinct on (device_id) device_id, facility_id, kind, nominal_power_kw, nominal_hashrate_ths
    from raw.devices order by device_id, load_id desc
"""

# One set-based pass per day: the latest version of each reading, aggregated per device and hour
# (extremes, readings), joined to the registry and to every registered device x hour. GE then
# asserts on this frame (24k rows at 1,000 devices instead of 288k readings): a device-hour fails
# when its worst reading is out of bounds, and the sample names the device, the hour and the value.
#
# Versions in one pass: readings are first aggregated per device, hour *and load*. A device-hour
# fed by a single load (nearly all of them) is final; the few fed by several loads (a corrected
# file, late readings in the next day's file) are re-aggregated from the latest version of each
# reading. ``collate "C"`` keeps the groupings byte-wise: locale-aware text sorts cost 10x.
# Readings are counted, not distinct timestamps (a distinct count sorts the whole day): the loader
# skips re-sent identical rows, and coverage is capped at 1 per hour.
# The expected readings per hour are the fleet's most common count, so the check follows the
# polling interval instead of assuming one.
# Coverage is judged on the hours each device kind's feed has delivered (miners and GPUs arrive in
# separate files): up to its newest reading, the hour still filling left out. A day still arriving
# is not missing data; a silent device inside the delivered hours is. (A feed that stops altogether
# is the freshness check's to find.)
TELEMETRY_HOURLY_SQL = f"""
with per_load as materialized (
    select device_id collate "C" as device_id, date_bin('1 hour', ts, %(day)s::date) as hour, load_id,
           count(*) as readings, max(ts) as newest,
           min(power_kw) as min_power_kw, max(power_kw) as max_power_kw,
           min(temperature_c) as min_temperature_c, max(temperature_c) as max_temperature_c,
           min(hashrate_ths) as min_hashrate_ths, max(hashrate_ths) as max_hashrate_ths,
           min(gpu_util_pct) as min_gpu_util_pct, max(gpu_util_pct) as max_gpu_util_pct
    from raw.device_telemetry
    where ts >= %(day)s::date and ts < %(day)s::date + 1
    group by 1, 2, 3
),
loads as (select device_id, hour, count(*) as loads from per_load group by 1, 2),
hourly as (
    select p.device_id, p.hour, p.readings, p.newest, p.min_power_kw, p.max_power_kw, p.min_temperature_c,
           p.max_temperature_c, p.min_hashrate_ths, p.max_hashrate_ths, p.min_gpu_util_pct, p.max_gpu_util_pct
    from per_load p join loads l using (device_id, hour)
    where l.loads = 1
    union all
    select t.device_id collate "C", date_bin('1 hour', t.ts, %(day)s::date), count(*), max(t.ts),
           min(t.power_kw), max(t.power_kw), min(t.temperature_c), max(t.temperature_c),
           min(t.hashrate_ths), max(t.hashrate_ths), min(t.gpu_util_pct), max(t.gpu_util_pct)
    from raw.device_telemetry t
    join loads l on l.device_id = t.device_id and l.loads > 1
                and t.ts >= l.hour and t.ts < l.hour + interval '1 hour'
    where t.ts >= %(day)s::date and t.ts < %(day)s::date + 1
      and t.load_id = (select max(n.load_id) from raw.device_telemetry n
                       where n.ts = t.ts and n.device_id = t.device_id)
    group by 1, 2
),
expected as (select mode() within group (order by readings) as per_hour from hourly),
devices as ({_DEVICES_LATEST}),
delivered as (  -- per device kind, the end of the readings its feed has delivered this day
    select d.kind, max(r.newest) + interval '1 hour' / (select per_hour from expected) as until
    from hourly r join devices d on d.device_id = r.device_id
    group by 1
),
grid as (
    select d.device_id collate "C" as device_id, h.hour
    from devices d
    join delivered k on k.kind = d.kind
    cross join generate_series(%(day)s::date::timestamptz, %(day)s::date + interval '23 hours',
                               interval '1 hour') as h (hour)
    where h.hour + interval '1 hour' <= least(k.until, now())
)
select coalesce(g.device_id, r.device_id) as device_id, coalesce(g.hour, r.hour) as hour,
       coalesce(r.readings, 0) as readings, e.per_hour as expected_readings,
       case when g.hour is not null then least(coalesce(r.readings, 0)::float / e.per_hour, 1.0) end
           as coverage,
       case when d.device_id is not null then 1 end as device_registered,
       r.min_power_kw, r.max_power_kw,
       (d.nominal_power_kw * {POWER_NAMEPLATE_FACTOR})::real as power_max_kw,
       r.min_temperature_c, r.max_temperature_c,
       r.min_hashrate_ths, r.max_hashrate_ths,
       (d.nominal_hashrate_ths * {HASHRATE_NAMEPLATE_FACTOR})::real as hashrate_max_ths,
       r.min_gpu_util_pct, r.max_gpu_util_pct
from grid g
full join hourly r on r.device_id = g.device_id and r.hour = g.hour
cross join expected e
left join devices d on d.device_id = coalesce(g.device_id, r.device_id)
"""


def _telemetry_hourly() -> list[Any]:
    gxe = _gxe()
    lo, hi = TEMPERATURE_BOUNDS_C
    missing = "either_value_is_missing"
    return [
        # readings of devices missing from the registry (the grid holds registered devices only)
        gxe.ExpectColumnValuesToNotBeNull(column="device_registered"),
        gxe.ExpectColumnValuesToBeBetween(column="min_power_kw", min_value=0),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="power_max_kw", column_B="max_power_kw", or_equal=True, ignore_row_if=missing
        ),
        gxe.ExpectColumnValuesToBeBetween(column="min_temperature_c", min_value=lo),
        gxe.ExpectColumnValuesToBeBetween(column="max_temperature_c", max_value=hi),
        gxe.ExpectColumnValuesToBeBetween(column="min_hashrate_ths", min_value=0),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="hashrate_max_ths", column_B="max_hashrate_ths", or_equal=True, ignore_row_if=missing
        ),
        gxe.ExpectColumnValuesToBeBetween(column="min_gpu_util_pct", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="max_gpu_util_pct", max_value=100),
        # a few devices may be offline; most device-hours must report
        gxe.ExpectColumnValuesToBeBetween(
            column="coverage", min_value=COVERAGE_MIN, max_value=1.0, mostly=COVERAGE_MOSTLY
        ),
    ]


# --- bitcoin economics ----------------------------------------------------------------------------

BTC_DAILY_SQL = """
with versions as (
    select b.*, max(b.load_id) over (partition by b.observed_at) as latest_load
    from raw.btc_economics b
),
daily as (  -- the day's last observation, so hourly feeds compare like daily ones
    select distinct on (observed_at::date) observed_at::date as day, observed_at, btc_price_usd, difficulty
    from versions where load_id = latest_load
    order by observed_at::date, observed_at desc
)
select day, btc_price_usd, difficulty,
       btc_price_usd / nullif(lag(btc_price_usd) over w, 0) - 1 as price_change,
       difficulty / nullif(lag(difficulty) over w, 0) - 1 as difficulty_change,
       (select count(*) from versions v where v.load_id = v.latest_load
          and v.observed_at = daily.observed_at) as versions_at_time
from daily window w as (order by day)
"""


def _btc() -> list[Any]:
    gxe = _gxe()
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="btc_price_usd"),
        gxe.ExpectColumnValuesToNotBeNull(column="difficulty"),
        gxe.ExpectColumnValuesToBeBetween(column="btc_price_usd", min_value=0, strict_min=True),
        gxe.ExpectColumnValuesToBeBetween(column="difficulty", min_value=0, strict_min=True),
        gxe.ExpectColumnValuesToBeBetween(
            column="price_change", min_value=BTC_PRICE_DAY_CHANGE[0], max_value=BTC_PRICE_DAY_CHANGE[1]
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="difficulty_change", min_value=DIFFICULTY_DAY_CHANGE[0], max_value=DIFFICULTY_DAY_CHANGE[1]
        ),
        gxe.ExpectColumnValuesToBeInSet(column="versions_at_time", value_set=[1]),
    ]


# --- workload events ------------------------------------------------------------------------------

# Transitions need each workload's history before the day: take every event of the workloads seen
# on the day, order them (ties by lifecycle rank), and keep the day's rows with their predecessor.
WORKLOAD_EVENTS_SQL = """
with versions as (
    select e.*, max(e.load_id) over (partition by e.event_id) as latest_load
    from raw.workload_events e
),
latest as (select * from versions where load_id = latest_load),
today as (
    select distinct workload_id from latest
    where event_at >= %(day)s::date and event_at < %(day)s::date + 1
),
history as (
    select l.*, lag(l.event_type) over (
               partition by l.workload_id
               order by l.event_at, array_position(array['submitted', 'started', 'paused', 'resumed',
                        'completed', 'cancelled', 'failed'], l.event_type), l.event_id) as previous_type
    from latest l join today t using (workload_id)
    where l.event_at < %(day)s::date + 1
),
customers as (select distinct customer_id from raw.customers)
select h.event_id, h.workload_id, h.customer_id, h.event_type, h.event_at,
       coalesce(h.previous_type, 'none') || '->' || h.event_type as transition,
       c.customer_id as registered_customer_id
from history h
left join customers c on c.customer_id = h.customer_id
where h.event_at >= %(day)s::date
"""


def _workload_events() -> list[Any]:
    gxe = _gxe()
    return [
        gxe.ExpectColumnValuesToBeUnique(column="event_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="registered_customer_id"),
        gxe.ExpectColumnValuesToBeInSet(column="transition", value_set=LIFECYCLE_TRANSITIONS),
    ]


# --- marts ----------------------------------------------------------------------------------------
# Frames name their columns explicitly; expectations on a column the mart does not (yet) have are
# left out at run time, so the suites follow the dbt models as they evolve.

USAGE_COLUMNS = (
    "gpu_seconds",
    "billable_gpu_seconds",
    "measured_gpu_seconds",
    "device_count",
    "price_usd_per_gpu_hour",
    "amount_usd",
)
INVOICE_COLUMNS = ("subtotal_usd", "tax_usd", "total_usd")

USAGE_SQL = "select * from marts.fct_usage"
# Credit notes carry negative amounts by design; invoices proper never do.
INVOICES_SQL = "select * from billing.invoices where kind = 'invoice'"

# Site meter energy against device (IT) energy x configured PUE (``energy_mwh``), hour by hour.
ENERGY_BALANCE_SQL = """
select facility_id, hour_start_at, site_meter_mwh, it_energy_mwh, energy_mwh, measured_pue,
       site_meter_mwh / nullif(energy_mwh, 0) - 1 as balance_error
from marts.fct_facility_hourly
where site_meter_mwh is not null and it_energy_mwh > 0
"""


def _non_negative(columns: tuple[str, ...]) -> Callable[[], list[Any]]:
    def build() -> list[Any]:
        gxe = _gxe()
        return [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in columns]

    return build


def _energy_balance() -> list[Any]:
    gxe = _gxe()
    tol = ENERGY_BALANCE_TOLERANCE
    return [
        gxe.ExpectColumnValuesToBeBetween(column="balance_error", min_value=-tol, max_value=tol),
        # the meter sees everything the devices draw, plus cooling and losses
        gxe.ExpectColumnValuesToBeBetween(column="measured_pue", min_value=1.0 - tol),
    ]


# --- registry -------------------------------------------------------------------------------------

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "energy_prices_suite",
        ("raw", "energy_prices"),
        (
            Frame(
                "raw_energy_prices",
                PRICES_ROWS_SQL,
                _price_rows,
                ("market", "node_name", "interval_start_utc"),
            ),
            Frame(
                "raw_energy_prices_gaps",
                PRICES_SERIES_SQL,
                _price_series,
                ("market", "node_name", "price_kind"),
            ),
        ),
        description="Prices: unique, aligned intervals inside the market's band; no gaps on a closed day.",
    ),
    CheckSpec(
        "device_telemetry_suite",
        ("raw", "device_telemetry"),
        (Frame("raw_device_telemetry", TELEMETRY_HOURLY_SQL, _telemetry_hourly, ("device_id", "hour")),),
        description="Telemetry: known devices, power/hashrate within nameplate, physical temperatures, coverage.",
    ),
    CheckSpec(
        "btc_economics_suite",
        ("raw", "btc_economics"),
        (Frame("raw_btc_economics", BTC_DAILY_SQL, _btc, ("day",), daily=False),),
        daily=False,
        description="Bitcoin: positive price and difficulty, day-over-day changes within bounds.",
    ),
    CheckSpec(
        "workload_events_suite",
        ("raw", "workload_events"),
        (Frame("raw_workload_events", WORKLOAD_EVENTS_SQL, _workload_events, ("event_id", "workload_id")),),
        description="Workload events: valid lifecycle transitions, known customers, unique event ids.",
    ),
)

MART_CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "usage_non_negative",
        ("marts", "fct_usage"),
        (Frame("marts_fct_usage", USAGE_SQL, _non_negative(USAGE_COLUMNS), ("usage_id",), daily=False),),
        daily=False,
        description="Usage quantities and amounts are non-negative.",
        mart="fct_usage",
    ),
    CheckSpec(
        "invoice_totals_non_negative",
        ("billing", "invoices"),
        (
            Frame(
                "billing_invoices", INVOICES_SQL, _non_negative(INVOICE_COLUMNS), ("invoice_id",), daily=False
            ),
        ),
        daily=False,
        description="Invoice subtotals, taxes and totals are non-negative (credit notes excluded).",
        mart="invoices",
    ),
    CheckSpec(
        "energy_balance",
        ("marts", "fct_facility_hourly"),
        (
            Frame(
                "marts_energy_balance",
                ENERGY_BALANCE_SQL,
                _energy_balance,
                ("facility_id", "hour_start_at"),
                daily=False,
            ),
        ),
        daily=False,
        description="Site meter energy matches device energy x PUE within tolerance (WARN).",
        mart="fct_facility_hourly",
        blocking=False,
    ),
)


def all_frames() -> list[Frame]:
    """Every frame of every check, raw and marts."""
    return [frame for spec in CHECKS + MART_CHECKS for frame in spec.frames]


def build_suite(frame: Frame, columns: list[str] | None = None) -> Any:
    """The GE ``ExpectationSuite`` of ``frame``; with ``columns``, only expectations on those columns."""
    gx = gx_module()
    suite = gx.ExpectationSuite(name=frame.suite)
    for expectation in frame.expectations():
        if columns is None or set(_columns_of(expectation)) <= set(columns):
            suite.add_expectation(expectation)
    return suite


def _columns_of(expectation: Any) -> list[str]:
    config = expectation.configuration.kwargs
    names = [config.get("column"), config.get("column_A"), config.get("column_B")]
    return [n for n in names if n] + list(config.get("column_list") or [])
