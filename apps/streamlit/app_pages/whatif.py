"""Allocation what-if: change prices, hashprice, power caps and GPU demand; re-solve and compare."""

import streamlit as st

from apps.streamlit.lib import charts, queries, ui, whatif

st.title("Allocation what-if")
current = whatif.current()
if current is None:
    ui.no_data()
    st.stop()
base, base_outcome, builder = current
facilities = queries.facilities()

with st.container(border=True):
    left, right = st.columns(2)
    price = left.slider("Energy price ×", 0.0, 5.0, 1.0, 0.1, key="wi_price")
    hashprice = right.slider(
        "Hashprice (USD per PH/s per day)",
        10.0,
        150.0,
        round(base.hashprice_usd_per_ph_day, 1),
        0.5,
        key="wi_hashprice",
    )
    demand = left.slider("GPU demand ×", 0.0, 2.0, 1.0, 0.05, key="wi_demand")
    caps = {}
    with right.expander("Facility power caps (% of contracted)"):
        for row in facilities.itertuples(index=False):
            caps[row.facility_id] = st.slider(
                row.facility_name, 0, 150, 100, 5, key=f"wi_cap_{row.facility_id}"
            )

scenario = whatif.Scenario(price, hashprice, demand, caps)
outcome = whatif.run(base, whatif.apply(base, scenario))
delta = outcome.objective - base_outcome.objective
cols = st.columns(4)
cols[0].metric("What-if profit (24 h)", ui.usd(outcome.objective), ui.usd(delta), border=True)
cols[1].metric("Base plan profit", ui.usd(base_outcome.objective), border=True)
cols[2].metric(
    "Devices running (last hour)",
    f"{outcome.running:,}",
    f"{outcome.running - base_outcome.running:+,}",
    border=True,
)
cols[3].metric(
    "Re-solve time",
    f"{outcome.seconds * 1000:.0f} ms",
    f"gap {outcome.gap:.2%}",
    delta_color="off",
    border=True,
)
st.plotly_chart(charts.whatif_mw(base_outcome.mw, outcome.mw), width="stretch")
st.caption(
    f"{len(base.problem.power_kw):,} devices × {len(base.hours)} hourly intervals, solved with the numba kernel "
    f"(kernels.allocation.solve); problem built by {builder} from the last 24 hours of marts."
)
