"""``hcp eval anomalies``: a detector on labelled univariate series (one CSV or a folder of them),
scored per alert event (``kernels.anomalies.evaluation``), and the accuracy part of ``hcp bench ml``.

A folder holds ``<name>.csv`` (time, value) beside ``<name>.labels.csv`` (``start``, ``end`` of each
labelled anomaly window; an empty file means "no anomaly"), the layout of ``../shared/data/nab``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

DETECTORS = ("stream", "ensemble", "gaussian", "ecod")
ALL = "all"  # every detector, and per series the best of them chosen with the labels (a ceiling)
ORACLE = "stream (oracle threshold)"
LABELS_SUFFIX = ".labels.csv"


class LabelledError(ValueError):
    """A series or labels file cannot be used; the message names the file (and row, field)."""


@dataclass
class Labelled:
    """One regular series with its labelled windows."""

    name: str
    values: object  # pd.Series on a regular DatetimeIndex
    step: object  # pd.Timedelta
    windows: object  # pd.DataFrame start, end


def read_windows(path: Path):
    """Labelled windows (``start``, ``end``, naive times) of a labels CSV; errors name row and field."""
    import pandas as pd

    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise LabelledError(
            f"{path}: empty file (a labels file needs at least the header start,end)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise LabelledError(f"{path}: not a readable CSV ({str(err).strip().splitlines()[0]})") from None
    missing = [c for c in ("start", "end") if c not in raw.columns]
    if missing:
        raise LabelledError(
            f"{path}: column(s) {', '.join(missing)} not found; columns are {', '.join(raw.columns)}"
        )
    out = {}
    for field in ("start", "end"):
        parsed = pd.to_datetime(raw[field], errors="coerce", format="mixed", utc=True)
        bad = parsed.isna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise LabelledError(
                f"{path}: row {row + 2}, field {field!r}: {raw[field].iloc[row]!r} is not a time"
            )
        out[field] = parsed.dt.tz_localize(None)
    windows = pd.DataFrame(out)
    backwards = windows["end"] < windows["start"]
    if backwards.any():
        row = int(backwards.to_numpy().argmax())
        raise LabelledError(f"{path}: row {row + 2}, field 'end': ends before its start")
    return windows


def read_labelled(csv: Path, labels: Path, time_col: str = "timestamp", value_col: str = "value") -> Labelled:
    """One series, put on a regular grid (``kernels.forecasting.regularize``), and its windows."""
    import pandas as pd

    from kernels.forecasting import SeriesError, regularize

    for path in (csv, labels):
        if not path.is_file():
            raise LabelledError(f"{path}: no such file")
    try:
        frame = pd.read_csv(csv, encoding="utf-8-sig")
        y, step = regularize(frame, time_col, value_col)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise LabelledError(f"{csv}: not a readable CSV ({str(err).strip().splitlines()[0]})") from None
    except SeriesError as err:
        raise LabelledError(f"{csv}: {err}") from None
    if len(y) < 100:
        raise LabelledError(f"{csv}: too few points: {len(y)} after cleaning, need at least 100")
    name = csv.name[: -len(".csv")] if csv.name.endswith(".csv") else csv.name
    return Labelled(name, y, step, read_windows(labels))


def read_folder(folder: Path, time_col: str = "timestamp", value_col: str = "value") -> list[Labelled]:
    """Every ``<name>.csv`` with a ``<name>.labels.csv`` beside it, sorted by name."""
    if not folder.is_dir():
        raise LabelledError(f"{folder}: no such folder")
    found = []
    for labels in sorted(folder.glob(f"*{LABELS_SUFFIX}")):
        name = labels.name[: -len(LABELS_SUFFIX)]
        csv = folder / f"{name}.csv"
        if not csv.is_file():
            raise LabelledError(f"{labels}: no series {csv.name} beside it")
        found.append(read_labelled(csv, labels, time_col, value_col))
    if not found:
        raise LabelledError(f"{folder}: no <name>.csv with a <name>{LABELS_SUFFIX} beside it")
    return found


def evaluate(series: list[Labelled], detector: str = "stream", oracle: bool = False, config=None) -> dict:
    """Per-series and mean event metrics of ``detector`` ('stream': the causal detector; 'ensemble':
    the old whole-series pyod ensemble; 'gaussian', 'ecod': ``kernels.anomalies.candidates``). ``oracle`` adds, per series, the F1 of the streaming
    detector with the best threshold chosen *with the labels* (a ceiling, not a result)."""
    import numpy as np

    from kernels.anomalies.baseline import ensemble_flags
    from kernels.anomalies.candidates import alerts_from_score, ecod_residual_scores, windowed_gaussian_scores
    from kernels.anomalies.evaluation import mean_metrics, oracle_threshold, series_metrics
    from kernels.anomalies.streaming import StreamConfig, detect_stream, points_per_day

    if detector not in DETECTORS:
        raise LabelledError(f"--detector {detector!r}: choose one of {', '.join(DETECTORS)} or {ALL}")
    config = config or StreamConfig()
    rows = []
    for item in series:
        y, step = item.values, item.step
        if detector == "stream":
            result = detect_stream(y.to_numpy(float), step, config)
            alerts = result.alerts
        elif detector == "ensemble":
            alerts = np.flatnonzero(ensemble_flags(y, step))
        elif detector == "gaussian":
            alerts = alerts_from_score(windowed_gaussian_scores(y.to_numpy(float), step), step, config)
        else:
            alerts = alerts_from_score(ecod_residual_scores(y.to_numpy(float), step, config), step, config)
        row = {"series": item.name, "points": len(y), "step": str(step)}
        row.update(series_metrics(y.index, alerts, item.windows, step))
        if oracle:
            if detector != "stream":
                result = detect_stream(y.to_numpy(float), step, config)
            # on how far past its causal threshold each point is (1 = the detector's own bar)
            warm = min(int(config.warm_days * points_per_day(step)), len(y) // 5)
            best = oracle_threshold(y.index, result.severity, item.windows, step, warm, config.suppress_days)
            row["oracle_f1"] = best["f1"]
            row["oracle_false_alerts_per_week"] = best["false_alerts_per_week"]
        rows.append(row)
    mean = mean_metrics(rows)
    if oracle:
        mean["oracle_f1"] = float(np.mean([r["oracle_f1"] for r in rows]))
    return {
        "detector": detector,
        "config": config.to_dict() if detector == "stream" else None,
        "series": rows,
        "mean": mean,
    }


def compare(series: list[Labelled], config=None) -> dict:
    """Every detector on the same series, and per series the best F1 among them and the streaming
    detector at its label-chosen threshold: what choosing a detector per series *with the labels*
    could reach (a ceiling over the detectors tried, not a result)."""
    import numpy as np

    results = {d: evaluate(series, d, oracle=d == "stream", config=config) for d in DETECTORS}
    best = []
    for i, item in enumerate(series):
        f1s = {d: results[d]["series"][i]["f1"] for d in DETECTORS}
        f1s[ORACLE] = results["stream"]["series"][i]["oracle_f1"]
        winner = max(f1s, key=f1s.get)
        best.append(
            {"series": item.name, "f1": f1s[winner], "detector": winner, "stream_oracle_f1": f1s[ORACLE]}
        )
    return {
        "detectors": results,
        "best_of": {"series": best, "mean_f1": float(np.mean([b["f1"] for b in best]))},
    }


def print_comparison(result: dict) -> None:
    """F1 per series and detector, the streaming detector's oracle and the best of them."""
    from rich.console import Console
    from rich.table import Table

    names = list(result["detectors"])
    table = Table("series", *names, "stream oracle", "best of", "best", title="event F1 per detector")
    for i, best in enumerate(result["best_of"]["series"]):
        f1s = [_fmt(result["detectors"][d]["series"][i]["f1"]) for d in names]
        table.add_row(
            best["series"], *f1s, _fmt(best["stream_oracle_f1"]), _fmt(best["f1"]), best["detector"]
        )
    means = [_fmt(result["detectors"][d]["mean"]["f1"]) for d in names]
    oracle = _fmt(result["detectors"]["stream"]["mean"]["oracle_f1"])
    table.add_row("mean", *means, oracle, _fmt(result["best_of"]["mean_f1"]), "", style="bold")
    Console(width=160).print(table)


