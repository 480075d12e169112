"""Workloads: list with filters; detail with lifecycle timeline, sessions and billed amounts."""

import streamlit as st

from apps.streamlit.lib import charts, queries, ui

PAGE_SIZE = 25

st.title("Workloads")
filters = queries.workload_filters()
if filters.empty:
    ui.no_data()
    st.stop()

search = st.text_input("Search", placeholder="workload or customer id", key="wl_search")
cols = st.columns(3)
customers = sorted(filters["customer_id"].dropna().unique())
preset = st.session_state.pop("customer_id", None)
if preset in customers:
    st.session_state["wl_customer"] = preset
with cols[0]:
    customer = ui.select_or_all("Customer", customers, "wl_customer")
with cols[1]:
    workload_type = ui.select_or_all("Type", sorted(filters["workload_type"].dropna().unique()), "wl_type")
with cols[2]:
    pool = ui.select_or_all("GPU pool", sorted(filters["gpu_pool"].dropna().unique()), "wl_pool")

offset = (st.session_state.get("wl_page", 1) - 1) * PAGE_SIZE
page = queries.workloads(customer, workload_type, pool, search, PAGE_SIZE, offset)
total = int(page["total_rows"].iloc[0]) if not page.empty else 0
st.caption(f"{total:,} workloads match")
if page.empty:
    st.info("No workloads match these filters.")
else:
    event = st.dataframe(
        page.drop(columns=["total_rows"]),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="wl_table",
        column_config={
            "workload_id": st.column_config.TextColumn("Workload", pinned=True),
            "gpu_hours": st.column_config.NumberColumn("GPU h", format="%.1f"),
            "amount_usd": st.column_config.NumberColumn("Billed", format="$%.2f"),
        },
    )
    ui.paginate(total, PAGE_SIZE, "wl_page")
    rows = event.selection.rows if event else []
    if rows:
        st.session_state["workload_id"] = page.iloc[rows[0]]["workload_id"]

workload_id = st.session_state.get("workload_id")
if workload_id:
    st.divider()
    st.subheader(f"Workload {workload_id}")
    usage = queries.workload_usage(workload_id)
    if usage.empty:
        st.info("No billed usage for this workload yet.")
    else:
        first = usage.iloc[0]
        cols = st.columns(3)
        cols[0].metric("Customer", first["customer_id"], border=True)
        cols[1].metric("GPU hours", ui.number(usage["gpu_seconds"].sum() / 3600), border=True)
        cols[2].metric("Billed", ui.usd(usage["amount_usd"].sum(), 2), border=True)
    events = queries.workload_events(workload_id)
    sessions = queries.workload_sessions(workload_id)
    st.markdown("**Lifecycle**")
    if not events.empty:
        st.dataframe(events, hide_index=True, width="stretch")
    if not sessions.empty:
        sessions = sessions.assign(span=[f"span {i + 1}" for i in range(len(sessions))])
        st.plotly_chart(charts.sessions_timeline(sessions, "started_at", "ended_at", "span"), width="stretch")
        st.markdown("**Sessions**")
        st.dataframe(sessions.drop(columns=["span"]), hide_index=True, width="stretch")
    elif not usage.empty and usage["first_piece_start_at"].notna().any():
        spans = usage.assign(day=usage["usage_date"].astype(str))
        st.plotly_chart(
            charts.sessions_timeline(spans, "first_piece_start_at", "last_piece_end_at", "day"),
            width="stretch",
        )
        st.caption("Running span per day (first start to last stop); sessions appear once invoiced.")
    elif events.empty:
        st.info("Sessions appear once the workload has been invoiced.")
    if not usage.empty:
        st.markdown("**Billed usage by day**")
        st.dataframe(usage, hide_index=True, width="stretch")
