"""Market price files as their publishers write them: ERCOT RT/DAM SPP and PJM Data Miner LMPs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ingestion.simulator.clock import Clock
from ingestion.simulator.prices import PriceBook, local_day_epochs, local_days
from ingestion.simulator.spec import ERCOT_DAM_NODES, ERCOT_NODES, MARKET_TZ, PJM_INTERVAL_MINUTES, PJM_NODES

ERCOT_RT_HEADER = "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,SettlementPointType,SettlementPointPrice,DSTFlag"
ERCOT_DAM_HEADER = "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag"
PJM_HEADER = (
    "datetime_beginning_utc,datetime_beginning_ept,pnode_id,pnode_name,voltage,equipment,type,zone,"
    "system_energy_price_rt,total_lmp_rt,congestion_price_rt,marginal_loss_price_rt,row_is_current,version_nbr"
)


def _wall_clock(epochs: np.ndarray, tz: str) -> pd.DatetimeIndex:
    return (
        pd.DatetimeIndex(epochs.astype("datetime64[s]")).tz_localize("UTC").tz_convert(tz).tz_localize(None)
    )


def ercot_fields(epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hour ending 1..24, interval 1..4, repeated-hour flag) of 15-minute interval starts.

    The fall-back day shows the 01:00-02:00 wall hour twice; the second pass is the one ERCOT
    flags (DSTFlag Y), both as hour ending 2."""
    wall = _wall_clock(epochs, MARKET_TZ["ERCOT"])
    hour_ending = wall.hour.to_numpy() + 1
    interval = wall.minute.to_numpy() // 15 + 1
    repeated = pd.Series(wall).duplicated().to_numpy()
    return hour_ending, interval, repeated


def write_ercot_rt(out: Path, clock: Clock, prices: PriceBook) -> list[tuple[Path, int]]:
    """One rtm_spp_YYYYMMDD.csv per ERCOT operating day; returns (path, data rows)."""
    written = []
    nodes = sorted(ERCOT_NODES, key=lambda n: n.name)
    for day in local_days(clock, "ERCOT"):
        ep = local_day_epochs(day, MARKET_TZ["ERCOT"], 900)
        he, iv, rep = ercot_fields(ep)
        ddate = day.strftime("%m/%d/%Y")
        lines = [ERCOT_RT_HEADER]
        for i in range(len(ep)):
            flag = "Y" if rep[i] else "N"
            for nd in nodes:
                price = prices.at(nd.name, ep[i : i + 1])[0]
                lines.append(f"{ddate},{he[i]},{iv[i]},{nd.name},{nd.kind},{price:.2f},{flag}")
        written.append(_write(out / f"prices/ercot_rt/rtm_spp_{day:%Y%m%d}.csv", lines))
    return written


def write_ercot_dam(
    out: Path, clock: Clock, prices: PriceBook, rng: np.random.Generator
) -> list[tuple[Path, int]]:
    """One dam_spp_YYYYMMDD.csv per operating day: hourly hub prices from the expected curve."""
    written = []
    for day in local_days(clock, "ERCOT"):
        ep = local_day_epochs(day, MARKET_TZ["ERCOT"], 3600)
        he, _, rep = ercot_fields(ep)
        ddate = day.strftime("%m/%d/%Y")
        lines = [ERCOT_DAM_HEADER]
        for i in range(len(ep)):
            flag = "Y" if rep[i] else "N"
            for name in ERCOT_DAM_NODES:
                idx = (ep[i] - prices.epochs[0]) // 900
                price = prices.expected[name][idx : idx + 4].mean() + rng.normal(0, 2.0)
                lines.append(f"{ddate},{he[i]:02d}:00,{name},{price:.2f},{flag}")
        written.append(_write(out / f"prices/ercot_dam/dam_spp_{day:%Y%m%d}.csv", lines))
    return written


def _pjm_time(wall: pd.DatetimeIndex) -> list[str]:
    """Data Miner's 'M/D/YYYY h:mm:ss AM' spelling."""
    return [
        f"{t.month}/{t.day}/{t.year} {(t.hour % 12) or 12}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}"
        for t in wall
    ]


def write_pjm(out: Path, clock: Clock, prices: PriceBook, rng: np.random.Generator) -> list[tuple[Path, int]]:
    """One rt_lmps_YYYYMMDD.csv per EPT day, five-minute LMPs (rt_fivemin_hrl_lmps export)."""
    written = []
    tz = MARKET_TZ["PJM"]
    for day in local_days(clock, "PJM"):
        ep = local_day_epochs(day, tz, PJM_INTERVAL_MINUTES * 60)
        utc = _pjm_time(_wall_clock(ep, "UTC"))
        ept = _pjm_time(_wall_clock(ep, tz))
        system = prices.at("WESTERN HUB", ep) + rng.normal(0, 1.0, len(ep))
        cols = {}
        for nd in PJM_NODES:
            total = prices.at(nd.name, ep)
            spiking = np.abs(total - prices.expected[nd.name][(ep - prices.epochs[0]) // 900]) > 100
            total = np.where(spiking, total, total + rng.normal(0, 1.0, len(ep)))
            loss = np.round(0.2 * nd.offset_usd + rng.normal(0, 0.3, len(ep)), 2)
            sys_e = np.round(np.where(spiking, total - loss, system), 2)
            total = np.round(total, 2)
            cols[nd.name] = (sys_e, total, np.round(total - sys_e - loss, 2), loss)
        lines = [PJM_HEADER]
        for i in range(len(ep)):
            for nd in sorted(PJM_NODES, key=lambda n: n.name):
                s, tot, cong, loss = (c[i] for c in cols[nd.name])
                lines.append(
                    f"{utc[i]},{ept[i]},{nd.pnode_id},{nd.name},,,{nd.kind},{nd.zone},"
                    f"{s:.2f},{tot:.2f},{cong + 0.0:.2f},{loss + 0.0:.2f},TRUE,1"
                )
        written.append(_write(out / f"prices/pjm/rt_lmps_{day:%Y%m%d}.csv", lines))
    return written


def _write(path: Path, lines: list[str]) -> tuple[Path, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(lines) - 1
