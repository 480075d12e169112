"""Executive: KPI cards against the previous period, utilization, revenue mix, USD/MWh, optimizer value."""

import streamlit as st

from apps.streamlit.lib import charts, metrics, queries, ui

st.title("Executive")
days = ui.period_picker("exec_period")


@ui.live("executive", run_every="15s")
def kpis() -> None:
    window = queries.period(days)
    if window is None:
        ui.no_data("KPIs")
        return
    previous_start, start, end = window
    current = queries.kpi_totals(start, end)
    previous = queries.kpi_totals(previous_start, start)
    ui.kpi_grid(metrics.kpi_cards(current, previous))
    st.caption(
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, change against the previous {days:g} days. "
        + metrics.avoided_cost_text(current)
    )


kpis()
window = queries.period(days)
if window is not None:
    _, start, end = window
    hourly = queries.facility_hourly(start, end)
    st.subheader("Utilization by facility")
    measure = st.radio(
        "Measure",
        ["gpu_utilization_pct", "asic_uptime_pct", "power_cap_utilization_pct"],
        format_func=lambda c: {
            "gpu_utilization_pct": "GPU utilization",
            "asic_uptime_pct": "ASIC uptime",
            "power_cap_utilization_pct": "Power cap used",
        }[c],
        horizontal=True,
        label_visibility="collapsed",
    )
    if hourly.empty:
        ui.no_data("Utilization")
    else:
        st.plotly_chart(charts.utilization_by_facility(hourly, measure), width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Revenue mix")
        mix = queries.revenue_mix_daily(start, end)
        if mix.empty:
            ui.no_data("Revenue")
        else:
            st.plotly_chart(charts.revenue_mix(mix), width="stretch")
    with right:
        st.subheader("USD per MWh by hardware model")
        models = queries.usd_per_mwh_by_model(start, end)
        if models.empty:
            ui.no_data("Unit economics")
        else:
            st.plotly_chart(charts.usd_per_mwh(models), width="stretch")

st.subheader("What the optimizer earned")
backtest = metrics.backtest_summary(queries.optimizer_backtest())
if backtest is None:
    st.info("No allocation backtest yet: it appears once the optimizer's backtest asset has run.")
else:
    summary, label, value = backtest
    first = float(summary[value].iloc[0])
    cols = st.columns(len(summary))
    for i, (col, row) in enumerate(zip(cols, summary.itertuples(index=False), strict=False)):
        amount = float(getattr(row, value))
        gap = first - amount
        delta = None if i == 0 else f"optimizer {ui.usd(abs(gap))} {'more' if gap >= 0 else 'less'}"
        col.metric(
            str(getattr(row, label)).replace("_", " "), ui.usd(amount), delta, delta_color="off", border=True
        )
    st.plotly_chart(charts.strategy_comparison(summary, label, value), width="stretch")
