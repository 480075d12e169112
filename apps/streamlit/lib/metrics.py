"""Shaping of query results for the pages: KPI cards, backtest summaries, anomaly and forecast views."""

from __future__ import annotations

import pandas as pd

from apps.streamlit.lib import ui

# (label, column, unit kind, delta color): "inverse" for costs, where going up is bad.
KPI_SPEC = (
    ("Total revenue", "total_revenue_usd", "usd", "normal"),
    ("Mining revenue", "mining_revenue_usd", "usd", "normal"),
    ("Inference revenue", "inference_revenue_usd", "usd", "normal"),
    ("Energy cost", "energy_cost_usd", "usd", "inverse"),
    ("Gross margin", "gross_margin_usd", "usd", "normal"),
    ("Margin per MWh", "margin_usd_per_mwh", "usd2", "normal"),
    ("GPU utilization", "gpu_utilization_pct", "pct", "normal"),
    ("Curtailed energy", "curtailed_mwh", "mwh", "off"),
)
KpiCard = tuple[str, str, str | None, str, str | None]


def _value(df: pd.DataFrame, column: str) -> float | None:
    if df.empty or column not in df or pd.isna(df[column].iloc[0]):
        return None
    return float(df[column].iloc[0])


def kpi_cards(current: pd.DataFrame, previous: pd.DataFrame) -> list[KpiCard]:
    """The eight executive KPI cards: (label, value, change vs previous period, delta color, help)."""
    cards = []
    for label, column, kind, color in KPI_SPEC:
        now, before = _value(current, column), _value(previous, column)
        help_text = None
        if kind == "usd":
            text = ui.usd(now)
        elif kind == "usd2":
            text = ui.usd(now, 2)
        elif kind == "pct":
            text = ui.number(now, "%")
        else:  # curtailed energy; the cost it avoided goes in the tooltip (a long label is cut off)
            text = ui.number(now, "MWh", 2)
            help_text = avoided_cost_text(current)
        cards.append((label, text, ui.change(now, before), color, help_text))
    return cards


def avoided_cost_text(current: pd.DataFrame) -> str:
    """What curtailment saved in the period, e.g. 'Curtailment avoided $80 of energy cost.'"""
    return f"Curtailment avoided {ui.usd(_value(current, 'avoided_energy_cost_usd'))} of energy cost."


_STRATEGY_LABELS = ("policy", "strategy", "scenario", "plan", "baseline")
_PROFIT_COLUMNS = (
    "realized_profit_usd",
    "profit_usd",
    "objective_usd",
    "margin_usd",
    "net_usd",
    "value_usd",
    "profit",
    "objective",
)


def backtest_summary(df: pd.DataFrame) -> tuple[pd.DataFrame, str, str] | None:
    """Total profit per strategy (optimizer, always-on, strike price) from a long or wide backtest table."""
    if df.empty:
        return None
    label = next((c for c in _STRATEGY_LABELS if c in df), None)
    value = next((c for c in _PROFIT_COLUMNS if c in df), None)
    if label and value:
        summary = df.groupby(label, as_index=False)[value].sum()
        order = {"optimizer": 0, "always_on": 1, "strike_price": 2, "perfect_foresight": 3}
        summary = summary.sort_values(label, key=lambda s: s.map(order).fillna(9))
        return summary.reset_index(drop=True), label, value
    wide = [
        c
        for c in df.columns
        if c.endswith("_usd") and any(k in c for k in ("optimizer", "always_on", "strike", "plan"))
    ]
    if not wide:
        return None
    totals = df[wide].sum(numeric_only=True)
    summary = pd.DataFrame({"strategy": [c.removesuffix("_usd") for c in wide], "profit_usd": totals.values})
    return summary.sort_values("profit_usd", ascending=False), "strategy", "profit_usd"


def open_anomalies(df: pd.DataFrame, facility_id: str | None) -> pd.DataFrame:
    """Open anomalies (of one facility when given), most severe and newest first."""
    if df.empty:
        return df
    out = df[df["is_open"]]
    if facility_id is not None and "anomaly_facility_id" in out:
        out = out[out["anomaly_facility_id"] == facility_id]
    if "severity" in out:
        rank = {
            "critical": 0,
            "high": 1,
            "error": 1,
            "medium": 2,
            "warn": 2,
            "warning": 2,
            "low": 3,
            "info": 4,
        }
        order = out["severity"].astype(str).str.lower().map(rank).fillna(5)
        if pd.api.types.is_numeric_dtype(out["severity"]):
            order = -out["severity"]
        out = out.assign(_rank=order).sort_values(["_rank", "anomaly_at"], ascending=[True, False])
        out = out.drop(columns="_rank")
    return out


def stale_facilities(fresh: pd.DataFrame, now: pd.Timestamp, max_age_hours: float) -> pd.DataFrame:
    """Facilities whose newest hour of data is older than ``max_age_hours`` (or missing)."""
    if fresh.empty:
        return fresh
    newest = pd.to_datetime(fresh[["facility_data_until", "device_data_until"]].max(axis=1), utc=True)
    age = (now - newest).dt.total_seconds() / 3600
    return fresh.assign(age_hours=age.round(1))[age.isna() | (age > max_age_hours)]


_ACTUAL_MEASURES = (
    ("price", "avg_price_usd_per_mwh"),
    ("energy", "energy_mwh"),
    ("load", "energy_mwh"),
    ("revenue", "total_revenue_usd"),
    ("util", "gpu_utilization_pct"),
)


def match_actuals(series: str, actuals: pd.DataFrame) -> pd.DataFrame | None:
    """Hourly actuals (columns at, actual) for a forecast series named after a facility or price node."""
    if actuals.empty:
        return None
    name = series.lower()
    measure = next((column for word, column in _ACTUAL_MEASURES if word in name), None)
    if measure is None:
        return None
    for key in ("facility_id", "price_node_name", "facility_name"):
        hits = [v for v in actuals[key].dropna().unique() if str(v).lower() in name]
        if hits:
            rows = actuals[actuals[key] == hits[0]]
            out = rows.groupby("hour_start_at", as_index=False)[measure].mean()
            return out.rename(columns={"hour_start_at": "at", measure: "actual"})
    out = actuals.groupby("hour_start_at", as_index=False)[measure].sum(min_count=1)
    return (
        out.rename(columns={"hour_start_at": "at", measure: "actual"})
        if measure != "avg_price_usd_per_mwh"
        else None
    )
