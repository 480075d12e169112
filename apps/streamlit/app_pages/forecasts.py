"""Forecasts: champion forecast against actuals with intervals, backtest metrics per series, model registry."""

from datetime import timedelta

import streamlit as st

from apps.streamlit.lib import charts, metrics, queries, ui

st.title("Forecasts")
series = queries.forecast_series()
if series.empty:
    ui.no_data("Forecasts")
else:
    chosen = st.selectbox("Series", series["series"].tolist(), key="fc_series")
    df = queries.forecast(chosen)
    bounds = queries.data_bounds()
    actual = None
    if bounds is not None and not df.empty:
        start = min(df["target_at"].min().to_pydatetime(), bounds[1]) - timedelta(days=3)
        actual = metrics.match_actuals(chosen, queries.actuals_for_forecast(start, bounds[1]))
    st.plotly_chart(
        charts.forecast(df, "target_at", "yhat", "yhat_lower", "yhat_upper", actual), width="stretch"
    )
    if actual is None:
        st.caption("No matching actuals in the marts for this series.")

st.subheader("Backtest metrics")
backtest = queries.forecast_metrics()
if backtest.empty:
    st.info("No backtests yet.")
else:
    st.dataframe(backtest, hide_index=True, width="stretch")

st.subheader("Model registry")
registry = queries.models()
if registry.empty:
    st.info("No models registered yet.")
else:
    st.dataframe(registry, hide_index=True, width="stretch")
