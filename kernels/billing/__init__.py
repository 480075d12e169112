"""Pure billing maths in exact numbers (Decimal / Fraction): no I/O, no database.

The rounding rule lives in :mod:`kernels.billing.money` and only there.
"""

from kernels.billing.money import CENT, ZERO, exact, quantity, round_money, to_cents
from kernels.billing.pricing import (
    SECONDS_PER_HOUR,
    Tier,
    TierCharge,
    Totals,
    apply_credits,
    billable_seconds,
    flat_amount,
    graduated,
    invoice_totals,
    split_commitment,
    volume,
)

__all__ = [
    "CENT",
    "SECONDS_PER_HOUR",
    "ZERO",
    "Tier",
    "TierCharge",
    "Totals",
    "apply_credits",
    "billable_seconds",
    "exact",
    "flat_amount",
    "graduated",
    "quantity",
    "invoice_totals",
    "round_money",
    "split_commitment",
    "to_cents",
    "volume",
]
