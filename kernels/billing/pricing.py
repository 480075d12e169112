"""Pricing maths on exact numbers: metering increments, flat / graduated / volume tiers,
committed use, credits, discount and tax. Quantities are GPU-seconds (int); prices are USD per
GPU-hour (Decimal). Functions return exact Fractions for amounts that a line item will round,
and rounded Decimals (through :func:`kernels.billing.money.round_money`) for invoice totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from kernels.billing.money import ZERO, exact, round_money

SECONDS_PER_HOUR = 3600


def billable_seconds(seconds: int, min_increment_seconds: int) -> int:
    """``seconds`` rounded up to a whole number of increments (metered per second, minimum billable
    increment): 61 s at a 60 s increment bills 120 s; 0 s bills 0 s. Applied once per metered
    piece (one device, one customer-local day, one rate-card version; see kernels.billing)."""
    if seconds < 0:
        raise ValueError(f"negative usage: {seconds} s")
    step = max(1, int(min_increment_seconds))
    return -(-seconds // step) * step


def flat_amount(gpu_seconds: int | Fraction, price_usd_per_gpu_hour: Decimal) -> Fraction:
    """Exact (unrounded) USD for ``gpu_seconds`` at a flat GPU-hour price."""
    return exact(gpu_seconds) * exact(price_usd_per_gpu_hour) / SECONDS_PER_HOUR


@dataclass(frozen=True)
class Tier:
    """One band of a tiered price: usage up to ``up_to_gpu_hours`` (None: unbounded) at ``unit_price``
    USD per GPU-hour, plus a ``flat_fee`` charged once when the band is reached."""

    up_to_gpu_hours: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True)
class TierCharge:
    """The part of a quantity priced in one band: GPU-seconds, unit price, exact amount."""

    tier_no: int
    gpu_seconds: Fraction
    unit_price: Decimal
    flat_fee: Decimal
    amount: Fraction  # exact: gpu_seconds * unit_price / 3600 + flat_fee


def _check_tiers(tiers: Sequence[Tier]) -> None:
    if not tiers:
        raise ValueError("a tiered price needs at least one tier")
    bounds = [t.up_to_gpu_hours for t in tiers]
    if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
        raise ValueError("only the last tier is unbounded (up_to_gpu_hours None)")
    finite = [exact(b) for b in bounds[:-1]]
    if finite != sorted(finite) or len(set(finite)) != len(finite):
        raise ValueError("tier bounds must increase strictly")


def graduated(gpu_seconds: int | Fraction, tiers: Sequence[Tier]) -> list[TierCharge]:
    """Graduated tiers: each band prices only the usage that falls inside it. Returns one charge per
    band reached (a band is reached when usage exceeds its lower bound, or it is the first band)."""
    _check_tiers(tiers)
    quantity = exact(gpu_seconds)
    charges, lower = [], Fraction(0)
    for no, tier in enumerate(tiers, start=1):
        upper = None if tier.up_to_gpu_hours is None else exact(tier.up_to_gpu_hours) * SECONDS_PER_HOUR
        if no > 1 and quantity <= lower:
            break
        inside = (quantity if upper is None else min(quantity, upper)) - lower
        inside = max(inside, Fraction(0))
        amount = flat_amount(inside, tier.unit_price) + exact(tier.flat_fee)
        charges.append(TierCharge(no, inside, tier.unit_price, tier.flat_fee, amount))
        if upper is None or quantity <= upper:
            break
        lower = upper
    return charges


def volume(gpu_seconds: int | Fraction, tiers: Sequence[Tier]) -> TierCharge:
    """Volume tiers: the band the whole quantity falls in prices all of it."""
    _check_tiers(tiers)
    quantity = exact(gpu_seconds)
    for no, tier in enumerate(tiers, start=1):
        upper = None if tier.up_to_gpu_hours is None else exact(tier.up_to_gpu_hours) * SECONDS_PER_HOUR
        if upper is None or quantity <= upper:
            amount = flat_amount(quantity, tier.unit_price) + exact(tier.flat_fee)
            return TierCharge(no, quantity, tier.unit_price, tier.flat_fee, amount)
    raise AssertionError("unreachable: the last tier is unbounded")


def split_commitment(committed_seconds: int, usage_seconds: Sequence[int]) -> list[tuple[int, int]]:
    """Committed use: the reserved GPU-seconds cover usage in the given (chronological) order.
    Returns, per usage entry, ``(covered, overage)`` seconds; overage is billed on demand."""
    left = max(0, int(committed_seconds))
    result = []
    for seconds in usage_seconds:
        covered = min(left, seconds)
        left -= covered
        result.append((covered, seconds - covered))
    return result


def apply_credits(amount_due: Decimal, balances: Sequence[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """Prepaid credits, in the given order (soonest expiry first), up to ``amount_due``.
    Returns ``(credit_id, applied)`` for each credit used (applied > 0)."""
    due = max(Decimal(amount_due), ZERO)
    used = []
    for credit_id, remaining in balances:
        if due <= 0:
            break
        applied = min(Decimal(remaining), due)
        if applied > 0:
            used.append((credit_id, applied))
            due -= applied
    return used


@dataclass(frozen=True)
class Totals:
    """Invoice totals, every field rounded to the cent: total = subtotal - discount + tax - credit."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    credit: Decimal
    total: Decimal

    @property
    def gross(self) -> Decimal:
        """What the customer owes before prepaid credits: subtotal - discount + tax."""
        return self.subtotal - self.discount + self.tax


def invoice_totals(
    line_amounts: Sequence[Decimal], discount_pct: Decimal, tax_rate: Decimal, credit: Decimal = ZERO
) -> Totals:
    """Totals of an invoice from its (already rounded) line amounts.

    Order: discount on the subtotal, tax on the discounted subtotal, then prepaid credits (a
    prepayment, so they do not reduce the taxable amount) up to what is owed."""
    subtotal = sum((Decimal(a) for a in line_amounts), ZERO)
    discount = round_money(exact(subtotal) * exact(discount_pct) / 100)
    tax = round_money(exact(subtotal - discount) * exact(tax_rate))
    owed = subtotal - discount + tax
    applied = min(max(Decimal(credit), ZERO), max(owed, ZERO))
    return Totals(subtotal, discount, tax, applied, owed - applied)
