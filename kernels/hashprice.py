"""Hashprice and network hash rate units, defined once.

Hashprice is stored and forecast in USD per TH/s per day (the DESIGN.md definition); the allocation
kernels take it per TH/s per hour and the app shows it per PH/s per day.
H (H/s) = difficulty x 2^32 / 600;  hashprice = (subsidy + fees per block) x 144 x BTC price / (H / 1e12).
"""

from __future__ import annotations

HOURS_PER_DAY = 24
TH_PER_PH = 1000
BLOCKS_PER_DAY = 144
HASHES_PER_DIFFICULTY = 2**32
BLOCK_SECONDS = 600


def network_hashrate_ths(difficulty):
    """Network hash rate (TH/s) implied by the difficulty (scalar or array)."""
    return difficulty * HASHES_PER_DIFFICULTY / BLOCK_SECONDS / 1e12


def per_th_hour(usd_per_th_day):
    """USD per TH/s per day -> USD per TH/s per hour (what the allocation kernels take)."""
    return usd_per_th_day / HOURS_PER_DAY


def per_th_day_from_ph_day(usd_per_ph_day):
    """USD per PH/s per day (what the app shows) -> USD per TH/s per day."""
    return usd_per_ph_day / TH_PER_PH


def ph_day_from_th_hour(usd_per_th_hour):
    """USD per TH/s per hour -> USD per PH/s per day."""
    return usd_per_th_hour * HOURS_PER_DAY * TH_PER_PH
