"""``hcp eval allocation``: replay a fleet over a real price history (``kernels.planning.replay``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DEVICES = 40  # one facility: 32 ASICs and one 8-GPU node; about a second per replayed day


def simulated_fleet(devices: int, seed: int = 42):
    """The simulator's fleet (its ASIC and GPU models) at one uncapped facility, as a planning Fleet."""
    import numpy as np
    import pandas as pd

    from ingestion.simulator.fleet import make_fleet
    from kernels.planning import Fleet

    sim = make_fleet(1, devices, np.random.default_rng(seed))
    d = sim.devices
    frame = pd.DataFrame(
        {
            "device_id": d["device_id"],
            "facility_id": d["facility_id"],
            "device_kind": d["kind"],
            "gpu_pool": d["gpu_pool"].replace("", None),
            "hardware_model": d["model"],
            "nominal_power_kw": d["nominal_power_kw"].astype(float),
            "nominal_hashrate_ths": d["nominal_hashrate_ths"].astype(float),
        }
    )
    facilities = pd.DataFrame(
        {"facility_id": sim.facilities["facility_id"], "power_cap_kw": np.nan, "pue": sim.facilities["pue"]}
    )
    return Fleet(frame, facilities)


def fleet_from_csv(path: Path):
    """A fleet from a devices CSV (``device_id, device_kind, nominal_power_kw, nominal_hashrate_ths``
    and optionally ``gpu_pool``, ``pue``), all at one uncapped facility."""
    import numpy as np
    import pandas as pd

    from ingestion.errors import IngestError
    from kernels.planning import Fleet

    frame = pd.read_csv(path, encoding="utf-8-sig")
    need = ["device_id", "device_kind", "nominal_power_kw", "nominal_hashrate_ths"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise IngestError(
            path, f"missing column(s) {', '.join(missing)}; columns: {', '.join(frame.columns)}", line=1
        )
    for column in ("nominal_power_kw", "nominal_hashrate_ths"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | (values < 0).to_numpy())
        if len(bad):
            raise IngestError(
                path, f"not a number >= 0: {frame[column].iloc[bad[0]]!r}", line=int(bad[0]) + 2, field=column
            )
        frame[column] = values.astype(float)
    kinds = ~frame["device_kind"].isin(["asic", "gpu"])
    if kinds.any():
        row = int(np.flatnonzero(kinds.to_numpy())[0])
        raise IngestError(path, f"device_kind must be asic or gpu, not {frame['device_kind'].iloc[row]!r}",
                          line=row + 2, field="device_kind")  # fmt: skip
    pue = float(frame["pue"].iloc[0]) if "pue" in frame else 1.1
    devices = frame.assign(
        facility_id="replay-1",
        gpu_pool=frame.get("gpu_pool"),
        hardware_model=frame.get("hardware_model", frame["device_kind"]),
    )
    return Fleet(devices, pd.DataFrame({"facility_id": ["replay-1"], "power_cap_kw": [np.nan], "pue": [pue]}))


def simulated_hashprice(first_day, days: int, seed: int = 42):
    """The simulator's daily hashprice (USD per TH/s per day) over ``days`` days from ``first_day``."""
    import numpy as np
    import pandas as pd

    from ingestion.simulator.clock import make_clock
    from ingestion.simulator.prices import make_bitcoin

    clock = make_clock((first_day + pd.Timedelta(days=days)).to_pydatetime(), days, 60)
    values = make_bitcoin(clock, np.random.default_rng(seed)).hashprice_usd_per_th_day
    return pd.Series(values, index=pd.date_range(first_day, periods=len(values), freq="D"))


def _money(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def eval_allocation(
    prices: Annotated[Path, typer.Option(help="CSV of hourly (or finer) real-time prices, USD/MWh")],
    time_col: Annotated[
        str | None, typer.Option(help="time column (default: datetime_beginning_utc, timestamp, ts ...)")
    ] = None,
    price_col: Annotated[
        str | None, typer.Option(help="price column (default: total_lmp_rt, rt_lmp, lmp, price ...)")
    ] = None,
    hashprice: Annotated[
        Path | None,
        typer.Option(
            help="a folder of blockchain.com exports (miners-revenue.csv, hash-rate.csv) or a CSV of date, "
            "hashprice (USD per TH/s per day); default: the simulator's Bitcoin economics"
        ),
    ] = None,
    devices: Annotated[
        int, typer.Option(min=1, help="devices of the default simulated fleet (one facility)")
    ] = DEFAULT_DEVICES,
    fleet: Annotated[
        Path | None,
        typer.Option(
            help="devices CSV (device_id, device_kind, nominal_power_kw, nominal_hashrate_ths) instead"
        ),
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="first day (UTC), e.g. 2019-01-01")] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="day after the last (UTC), e.g. 2020-01-01")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the simulated fleet and hashprice")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")] = False,
) -> None:
    """Replay a fleet over a real price history, day by day: the optimizer (re-planning hourly on a
    seasonal-naive price forecast and the price as it settles), the strike-price rule, always-on, and
    perfect foresight. Profit per month and overall, the optimizer's share of perfect foresight,
    curtailment hours and restarts."""
    import pandas as pd

    from ingestion.errors import IngestError
    from ingestion.formats.series import read_hashprice, read_price_series
    from kernels.planning.replay import replay
    from orchestration.terminal import emit_json, fail

    try:
        series = read_price_series(prices, time_col, price_col)
        try:
            start = pd.Timestamp(since, tz="UTC") if since else series.index.min()
            end = pd.Timestamp(until, tz="UTC") if until else series.index.max() + pd.Timedelta(hours=1)
        except ValueError as err:
            fail(f"--from/--to: {err}")
        # the day before --from is the first day's forecast history
        series = series[(series.index >= start.floor("D") - pd.Timedelta(days=1)) & (series.index < end)]
        if len(series) < 48:
            fail(f"{prices}: fewer than two days of prices between {start} and {end}")
        first = series.index.min().floor("D").tz_localize(None)
        span = (series.index.max().ceil("D").tz_localize(None) - first).days + 1
        if hashprice is not None:
            hp = read_hashprice(hashprice)
            hp.index = hp.index.tz_convert("UTC") if hp.index.tz else hp.index.tz_localize("UTC")
            covered = hp[(hp.index >= series.index.min().floor("D") - pd.Timedelta(days=7))]
            if covered.empty or hp.index.max() < series.index.min().floor("D"):
                fail(f"{hashprice}: no hashprice from {first.date()} on (it ends {hp.index.max().date()})")
            source = str(hashprice)
        else:
            hp = simulated_hashprice(first, span, seed).tz_localize("UTC")
            source = "simulator"
        the_fleet = fleet_from_csv(fleet) if fleet else simulated_fleet(devices, seed)
    except IngestError as err:
        fail(str(err))
    echo = (
        None
        if as_json
        else (lambda day: typer.echo(f"replaying {day}", err=True) if day.endswith("-01") else None)
    )
    result = replay(the_fleet, series, hp, progress=echo)
    if result.daily.empty:
        fail(f"{prices}: no day with a full day of hourly prices and a full day before it")
    monthly, yearly = result.monthly(), result.yearly()
    kinds = the_fleet.devices["device_kind"].value_counts().to_dict()
    payload = {
        "prices": str(prices),
        "hashprice": source,
        "fleet": {"devices": len(the_fleet.devices), **{f"{k}s": int(v) for k, v in kinds.items()}},
        "days": int(result.daily["day"].nunique()),
        "skipped_days": result.skipped_days,
        "months": monthly.to_dict(orient="records"),
        "years": yearly.to_dict(orient="records"),
        "goals": {
            "optimizer_at_least_strike_every_month": bool((monthly["optimizer_minus_strike"] >= -1e-6).all()),
            "optimizer_share_of_foresight_min_year": float(
                yearly.loc[yearly["year"] != "all", "optimizer_share_of_foresight"].min()
            ),
        },
    }
    if as_json:
        emit_json(_finite(payload))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("period", "days", "optimizer", "strike", "always on", "foresight", "opt/PF",
                  "opt-strike", "curt. h opt/strike", "restarts opt/strike",
                  title=f"{prices.name}: profit USD, {payload['fleet']}, hashprice {source}")  # fmt: skip
    for frame, key in ((monthly, "month"), (yearly, "year")):
        for row in frame.to_dict(orient="records"):
            table.add_row(
                str(row[key]), str(row["days"]), _money(row["profit_optimizer"]), _money(row["profit_strike_price"]),
                _money(row["profit_always_on"]), _money(row["profit_perfect_foresight"]),
                f"{row['optimizer_share_of_foresight']:.2%}", _money(row["optimizer_minus_strike"]),
                f"{row['curtailed_hours_optimizer']:.0f}/{row['curtailed_hours_strike_price']:.0f}",
                f"{row['restarts_optimizer']}/{row['restarts_strike_price']}",
            )  # fmt: skip
    Console(width=max(150, Console().width)).print(table)
    goals = payload["goals"]
    typer.echo(
        f"optimizer >= strike rule every month: {goals['optimizer_at_least_strike_every_month']}; "
        f"lowest yearly share of perfect foresight: {goals['optimizer_share_of_foresight_min_year']:.2%}"
    )


def _finite(value):
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``hcp eval allocation`` to the ``hcp eval`` group (made by ``cli_ml``, registered first)."""
    group = next((g.typer_instance for g in app.registered_groups if g.name == "eval"), None)
    if group is None:  # pragma: no cover - cli_ml missing
        group = typer.Typer(help="Evaluate models on your own files.", no_args_is_help=True)
        app.add_typer(group, name="eval")
    group.command("allocation")(eval_allocation)
