"""What-if: the current problem from the marts, re-solved with the numba kernel under scenario knobs."""

from __future__ import annotations

import time

import psycopg


def test_scenarios_move_profit_and_resolve_fast(fleet_url):
    from apps.streamlit.lib import whatif

    with psycopg.connect(fleet_url) as conn:
        devices, facilities, pools = conn.execute(
            "select count(*), count(distinct facility_id), count(distinct gpu_pool) from marts.dim_devices"
        ).fetchone()
    base, outcome, builder = whatif.current()
    assert builder == "kernels.planning.build_problem"
    assert base.problem.sizes == {"D": devices, "T": 24, "F": facilities, "K": pools}
    same = whatif.run(base, whatif.apply(base, whatif.Scenario()))
    assert abs(same.objective - outcome.objective) <= 1e-6 * max(1.0, abs(outcome.objective))

    start = time.perf_counter()
    dear = whatif.run(base, whatif.apply(base, whatif.Scenario(price_multiplier=5.0)))
    assert time.perf_counter() - start < 1.0
    assert dear.objective < outcome.objective

    dark = whatif.run(
        base, whatif.apply(base, whatif.Scenario(cap_pct=dict.fromkeys(base.facility_ids, 0.0)))
    )
    assert dark.mw["mw"].max() == 0
    rich = whatif.run(base, whatif.apply(base, whatif.Scenario(hashprice_usd_per_ph_day=150.0)))
    mined = rich.mw[rich.mw["mode"] == "mine"]["mw"].sum()
    assert mined >= outcome.mw[outcome.mw["mode"] == "mine"]["mw"].sum()
