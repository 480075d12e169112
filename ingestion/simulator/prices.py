"""Market prices (15-minute real time, hourly day-ahead, PJM five-minute) and daily Bitcoin economics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ingestion.simulator.clock import Clock
from ingestion.simulator.spec import (
    BLOCK_SUBSIDY_BTC,
    ERCOT_NODES,
    MARKET_TZ,
    PJM_NODES,
    PRICE_INTERVAL_MINUTES,
)
from kernels.hashprice import BLOCKS_PER_DAY, network_hashrate_ths

STEP = PRICE_INTERVAL_MINUTES * 60


@dataclass
class PriceSpike:
    market: str
    nodes: tuple[str, ...]
    start_epoch: int
    end_epoch: int
    peak_usd_per_mwh: float


@dataclass
class PriceBook:
    epochs: np.ndarray  # int64[P] 15-minute interval starts, UTC, covering every local day written
    rt: dict[str, np.ndarray]  # node name -> USD/MWh on the 15-minute grid (spikes included)
    expected: dict[str, np.ndarray]  # node name -> the same without spikes and noise (the DAM view)
    spikes: list[PriceSpike] = field(default_factory=list)

    def at(self, node: str, epochs: np.ndarray) -> np.ndarray:
        """Real-time price of a node at each epoch (the 15-minute interval containing it)."""
        idx = (np.asarray(epochs) - self.epochs[0]) // STEP
        return self.rt[node][idx]


def local_days(clock: Clock, market: str) -> list[date]:
    """The market's operating days (local dates) that overlap the simulated period."""
    tz = MARKET_TZ[market]
    first = pd.Timestamp(clock.start).tz_convert(tz).date()
    last = (pd.Timestamp(clock.end) - pd.Timedelta(seconds=1)).tz_convert(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def local_day_epochs(day: date, tz: str, step_seconds: int) -> np.ndarray:
    """Interval starts (epoch s) from local midnight to the next local midnight: 23, 24 or 25 hours."""
    lo = pd.Timestamp(day).tz_localize(tz).tz_convert("UTC")
    hi = pd.Timestamp(day + timedelta(days=1)).tz_localize(tz).tz_convert("UTC")
    return np.arange(int(lo.timestamp()), int(hi.timestamp()), step_seconds, dtype=np.int64)


def _local_hours(epochs: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    local = pd.DatetimeIndex(epochs.astype("datetime64[s]")).tz_localize("UTC").tz_convert(tz)
    hours = (local.hour + local.minute / 60).to_numpy(dtype=float)
    day_no = (local.normalize().tz_localize(None) - pd.Timestamp("2000-01-01")).days.to_numpy()
    return hours, day_no


def _shape(hours: np.ndarray, market: str) -> np.ndarray:
    """Typical price by local hour: overnight trough, morning ramp, evening peak."""
    g = lambda mu, sd: np.exp(-(((hours - mu) / sd) ** 2))  # noqa: E731
    if market == "ERCOT":
        return 24 + 9 * g(8, 2) + 42 * g(18.5, 2.2) - 7 * g(3.5, 2.5)
    return 30 + 14 * g(8, 2) + 24 * g(18, 2.5) - 6 * g(3, 2.5)


def _ar1(n: int, sd: float, phi: float, rng: np.random.Generator) -> np.ndarray:
    eps = rng.normal(0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):  # a few thousand steps; a loop is clearer than a filter here
        acc = phi * acc + eps[i]
        out[i] = acc
    return out


def _spike_windows(
    clock: Clock, rng: np.random.Generator, days: int
) -> list[tuple[str, str, int, int, float]]:
    """(market, kind, start epoch, intervals, peak) for each injected price event."""
    s0 = clock.start_epoch
    total = int((clock.end - clock.start).total_seconds()) // STEP

    def pick(hour_lo: float, hour_hi: float, length: int) -> int:
        day = int(rng.integers(days))
        slot = int(rng.integers(int(hour_lo * 4), int(hour_hi * 4)))
        return s0 + min(day * 96 + slot, total - length) * STEP

    events = [("ERCOT", "spike", pick(20, 24, 2), 2, 5000.0)]  # 14:00-18:00 CST, late afternoon
    for _ in range(max(1, days // 2)):
        n = int(rng.integers(2, 7))
        events.append(("ERCOT", "spike", pick(19, 25, n), n, round(float(rng.uniform(250, 1400)), 2)))
    for _ in range(max(1, days // 3)):
        n = int(rng.integers(4, 13))
        events.append(("ERCOT", "negative", pick(6, 11, n), n, round(float(-rng.uniform(15, 60)), 2)))
    for _ in range(max(1, days // 4)):
        n = int(rng.integers(2, 6))
        events.append(("PJM", "spike", pick(21, 24, n), n, round(float(rng.uniform(400, 1100)), 2)))
    return events


def make_prices(clock: Clock, rng: np.random.Generator) -> PriceBook:
    """Prices for every node over all local days touching the period, with labelled spikes."""
    lo = clock.start_epoch - 86400
    hi = int(clock.end.timestamp()) + 86400
    epochs = np.arange(lo, hi, STEP, dtype=np.int64)
    rt: dict[str, np.ndarray] = {}
    expected: dict[str, np.ndarray] = {}
    for market, nodes in (("ERCOT", ERCOT_NODES), ("PJM", PJM_NODES)):
        hours, day_no = _local_hours(epochs, MARKET_TZ[market])
        level = rng.lognormal(0, 0.15, day_no.max() - day_no.min() + 1)[day_no - day_no.min()]
        system = _shape(hours, market) * level
        noise = _ar1(len(epochs), 5.0, 0.8, rng)
        for node in nodes:
            base = system + node.offset_usd
            if node.name.endswith("WEST") and market == "ERCOT":
                base = base - 10 * np.exp(-(((hours - 3) / 3) ** 2))  # west Texas wind at night
            expected[node.name] = base
            rt[node.name] = base + noise + rng.normal(0, 1.2, len(epochs))
    spikes = []
    for market, kind, s, n, peak in _spike_windows(clock, rng, (clock.end - clock.start).days):
        names = tuple(
            nd.name
            for nd in (ERCOT_NODES if market == "ERCOT" else PJM_NODES)
            if kind == "spike" or "WEST" in nd.name
        )
        i = (s - lo) // STEP
        profile = np.ones(n) if n <= 2 else np.concatenate([[0.5], np.ones(n - 2), [0.6]])
        for name in names:
            jitter = 1.0 if name in ("HB_WEST", "HB_NORTH") and peak == 5000.0 else rng.uniform(0.93, 1.0)
            rt[name][i : i + n] = np.round(peak * profile * jitter, 2)
        spikes.append(PriceSpike(market, names, s, s + n * STEP, peak))
    for name in rt:
        rt[name] = np.round(rt[name], 2)
    return PriceBook(epochs, rt, expected, spikes)


BITCOIN_HISTORY_DAYS = 90  # daily network history before the period, as operators keep it


@dataclass
class Bitcoin:
    table: (
        pd.DataFrame
    )  # date, btc_price_usd, difficulty, block_subsidy_btc, fees_btc_per_block, hashrate_ths
    hashprice_usd_per_th_day: np.ndarray  # per UTC day of the period


def make_bitcoin(clock: Clock, rng: np.random.Generator) -> Bitcoin:
    """Daily BTC price (random walk), difficulty adjusting every 14 days, subsidy 3.125 BTC and
    fees, for the period and the ``BITCOIN_HISTORY_DAYS`` before it: a week of history is too short
    to forecast a daily series with a weekly season, and public network history is always at hand."""
    period = clock.days()
    days = [
        period[0] - timedelta(days=BITCOIN_HISTORY_DAYS - i) for i in range(BITCOIN_HISTORY_DAYS)
    ] + period
    n = len(days)
    start = BITCOIN_HISTORY_DAYS  # the walks are anchored at the period's first day
    walk = np.cumsum(rng.normal(0, 0.025, n))
    price = 92000 * np.exp(walk - walk[start])
    adjust = np.zeros(n)
    first = int(rng.integers(14))
    adjust[first::14] = rng.uniform(-0.01, 0.04, len(adjust[first::14]))
    growth = np.cumprod(1 + adjust)
    difficulty = 1.49e14 * growth / growth[start]
    fees = rng.uniform(0.02, 0.07, n)
    hashrate_ths = network_hashrate_ths(difficulty)
    hashprice = (BLOCK_SUBSIDY_BTC + fees) * BLOCKS_PER_DAY * price / hashrate_ths
    table = pd.DataFrame(
        {
            "date": [d.isoformat() for d in days],
            "btc_price_usd": np.round(price, 2),
            "difficulty": np.round(difficulty).astype(np.int64),
            "block_subsidy_btc": BLOCK_SUBSIDY_BTC,
            "fees_btc_per_block": np.round(fees, 8),
            "hashrate_ths": np.round(hashrate_ths).astype(np.int64),
        }
    )
    return Bitcoin(table, hashprice[start:])
