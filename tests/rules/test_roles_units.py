"""Roles and hashprice units are defined once (core/) and everything else uses that definition."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from apps.streamlit.lib import auth
from core.roles import APP_ROLES
from kernels.forecasting.sources import hashprice
from kernels.hashprice import network_hashrate_ths, per_th_day_from_ph_day, per_th_hour, ph_day_from_th_hour
from orchestration import cli_app
from tests.app import helpers


def test_app_roles_are_one_tuple_and_match_the_database(conn):
    assert auth.ROLES is APP_ROLES and cli_app.ROLES is APP_ROLES and helpers.ROLES is APP_ROLES
    assert set().union(*auth.PAGE_ROLES.values()) <= set(APP_ROLES)
    definition = conn.execute(
        """select pg_get_constraintdef(c.oid) from pg_constraint c
           where c.conrelid = 'ops.app_users'::regclass and c.contype = 'c'
             and pg_get_constraintdef(c.oid) like '%%role%%'"""
    ).fetchone()[0]
    assert sorted(v for v in APP_ROLES if f"'{v}'" in definition) == sorted(APP_ROLES)
    assert definition.count("'") == 2 * len(APP_ROLES)


def test_hashprice_units_round_trip():
    assert per_th_hour(2.4) == pytest.approx(0.1)
    assert per_th_day_from_ph_day(50.0) == pytest.approx(0.05)
    assert ph_day_from_th_hour(per_th_hour(per_th_day_from_ph_day(50.0))) == pytest.approx(50.0)


def test_hashprice_follows_the_design_formula():
    difficulty = 1.0e14
    assert network_hashrate_ths(difficulty) == pytest.approx(difficulty * 2**32 / 600 / 1e12)
    btc = pd.DataFrame(
        {
            "observed_at": [pd.Timestamp("2026-11-01")],
            "btc_price_usd": [90_000.0],
            "difficulty": [difficulty],
            "block_subsidy_btc": [3.125],
            "fees_btc_per_block": [0.05],
        }
    )
    expected = (3.125 + 0.05) * 144 * 90_000 / (difficulty * 2**32 / 600 / 1e12)
    assert math.isclose(hashprice(btc).iloc[0], expected, rel_tol=1e-12)
