"""Prices, contracts and customers as of a billing run: every versioned table read once.

A version applies from its ``effective_from``; the newest version not after an instant wins.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import psycopg

from kernels.billing import Tier


@dataclass(frozen=True)
class Customer:
    customer_id: str
    timezone: str
    tax_rate: Decimal
    customer_type: str


@dataclass(frozen=True)
class RateCard:
    rate_card_id: str
    customer_id: str | None
    gpu_model: str
    workload_type: str
    price: Decimal  # USD per GPU-hour
    min_increment_seconds: int
    effective_from: datetime


@dataclass(frozen=True)
class PricePlan:
    plan_id: str
    customer_id: str | None
    gpu_model: str
    workload_type: str
    pricing_model: str  # graduated | volume
    effective_from: datetime
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    customer_id: str
    gpu_pool: str
    reserved_gpus: int
    rate: Decimal
    effective_from: datetime
    effective_to: datetime | None


@dataclass(frozen=True)
class ColocationContract:
    contract_id: str
    customer_id: str
    facility_id: str
    rack: str
    adder_usd_per_mwh: Decimal
    effective_from: datetime


@dataclass
class Catalog:
    """Everything pricing needs, keyed for lookups."""

    customers: dict[str, Customer]
    cards: dict[tuple[str | None, str, str], list[RateCard]]  # (customer|None, model, type) -> by date
    plans: list[PricePlan]
    commitments: list[Commitment]
    discounts: dict[str, list[tuple[datetime, Decimal]]]
    colocation: list[ColocationContract]
    pool_models: dict[str, str] = field(default_factory=dict)
    versions: dict[tuple[str, datetime], RateCard] = field(default_factory=dict)

    def card_windows(self, customer_id: str, model: str, wtype: str) -> list[RateCard]:
        """The cards in force over time for one customer and product, sorted by effective_from:
        the customer's own cards from its first one on, the list cards before that."""
        own = self.cards.get((customer_id, model, wtype), [])
        listed = self.cards.get((None, model, wtype), [])
        if not own:
            return listed
        first_own = own[0].effective_from
        return [c for c in listed if c.effective_from < first_own] + own

    def plan_for(self, customer_id: str, model: str, wtype: str, period_start: datetime) -> PricePlan | None:
        """The tiered plan in force for a whole period (effective on or before its start), if any;
        a customer's own plan wins over a plan for everyone."""
        best = None
        for plan in self.plans:
            if plan.gpu_model != model or plan.workload_type != wtype or plan.effective_from > period_start:
                continue
            if plan.customer_id not in (None, customer_id):
                continue
            rank = (plan.customer_id is not None, plan.effective_from)
            if best is None or rank > best[0]:
                best = (rank, plan)
        return best[1] if best else None

    def card_version(self, rate_card_id: str, effective_from: datetime) -> RateCard | None:
        """The card version ``(rate_card_id, effective_from)``, if known."""
        if not self.versions:
            self.versions.update(
                {(c.rate_card_id, c.effective_from): c for versions in self.cards.values() for c in versions}
            )
        return self.versions.get((rate_card_id, effective_from))

    def discount_pct(self, customer_id: str, at: datetime) -> Decimal:
        """The customer's discount percentage in force at ``at`` (0 without one)."""
        versions = self.discounts.get(customer_id, [])
        index = bisect_right([v[0] for v in versions], at)
        return versions[index - 1][1] if index else Decimal(0)


def card_at(windows: list[RateCard], at: datetime) -> RateCard | None:
    """The card in force at ``at`` among ``windows`` (sorted), or None if none had started."""
    index = bisect_right([c.effective_from for c in windows], at)
    return windows[index - 1] if index else None


def load_catalog(conn: psycopg.Connection) -> Catalog:
    """Read customers, rate cards, plans, commitments, discounts and colocation contracts."""
    customers = {
        row[0]: Customer(row[0], row[1], Decimal(row[2]), row[3])
        for row in conn.execute(
            "select customer_id, timezone, tax_rate, customer_type from staging.stg_raw__customers"
        )
    }
    cards: dict[tuple[str | None, str, str], list[RateCard]] = {}
    for row in conn.execute(
        """select rate_card_id, customer_id, gpu_model, workload_type, price_usd_per_gpu_hour,
                  min_increment_seconds, effective_at
           from staging.stg_raw__rate_cards order by rate_card_id, effective_at"""
    ):
        card = RateCard(row[0], row[1], row[2], row[3], Decimal(row[4]), int(row[5]), row[6])
        cards.setdefault((card.customer_id, card.gpu_model, card.workload_type), []).append(card)
    for versions in cards.values():
        versions.sort(key=lambda c: (c.effective_from, c.rate_card_id))
    tiers: dict[str, list[Tier]] = {}
    for plan_id, up_to, price, fee in conn.execute(
        """select plan_id, up_to_gpu_hours, unit_price_usd_per_gpu_hour, flat_fee_usd
           from billing.price_plan_tiers order by plan_id, tier_no"""
    ):
        tiers.setdefault(plan_id, []).append(Tier(up_to, Decimal(price), Decimal(fee)))
    plans = [
        PricePlan(r[0], r[1], r[2], r[3], r[4], r[5], tuple(tiers.get(r[0], ())))
        for r in conn.execute(
            """select plan_id, customer_id, gpu_model, workload_type, pricing_model, effective_from
               from billing.price_plans"""
        )
    ]
    commitments = [
        Commitment(r[0], r[1], r[2], int(r[3]), Decimal(r[4]), r[5], r[6])
        for r in conn.execute(
            """select commitment_id, customer_id, gpu_pool, reserved_gpus, rate_usd_per_gpu_hour,
                      effective_from, effective_to from billing.commitments order by commitment_id"""
        )
    ]
    discounts: dict[str, list[tuple[datetime, Decimal]]] = {}
    for cid, pct, since in conn.execute(
        "select customer_id, percent, effective_from from billing.discounts order by customer_id, effective_from"
    ):
        discounts.setdefault(cid, []).append((since, Decimal(pct)))
    colocation = [
        ColocationContract(r[0], r[1], r[2], r[3], Decimal(r[4]), r[5])
        for r in conn.execute(
            """select contract_id, customer_id, facility_id, rack, adder_usd_per_mwh, effective_from
               from billing.colocation_contracts order by contract_id"""
        )
    ]
    pool_models = dict(
        conn.execute(
            """select gpu_pool, min(hardware_model) from staging.stg_raw__devices
               where device_kind = 'gpu' and gpu_pool is not null group by gpu_pool"""
        ).fetchall()
    )
    return Catalog(customers, cards, plans, commitments, discounts, colocation, pool_models)
