"""Pricing maths on hand-computed cases: every expected value below is worked out by hand."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from kernels.billing import (
    Tier,
    apply_credits,
    billable_seconds,
    flat_amount,
    graduated,
    invoice_totals,
    round_money,
    split_commitment,
    to_cents,
    volume,
)

D = Decimal
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("-0.005", "-0.01"),
        ("2.675", "2.68"),  # a float would give 2.67
        ("1.234", "1.23"),
        ("10", "10.00"),
    ],
)
def test_round_money_half_up_to_cent(value, expected):
    assert round_money(D(value)) == D(expected)
    assert str(round_money(D(value))) == expected


def test_round_money_exact_fraction_and_refuses_float():
    assert round_money(Fraction(1, 3)) == D("0.33")
    assert round_money(Fraction(2, 3)) == D("0.67")
    with pytest.raises(TypeError):
        round_money(0.1)  # type: ignore[arg-type]


def test_billable_seconds_minimum_increment():
    assert billable_seconds(0, 60) == 0
    assert billable_seconds(1, 60) == 60
    assert billable_seconds(60, 60) == 60
    assert billable_seconds(61, 60) == 120
    assert billable_seconds(61, 1) == 61


def test_flat_amount_exact():
    # 1 GPU-hour and 30 s at 2.49/h: 2.49 + 2.49 * 30 / 3600 = 2.49 + 0.02075 = 2.51075
    assert flat_amount(3630, D("2.49")) == Fraction(251075, 100000)
    assert round_money(flat_amount(3630, D("2.49"))) == D("2.51")


TIERS = [Tier(D("100"), D("2.00")), Tier(D("500"), D("1.50")), Tier(None, D("1.00"))]


def test_graduated_tiers_hand_computed():
    # 650 h: 100 h x 2.00 + 400 h x 1.50 + 150 h x 1.00 = 200 + 600 + 150 = 950
    charges = graduated(650 * 3600, TIERS)
    assert [c.tier_no for c in charges] == [1, 2, 3]
    assert [c.gpu_seconds / 3600 for c in charges] == [100, 400, 150]
    assert sum(c.amount for c in charges) == 950
    # exactly on a bound stays in the lower band
    assert sum(c.amount for c in graduated(100 * 3600, TIERS)) == 200
    assert len(graduated(100 * 3600, TIERS)) == 1


def test_graduated_flat_fee_and_fraction():
    tiers = [Tier(D("10"), D("3.00"), D("5.00")), Tier(None, D("2.00"), D("1.00"))]
    # 10.5 h: 5 + 10 x 3 + 1 + 0.5 x 2 = 37
    assert sum(c.amount for c in graduated(37800, tiers)) == 37


def test_volume_tiers_hand_computed():
    # 650 h falls in the last band: all of it at 1.00
    assert volume(650 * 3600, TIERS).amount == 650
    # 300 h falls in band 2: all at 1.50 = 450
    charge = volume(300 * 3600, TIERS)
    assert (charge.tier_no, charge.amount) == (2, 450)
    assert volume(0, TIERS).amount == 0


def test_bad_tiers_rejected():
    with pytest.raises(ValueError):
        graduated(1, [Tier(D("10"), D("1"))])
    with pytest.raises(ValueError):
        volume(1, [Tier(D("10"), D("1")), Tier(D("5"), D("1")), Tier(None, D("1"))])


def test_commitment_covers_usage_in_order():
    assert split_commitment(100, [30, 50, 40, 10]) == [(30, 0), (50, 0), (20, 20), (0, 10)]
    assert split_commitment(0, [5]) == [(0, 5)]


def test_credits_applied_in_order_up_to_due():
    assert apply_credits(D("150.00"), [("a", D("100.00")), ("b", D("100.00"))]) == [
        ("a", D("100.00")),
        ("b", D("50.00")),
    ]
    assert apply_credits(D("0"), [("a", D("1"))]) == []


def test_invoice_totals_order_discount_tax_credit():
    # subtotal 1000.05; 10 % discount = 100.005 -> 100.01; taxable 900.04; tax 8.25 % = 74.2533 -> 74.25
    totals = invoice_totals([D("600.02"), D("400.03")], D("10"), D("0.0825"), D("50"))
    assert totals.subtotal == D("1000.05")
    assert totals.discount == D("100.01")
    assert totals.tax == D("74.25")
    assert totals.gross == D("974.29")
    assert totals.credit == D("50")
    assert totals.total == D("924.29")
    # credit never exceeds what is owed
    assert invoice_totals([D("10")], D("0"), D("0"), D("25")).total == D("0")


def test_to_cents():
    assert to_cents(D("12.34")) == 1234
    with pytest.raises(ValueError):
        to_cents(D("0.001"))


def test_rounding_lives_in_one_place():
    """Only kernels/billing/money.py quantizes or rounds money; the billing code calls round_money."""
    offenders = []
    for folder in ("kernels/billing", "orchestration/billing", "assets"):
        for path in (ROOT / folder).rglob("*.py"):
            # money.py holds the rule; bench.py rounds timings (floats), not money
            if path.name in ("money.py", "bench.py") or (folder == "assets" and path.name != "billing.py"):
                continue
            text = path.read_text()
            if re.search(r"\.quantize\(|ROUND_HALF|\bround\(", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], offenders
