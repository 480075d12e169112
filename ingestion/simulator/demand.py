"""Inference traffic of the simulated customers: a diurnal and weekly shape with bursty noise.

Each inference service's traffic, in GPUs it needs, is ``mean x shape(t) x exp(slow + fast)``:

- shape: a US working-day curve (peak in the afternoon, Central time with its daylight saving,
  trough before dawn) and a lower weekend, as inference traffic of US customers shows;
- fast: log-traffic AR(1) calibrated on the real Azure LLM inference trace (conversation service,
  2023-11-16, one hour): per-minute token volume has a log standard deviation of 0.28 and a lag-one
  autocorrelation of 0.87 (bursts of about 7 minutes);
- slow: a day-to-day level drift over hours (assumed: the trace is one hour long, so it says
  nothing about it).

The trace covers one hour only, so the diurnal and weekly amplitudes are assumptions in the range
published for US-centred inference services (peak-to-trough about 2.5, weekends 15-35% lower).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

CUSTOMER_TZ = "America/Chicago"  # the customers' day (and weekend) is the US Central one
PEAK_LOCAL_HOUR = 14.0  # the telemetry's inference utilisation peaks here too
AMPLITUDE = 0.45  # 1 +/- 0.45: peak / trough = 2.6
WEEKEND_FACTOR = (0.65, 0.85)  # weekend traffic relative to a weekday, drawn per service
FAST_SD, FAST_PHI_PER_MINUTE = 0.28, 0.87  # from the Azure LLM inference trace (see above)
SLOW_SD, SLOW_HOURS = 0.07, 8.0  # assumed level drift: 7% over about 8 hours


def customer_clock(epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hour of day as a float, weekday with 0 = Monday) on the customers' wall clock at each epoch
    second: their day moves with daylight saving, so in UTC it starts an hour earlier in summer."""
    wall = pd.to_datetime(epochs, unit="s", utc=True).tz_convert(CUSTOMER_TZ).tz_localize(None)
    seconds = (wall - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    local = np.asarray(seconds, dtype=np.int64)
    return (local % 86400) / 3600.0, (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday


def diurnal_weekly(epochs: np.ndarray, peak_hour: float, weekend_factor: float) -> np.ndarray:
    """Traffic shape (mean about 1 on weekdays) at each epoch second: a daily cosine around
    ``peak_hour`` on the customers' clock with a flatter night (second harmonic), times
    ``weekend_factor`` on their Saturdays and Sundays."""
    hours, weekday = customer_clock(epochs)
    phase = 2 * np.pi * (hours - peak_hour) / 24.0
    shape = 1.0 + AMPLITUDE * np.cos(phase) + 0.08 * np.cos(2 * phase)
    return shape * np.where(weekday >= 5, weekend_factor, 1.0)


def log_ar1(n: int, sd: float, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) path of length ``n`` with standard deviation ``sd`` and lag-one
    autocorrelation ``phi`` (started from its stationary law, so there is no warm-up)."""
    innov = rng.normal(0.0, sd * np.sqrt(1.0 - phi * phi), n)
    innov[0] = rng.normal(0.0, sd)
    return lfilter([1.0], [1.0, -phi], innov)


def service_traffic(
    epochs: np.ndarray, interval_minutes: int, mean_gpus: float, rng: np.random.Generator
) -> np.ndarray:
    """GPUs one inference service's traffic needs at each interval (float, >= 0)."""
    peak = PEAK_LOCAL_HOUR + rng.uniform(-1.5, 1.5)  # East- to West-coast customers
    weekend = rng.uniform(*WEEKEND_FACTOR)
    fast = log_ar1(len(epochs), FAST_SD, FAST_PHI_PER_MINUTE**interval_minutes, rng)
    slow = log_ar1(len(epochs), SLOW_SD, np.exp(-interval_minutes / (60.0 * SLOW_HOURS)), rng)
    # exp(x - sd^2 / 2) has mean 1, so mean_gpus stays the service's weekday mean
    noise = np.exp(fast - FAST_SD**2 / 2 + slow - SLOW_SD**2 / 2)
    return mean_gpus * diurnal_weekly(epochs, peak, weekend) * noise


def batch_rate_shape(epochs: np.ndarray) -> np.ndarray:
    """Relative arrival rate of ad-hoc batch jobs (mean about 1): submitted during the customers'
    working day, fewer at weekends."""
    return diurnal_weekly(epochs, PEAK_LOCAL_HOUR - 2.0, 0.5)
