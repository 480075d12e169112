"""Pure billing maths in exact numbers (Decimal / Fraction): no I/O, no database.

Two rules, each written down once:

- Metering (quantities): a metered piece is one device's running session within one calendar day
  in the customer's own time zone under one rate-card version (sessions are cut at each local
  midnight and at each effective time of a card in force). Each piece's seconds are rounded up to
  the card's minimum billable increment ONCE (:func:`billable_seconds`); sums of pieces are never
  rounded again. dbt applies it in ``int_workload_usage_billable`` (summed by ``marts.fct_usage``,
  which invoices read); the reconciliation applies it in Python from raw events
  (``billing.engine.meter``). Both must agree to the second.
- Money: amounts are exact until one rounding per invoice line item (and per invoice-level amount:
  discount, tax), half-up to the cent, in :func:`round_money` (:mod:`kernels.billing.money`) and
  only there.
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
