"""Plotly figure builders: DataFrames in, figures out; no queries, no Streamlit calls."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MODE_COLORS = {"mine": "#f7931a", "serve": "#4c78a8", "off": "#bab0ac"}
SOURCE_COLORS = {"mining": "#f7931a", "inference": "#4c78a8", "curtailment_credits": "#54a24b"}


def _compact(fig: go.Figure, height: int = 320, title: str | None = None) -> go.Figure:
    """Narrow margins and a legend above the plot, so charts fit a phone screen."""
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 40 if title else 16, "b": 8},
        title=title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "title": None},
    )
    return fig


def utilization_by_facility(df: pd.DataFrame, column: str = "gpu_utilization_pct") -> go.Figure:
    """Hourly utilization (%) per facility."""
    fig = px.line(
        df, x="hour_start_at", y=column, color="facility_name", labels={column: "%", "hour_start_at": ""}
    )
    return _compact(fig)


def revenue_mix(df: pd.DataFrame) -> go.Figure:
    """Daily revenue stacked by source (mining, inference, curtailment credits)."""
    long = df.melt(id_vars="day", var_name="source", value_name="usd")
    fig = px.bar(
        long,
        x="day",
        y="usd",
        color="source",
        color_discrete_map=SOURCE_COLORS,
        labels={"day": "", "usd": "USD"},
    )
    return _compact(fig)


MEASURE_COLORS = {"revenue": "#4c78a8", "cost": "#e45756", "margin": "#54a24b"}
KIND_TITLES = {"asic": "ASICs", "gpu": "GPUs"}


def usd_per_mwh(df: pd.DataFrame) -> go.Figure:
    """Revenue, cost and margin per MWh by hardware model (grouped bars), one panel per device kind
    with its own y axis: ASICs earn tens of USD per MWh, GPUs thousands, and on one linear axis the
    ASIC bars would not be seen."""
    kinds = [k for k in ("asic", "gpu") if (df["device_kind"] == k).any()] or sorted(
        df["device_kind"].unique()
    )
    fig = make_subplots(
        rows=1,
        cols=len(kinds),
        subplot_titles=[KIND_TITLES.get(k, str(k)) for k in kinds],
        horizontal_spacing=0.12,
    )
    for col, kind in enumerate(kinds, start=1):
        models = df[df["device_kind"] == kind]
        for measure, color in MEASURE_COLORS.items():
            fig.add_trace(
                go.Bar(
                    x=models["hardware_model"],
                    y=models[f"{measure}_usd_per_mwh"],
                    name=measure,
                    marker_color=color,
                    legendgroup=measure,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(title_text="USD / MWh" if col == 1 else None, row=1, col=col)
    fig.update_layout(barmode="group")
    return _compact(fig)


def strategy_comparison(df: pd.DataFrame, label: str, value: str) -> go.Figure:
    """Profit (or any value) per strategy as bars."""
    fig = px.bar(df, x=label, y=value, color=label, labels={label: "", value: "USD"})
    fig.update_layout(showlegend=False)
    return _compact(fig, 280)


def rack_heatmap(df: pd.DataFrame, value: str, title: str, colorscale: str = "RdYlBu_r") -> go.Figure:
    """Devices as cells: racks down, slots across, colored by ``value``."""
    grid = df.pivot_table(index="rack", columns="rack_slot", values=value, aggfunc="mean")
    text = df.pivot_table(index="rack", columns="rack_slot", values="device_id", aggfunc="first")
    fig = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=[str(c) for c in grid.columns],
            y=[str(r) for r in grid.index],
            text=text.reindex_like(grid).values,
            hovertemplate="%{text}<br>rack %{y} slot %{x}<br>%{z:.1f}<extra></extra>",
            colorscale=colorscale,
            colorbar={"thickness": 10},
        )
    )
    fig.update_xaxes(title="slot")
    fig.update_yaxes(title=None, autorange="reversed")
    return _compact(fig, max(260, 14 * len(grid.index) + 80), title)


def plan_timeline(df: pd.DataFrame, cap_mw: float | None) -> go.Figure:
    """Planned MW by mode per interval (stacked areas) with the facility power cap as a line."""
    fig = px.area(
        df[df["mode"] != "off"],
        x="interval_start_at",
        y="mw",
        color="mode",
        color_discrete_map=MODE_COLORS,
        labels={"interval_start_at": "", "mw": "MW"},
    )
    if "cap_mw" in df:
        caps = df.drop_duplicates("interval_start_at")
        fig.add_trace(
            go.Scatter(
                x=caps["interval_start_at"],
                y=caps["cap_mw"],
                name="power cap",
                line={"dash": "dash", "color": "#d62728", "shape": "hv"},
            )
        )
    elif cap_mw is not None:
        fig.add_hline(y=cap_mw, line_dash="dash", line_color="#d62728", annotation_text="power cap")
    return _compact(fig)


def device_history(df: pd.DataFrame, is_gpu: bool) -> go.Figure:
    """Power, temperature and hashrate (ASIC) or utilization (GPU) of one device, stacked panels."""
    from plotly.subplots import make_subplots

    third = ("avg_gpu_util_pct", "utilization %") if is_gpu else ("avg_hashrate_ths", "hashrate TH/s")
    panels = [("avg_power_kw", "power kW"), ("avg_temperature_c", "temperature °C"), third]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    for row, (column, name) in enumerate(panels, start=1):
        fig.add_trace(
            go.Scatter(x=df["hour_start_at"], y=df[column], name=name, mode="lines"), row=row, col=1
        )
        fig.update_yaxes(title_text=name, row=row, col=1)
    fig.update_layout(showlegend=False)
    return _compact(fig, 480)


def mode_strip(df: pd.DataFrame) -> go.Figure:
    """Planned mode of one device per interval as colored markers."""
    fig = px.scatter(
        df,
        x="interval_start_at",
        y="mode",
        color="mode",
        color_discrete_map=MODE_COLORS,
        labels={"interval_start_at": ""},
    )
    fig.update_layout(showlegend=False)
    return _compact(fig, 200)


def forecast(
    df: pd.DataFrame, at: str, value: str, lower: str | None, upper: str | None, actual: pd.DataFrame | None
) -> go.Figure:
    """A forecast line with its interval band, and actuals when given (columns ``at`` and ``actual``)."""
    fig = go.Figure()
    if lower and upper:
        fig.add_trace(
            go.Scatter(x=df[at], y=df[upper], line={"width": 0}, showlegend=False, hoverinfo="skip")
        )
        fig.add_trace(
            go.Scatter(
                x=df[at],
                y=df[lower],
                fill="tonexty",
                line={"width": 0},
                name="interval",
                fillcolor="rgba(76,120,168,0.25)",
            )
        )
    fig.add_trace(go.Scatter(x=df[at], y=df[value], name="forecast", line={"color": "#4c78a8"}))
    if actual is not None and not actual.empty:
        fig.add_trace(go.Scatter(x=actual["at"], y=actual["actual"], name="actual", line={"color": "#222"}))
    return _compact(fig)


def usage_by_customer(df: pd.DataFrame) -> go.Figure:
    """Daily billed amount stacked by customer."""
    fig = px.bar(
        df,
        x="usage_date",
        y="amount_usd",
        color="customer_id",
        labels={"usage_date": "", "amount_usd": "USD"},
    )
    return _compact(fig)


def sessions_timeline(df: pd.DataFrame, start: str, end: str, label: str) -> go.Figure:
    """Running spans of a workload as a Gantt chart."""
    fig = px.timeline(df, x_start=start, x_end=end, y=label)
    fig.update_yaxes(title=None)
    return _compact(fig, 260)


def whatif_mw(base: pd.DataFrame, scenario: pd.DataFrame) -> go.Figure:
    """MW by mode per interval: base plan (dashed) against the scenario (solid)."""
    fig = go.Figure()
    for frame, dash, suffix in ((base, "dash", " (base)"), (scenario, "solid", " (what-if)")):
        for mode in ("mine", "serve"):
            part = frame[frame["mode"] == mode]
            fig.add_trace(
                go.Scatter(
                    x=part["interval"],
                    y=part["mw"],
                    name=mode + suffix,
                    line={"dash": dash, "color": MODE_COLORS[mode]},
                )
            )
    fig.update_xaxes(title="hour")
    fig.update_yaxes(title="MW")
    return _compact(fig)