def _finite(value):
    """JSON has no NaN: undefined figures become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value, digits: int = 2) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and not math.isfinite(value))
        else f"{value:.{digits}f}"
    )


def print_table(result: dict) -> None:
    """Per-series rows and the mean, as a rich table."""
    from rich.console import Console
    from rich.table import Table

    oracle = "oracle_f1" in result["mean"]
    cols = [
        "series",
        "windows",
        "found",
        "alerts",
        "false",
        "F1",
        "precision",
        "recall",
        "false/week",
        "delay h",
    ]
    table = Table(*cols + (["oracle F1"] if oracle else []), title=f"detector: {result['detector']}")
    for r in result["series"]:
        cells = [r["series"], str(r["faults"]), str(r["faults_found"]), str(r["alert_events"])]
        cells += [str(r["false_positives"]), _fmt(r["f1"]), _fmt(r["precision"]), _fmt(r["recall"])]
        cells += [_fmt(r["false_alerts_per_week"]), _fmt(r["delay_h"], 1)]
        table.add_row(*cells + ([_fmt(r["oracle_f1"])] if oracle else []))
    m = result["mean"]
    cells = ["mean", str(m["windows"]), str(m["windows_found"]), "", str(m["false_alerts"]), _fmt(m["f1"])]
    cells += [
        _fmt(m["precision"]),
        _fmt(m["recall"]),
        _fmt(m["false_alerts_per_week"]),
        _fmt(m["delay_h"], 1),
    ]
    table.add_row(*cells + ([_fmt(m["oracle_f1"])] if oracle else []), style="bold")
    Console(width=160).print(table)


def eval_anomalies(
    folder: Annotated[
        Path | None,
        typer.Option(help="folder of <name>.csv series with <name>.labels.csv windows beside them"),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option(help="one series CSV (with --labels) instead of a folder")
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="CSV of anomaly windows (start,end) of --csv")] = None,
    time_col: Annotated[str, typer.Option(help="time column")] = "timestamp",
    value_col: Annotated[str, typer.Option(help="value column")] = "value",
    detector: Annotated[
        str,
        typer.Option(
            help="stream (causal, default), ensemble (the old baseline), gaussian or ecod (compared), "
            "or all: every detector and, per series, the best of them chosen with the labels (a ceiling)"
        ),
    ] = "stream",
    oracle: Annotated[bool, typer.Option(help="add the per-series oracle-threshold F1 (a ceiling)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")] = False,
) -> None:
    """Run a detector on labelled series and score it per alert event: per-series and mean F1,
    precision, recall, false alerts per week and detection delay (docs/anomalies.md)."""
    from orchestration.terminal import emit_json, fail

    if (folder is None) == (csv is None) or (csv is not None) != (labels is not None):
        fail("give either --folder DIR, or --csv FILE with --labels FILE")
    try:
        series = (
            read_folder(folder, time_col, value_col)
            if folder
            else [read_labelled(csv, labels, time_col, value_col)]
        )
        result = compare(series) if detector == ALL else evaluate(series, detector, oracle)
    except LabelledError as err:
        fail(str(err))
    if as_json:
        emit_json(_finite(result))
    elif detector == ALL:
        print_comparison(result)
    else:
        print_table(result)


def accuracy_bench(folder: Path) -> dict:
    """Mean event F1 of the streaming detector on every labelled series of ``folder`` next to the
    old single-detector baseline (the whole-series pyod ensemble), with their ratio."""
    import time

    series = read_folder(folder)
    began = time.perf_counter()
    stream = evaluate(series, "stream")
    stream_s = time.perf_counter() - began
    began = time.perf_counter()
    base = evaluate(series, "ensemble")
    base_s = time.perf_counter() - began
    s, b = stream["mean"], base["mean"]
    return {
        "folder": str(folder),
        "series": len(series),
        "stream": s,
        "baseline": b,
        "baseline_detector": "ensemble(iforest,ocsvm,lof,ecod) on the whole series",
        "ratio_f1_to_baseline": s["f1"] / b["f1"] if b["f1"] else None,
        "stream_s": stream_s,
        "baseline_s": base_s,
        "goal_f1": 0.85,
        "goal_false_alerts_per_week": 1.0,
        "meets_goal": bool(s["f1"] >= 0.85 and s["false_alerts_per_week"] <= 1.0),
    }
