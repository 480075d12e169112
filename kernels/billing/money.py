"""The one rounding rule for money, written down once.

Rule: amounts are computed exactly (``fractions.Fraction`` from Decimal inputs, never floats) and
rounded once, per invoice line item (and for each invoice-level amount: discount, tax), to the
cent, half-up (ties away from zero: 0.005 -> 0.01, -0.005 -> -0.01). Sums of rounded line items
are exact and never rounded again. Every rounding of money in the platform calls
:func:`round_money`; nothing else quantizes.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

Number = Decimal | Fraction | int


def exact(value: Number | str) -> Fraction:
    """``value`` as an exact Fraction (Decimal and str convert without loss); floats are refused."""
    if isinstance(value, float):
        raise TypeError("money is never a float: pass Decimal, int, str or Fraction")
    if isinstance(value, str):
        value = Decimal(value)
    return Fraction(value)


def round_money(value: Number | str) -> Decimal:
    """``value`` rounded half-up to the cent: a Decimal with exactly two decimal places."""
    amount = exact(value)
    sign = -1 if amount < 0 else 1
    cents = int(abs(amount) * 100 + Fraction(1, 2))  # floor(|x| * 100 + 1/2): half-up on |x|
    return (Decimal(sign * cents) / 100).quantize(CENT)


def to_cents(amount: Decimal) -> int:
    """A rounded amount as integer cents (for Stripe); raises if ``amount`` is not whole cents."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of cents: round it with round_money first")
    return int(cents)


QUANTITY_PLACES = Decimal("0.000001")


def quantity(value: Number) -> Decimal:
    """A quantity (GPU-hours, MWh) for display on a line, half-up to 6 decimals. Amounts are never
    computed from this rounded figure, only from the exact quantity."""
    amount = exact(value)
    sign = -1 if amount < 0 else 1
    units = int(abs(amount) * 1_000_000 + Fraction(1, 2))
    return (Decimal(sign * units) / 1_000_000).quantize(QUANTITY_PLACES)
