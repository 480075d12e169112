"""Operations: rack heatmaps, open anomalies, the allocation plan timeline, stale-data and quality warnings."""

import pandas as pd
import streamlit as st

from apps.streamlit.lib import charts, metrics, queries, ui

st.title("Operations")
facilities = queries.facilities()
if facilities.empty:
    ui.no_data()
    st.stop()

names = dict(zip(facilities["facility_id"], facilities["facility_name"], strict=True))
facility_id = st.selectbox(
    "Facility", list(names), format_func=lambda f: f"{names[f]} ({f})", key="ops_facility"
)
facility = facilities.set_index("facility_id").loc[facility_id]


@ui.live("operations", run_every="15s")
def warnings() -> None:
    stale = metrics.stale_facilities(queries.freshness(), pd.Timestamp.now(tz="UTC"), max_age_hours=2)
    for row in stale.itertuples(index=False):
        age = "no data" if pd.isna(row.age_hours) else f"last data {row.age_hours:g} h ago"
        st.warning(f"Stale data at {row.facility_name}: {age}.", icon=":material/schedule:")
    checks = queries.failing_checks()
    if not checks.empty:
        with st.expander(f"Data-quality checks failing: {len(checks)}", icon=":material/rule:"):
            st.dataframe(checks, hide_index=True, width="stretch")
    alerts = queries.alerts()
    if not alerts.empty:
        with st.expander(f"Recent alerts: {len(alerts)}", icon=":material/notifications:"):
            st.dataframe(alerts, hide_index=True, width="stretch")


@ui.live("operations", run_every="15s")
def heatmaps() -> None:
    racks = queries.rack_snapshot(facility_id)
    if racks.empty or racks["hour_start_at"].isna().all():
        ui.no_data("Device telemetry")
        return
    st.caption(f"Latest hour: {racks['hour_start_at'].max():%Y-%m-%d %H:%M} UTC")
    left, right = st.columns(2)
    left.plotly_chart(charts.rack_heatmap(racks, "avg_temperature_c", "Temperature °C"), width="stretch")
    right.plotly_chart(
        charts.rack_heatmap(racks, "utilization_pct", "Utilization / hashrate % of nominal", "Viridis"),
        width="stretch",
    )


warnings()
heatmaps()

st.subheader("Open anomalies")
anomalies = metrics.open_anomalies(queries.anomalies(), facility_id)
if anomalies.empty:
    st.info("No open anomalies for this facility (or the anomaly detector has not run yet).")
else:
    shown = ["device_id", "severity", "metric", "score", "anomaly_at", "end_at", "explanation", "detector"]
    event = st.dataframe(
        anomalies[[c for c in shown if c in anomalies]],
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="ops_anomalies",
    )
    rows = event.selection.rows if event else []
    if rows and "device_id" in anomalies:
        device_id = anomalies.iloc[rows[0]]["device_id"]
        if st.button(f"Open device {device_id}", key="ops_open_device"):
            ui.open_device(device_id)

st.subheader("Allocation plan")
plan = queries.plan_by_mode(facility_id)
if plan.empty:
    st.info("No allocation plan yet: it appears once the optimizer asset has run (`hcp materialize`).")
else:
    st.plotly_chart(charts.plan_timeline(plan, float(facility["power_cap_kw"]) / 1000), width="stretch")


@ui.live("operations", run_every="15s")
def live_fleet() -> None:
    """Last poll, unreachable machines, commands and commanded vs observed."""
    from apps.streamlit.lib import fleet_queries

    st.subheader("Live fleet")
    status = fleet_queries.last_poll(facility_id)
    if status.empty:
        st.info("No live poll yet: point the platform at the fleet (`hcp fleet poll`, see docs/fleet.md).")
        return
    unreachable = status[status["state"] == "unreachable"]
    counts = status["state"].value_counts()
    cols = st.columns(4)
    cols[0].metric("Last poll (UTC)", f"{pd.Timestamp(status['polled_at'].max()):%H:%M:%S}")
    cols[1].metric("Machines", len(status))
    cols[2].metric("Unreachable", len(unreachable))
    cols[3].metric("Mining / serving", int(counts.get("mining", 0) + counts.get("serving", 0)))
    if not unreachable.empty:
        st.warning(f"Unreachable: {', '.join(unreachable['device_id'])}", icon=":material/wifi_off:")
    commands = fleet_queries.commands(facility_id)
    if not commands.empty:
        by_status = commands["status"].value_counts()
        st.caption(
            " · ".join(
                f"{name}: {int(by_status.get(name, 0))}"
                for name in ("pending", "failed", "applied", "planned", "skipped")
            )
        )
        st.dataframe(commands, hide_index=True, width="stretch")
    alerts = fleet_queries.alerts()
    if alerts.empty:
        st.caption("Commanded vs observed: every checked command matched the next poll.")
    else:
        st.error(f"Commanded vs observed: {len(alerts)} alerts", icon=":material/report:")
        st.dataframe(alerts, hide_index=True, width="stretch")


live_fleet()
