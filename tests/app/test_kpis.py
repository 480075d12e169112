"""The executive KPI cards against figures recomputed here, independently of the page's query: money
from the device-level mart (the page reads the facility rollup) and curtailment from the raw
demand-response events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import psycopg

from tests.app.helpers import signed_in


def _frame(url: str, query: str, params: tuple = ()) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def _dollars(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _cards(role: str, period: str) -> dict[str, tuple[str, str | None, str]]:
    at = signed_in(role)
    at.segmented_control(key="exec_period").set_value(period).run()
    assert not at.exception, [e.value for e in at.exception]
    return {m.label: (m.value, m.delta, m.help) for m in at.metric}


def test_money_cards_match_the_device_mart(fleet_url):
    hours = _frame(
        fleet_url,
        "select hour_start_at, energy_cost_usd, mining_revenue_usd, inference_revenue_usd "
        "from marts.fct_device_hourly",
    )
    end = hours["hour_start_at"].max() + timedelta(hours=1)
    start, previous = end - timedelta(days=1), end - timedelta(days=2)
    now = hours[hours["hour_start_at"] >= start]
    before = hours[(hours["hour_start_at"] >= previous) & (hours["hour_start_at"] < start)]
    assert len(now) and len(before)
    cards = _cards("finance", "24 hours")
    for label, column in (
        ("Energy cost", "energy_cost_usd"),
        ("Mining revenue", "mining_revenue_usd"),
        ("Inference revenue", "inference_revenue_usd"),
    ):
        total, prior = float(sum(now[column], Decimal(0))), float(sum(before[column], Decimal(0)))
        assert total > 0, column
        change = (total - prior) / abs(prior) * 100
        assert cards[label][:2] == (f"${total:,.0f}", f"{change:+.1f}%"), (label, cards[label])


def test_curtailment_card_matches_raw_demand_response_events(fleet_url):
    events = _frame(
        fleet_url,
        "select facility_id, start_at, end_at, curtail_kw, credit_usd_per_mwh from raw.demand_response_events",
    )
    bounds = _frame(
        fleet_url,
        "select min(hour_start_at) as first_at, max(hour_start_at) + interval '1 hour' as end_at "
        "from marts.fct_facility_hourly",
    ).iloc[0]
    # 28 days covers the whole fleet: every event, clipped to the hours the marts hold
    overlap = (
        events["end_at"].clip(upper=bounds["end_at"]) - events["start_at"].clip(lower=bounds["first_at"])
    ).dt.total_seconds().clip(lower=0) / 3600
    mwh = float((events["curtail_kw"].astype(float) * overlap).sum() / 1000)
    credits = float(
        (events["curtail_kw"].astype(float) * events["credit_usd_per_mwh"].astype(float) * overlap).sum()
        / 1000
    )
    assert mwh > 0, "the fleet has no curtailment to check"
    cards = _cards("viewer", "28 days")
    value, _, help_text = cards["Curtailed energy"]
    assert abs(float(value.removesuffix(" MWh").replace(",", "")) - mwh) <= 0.005 + 1e-9, (value, mwh)
    assert "avoided" in help_text and "$" in help_text
    # total revenue = device mining + inference + demand-response credits (credits rounded per hour)
    device = _frame(
        fleet_url,
        "select sum(mining_revenue_usd + inference_revenue_usd) as usd from marts.fct_device_hourly",
    ).iloc[0, 0]
    assert (
        abs(_dollars(cards["Total revenue"][0]) - (float(device) + credits))
        <= 0.5 + 0.01 * len(events) + 1e-6
    )
