"""Resources: device browser with filters, free-text search, pagination and utilization bars."""

import streamlit as st

from apps.streamlit.lib import queries, ui

PAGE_SIZE = 25

st.title("Resources")
facilities = queries.facilities()
models = queries.device_models()
if facilities.empty or models.empty:
    ui.no_data()
    st.stop()

search = st.text_input("Search", placeholder="device id, model, rack or facility", key="res_search")
cols = st.columns(4)
with cols[0]:
    facility = ui.select_or_all("Facility", facilities["facility_id"].tolist(), "res_facility")
with cols[1]:
    kind = ui.select_or_all("Kind", sorted(models["device_kind"].unique()), "res_kind")
with cols[2]:
    model_options = models if kind is None else models[models["device_kind"] == kind]
    model = ui.select_or_all("Model", sorted(model_options["hardware_model"].unique()), "res_model")
with cols[3]:
    status = ui.select_or_all("Status", ["running", "idle", "offline"], "res_status")


@ui.live("resources", run_every="20s")
def browser() -> None:
    offset = (st.session_state.get("res_page", 1) - 1) * PAGE_SIZE
    page = queries.devices(facility, kind, model, status, search, PAGE_SIZE, offset)
    if page.empty and offset:
        page = queries.devices(facility, kind, model, status, search, PAGE_SIZE, 0)
    total = int(page["total_rows"].iloc[0]) if not page.empty else 0
    st.caption(f"{total:,} devices match")
    if page.empty:
        st.info("No devices match these filters.")
        return
    event = st.dataframe(
        page[
            [
                "device_id",
                "status",
                "utilization_pct",
                "device_kind",
                "hardware_model",
                "facility_name",
                "rack",
                "avg_power_kw",
                "avg_temperature_c",
            ]
        ],
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="res_table",
        column_config={
            "device_id": st.column_config.TextColumn("Device", pinned=True),
            "utilization_pct": st.column_config.ProgressColumn(
                "Utilization", min_value=0, max_value=100, format="%.0f%%"
            ),
            "device_kind": "Kind",
            "hardware_model": "Model",
            "facility_name": "Facility",
            "avg_power_kw": st.column_config.NumberColumn("Power kW", format="%.2f"),
            "avg_temperature_c": st.column_config.NumberColumn("Temp °C", format="%.1f"),
        },
    )
    ui.paginate(total, PAGE_SIZE, "res_page")
    rows = event.selection.rows if event else []
    if rows:
        ui.open_device(page.iloc[rows[0]]["device_id"])


browser()
