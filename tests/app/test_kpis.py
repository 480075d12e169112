"""The executive KPI cards on a hand-checked case: two facilities, one hour now and one a week earlier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from apps.streamlit import synthetic
from apps.streamlit.benchmark import scratch_database
from tests.app.helpers import add_role_users, signed_in, using

HOUR = datetime(2026, 11, 20, 12, tzinfo=UTC)
# facility, hour, mining, inference, credits, energy cost, MWh, margin, curtailed MWh, avoided, GPU util %, GPUs
ROWS = [
    ("F1", HOUR, 600, 300, 100, 400, 10, 600, 2, 80, 50.0, 10),
    ("F2", HOUR, 400, 100, 0, 100, 5, 400, 0, 0, 80.0, 30),
    ("F1", HOUR - timedelta(days=7), 800, 200, 0, 500, 10, 500, 0, 0, 50.0, 10),
]


def _seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(synthetic.MARTS_DDL)
        conn.execute(
            "insert into marts.dim_facilities (facility_id, facility_name, power_cap_kw, pue) "
            "values ('F1', 'Alpha', 20000, 1.1), ('F2', 'Beta', 10000, 1.2)"
        )
        for f, at, mining, inference, credit, cost, mwh, margin, curtailed, avoided, util, gpus in ROWS:
            conn.execute(
                """insert into marts.fct_facility_hourly (facility_id, hour_start_at, mining_revenue_usd,
                       inference_revenue_usd, demand_response_credit_usd, total_revenue_usd, energy_cost_usd,
                       energy_mwh, margin_usd, curtailed_mwh, avoided_energy_cost_usd, gpu_utilization_pct, gpu_count)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (
                    f,
                    at,
                    mining,
                    inference,
                    credit,
                    mining + inference + credit,
                    cost,
                    mwh,
                    margin,
                    curtailed,
                    avoided,
                    util,
                    gpus,
                ),
            )


def test_kpi_cards_hand_checked(database_url):
    with scratch_database(database_url, "hcp_app_kpi") as url, using(url):
        _seed(url)
        add_role_users()
        at = signed_in("viewer")
        cards = {m.label: (m.value, m.delta) for m in at.metric}
    # current week: revenue 1000 + 500, previous week: 1000 (F1 only)
    assert cards["Total revenue"] == ("$1,500", "+50.0%")
    assert cards["Mining revenue"] == ("$1,000", "+25.0%")
    assert cards["Inference revenue"] == ("$400", "+100.0%")
    assert cards["Energy cost"] == ("$500", "+0.0%")
    assert cards["Gross margin"] == ("$1,000", "+100.0%")
    # (600 + 400) / (10 + 5) MWh = 66.67 vs 500 / 10 = 50
    assert cards["Margin per MWh"] == ("$66.67", "+33.3%")
    # GPU-weighted: (50 * 10 + 80 * 30) / 40 = 72.5 vs 50
    assert cards["GPU utilization"] == ("72.5 %", "+45.0%")
    assert cards["Curtailed MWh · $80 avoided"][0] == "2.0 MWh"
