"""Device detail: metric history (power, temperature, hashrate or utilization), anomalies, planned modes."""

import streamlit as st

from apps.streamlit.lib import charts, queries, ui

st.title("Device detail")
if "device" in st.query_params:
    st.session_state["device_lookup"] = st.query_params["device"]
st.session_state.setdefault("device_lookup", st.session_state.get("device_id") or "")
device_id = st.text_input("Device id", key="device_lookup").strip() or None
if device_id is None:
    st.info("Pick a device in Resources or type its id above.")
    st.stop()

info = queries.device(device_id)
if info.empty:
    st.warning(f"No device {device_id!r} in the marts (or no data yet: run `hcp materialize`).")
    st.stop()
row = info.iloc[0]
st.session_state["device_id"] = device_id
is_gpu = row["device_kind"] == "gpu"
st.caption(
    f"{row['hardware_model']} · {row['device_kind'].upper()} · {row['facility_name']} · rack {row['rack']} "
    f"slot {row['rack_slot']} · nominal {row['nominal_power_kw']:.2f} kW"
)
hours = (
    st.segmented_control(
        "History", [24, 72, 168, 672], default=168, format_func=lambda h: f"{h} h", key="device_hours"
    )
    or 168
)


@ui.live("device", run_every="10s")
def history() -> None:
    df = queries.device_history(device_id, int(hours))
    if df.empty:
        ui.no_data("Metric history")
        return
    last = df.iloc[-1]
    cols = st.columns(3)
    cols[0].metric("Power", ui.number(last["avg_power_kw"], "kW", 2), border=True)
    cols[1].metric("Temperature", ui.number(last["avg_temperature_c"], "°C"), border=True)
    if is_gpu:
        cols[2].metric("GPU utilization", ui.number(last["avg_gpu_util_pct"], "%"), border=True)
    else:
        cols[2].metric("Hashrate", ui.number(last["avg_hashrate_ths"], "TH/s"), border=True)
    st.plotly_chart(charts.device_history(df, is_gpu), width="stretch")
    st.caption(
        f"Margin over the window: {ui.usd(df['margin_usd'].sum(), 2)}; last hour {last['hour_start_at']:%Y-%m-%d %H:%M} UTC"
    )


history()
st.subheader("Anomalies")
anomalies = queries.anomalies(device_id)
if anomalies.empty:
    st.info("No anomalies recorded for this device.")
else:
    st.dataframe(anomalies, hide_index=True, width="stretch")
st.subheader("Planned modes")
plan = queries.device_plan(device_id)
if plan.empty:
    st.info("No allocation plan for this device yet.")
else:
    st.plotly_chart(charts.mode_strip(plan), width="stretch")
