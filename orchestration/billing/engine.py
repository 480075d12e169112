"""Price one customer's billing period: usage spans -> pieces -> line items with their usage links.

Pure Python over loaded data (no database), so the invoice builder and the reconciliation share
the pricing rules while deriving usage independently. Steps, in order:
1. clip each span to the period and split it where the rate card in force changes (a new card
   applies from its effective date, never before);
2. meter each piece: GPUs x (seconds rounded up to the card's minimum increment);
3. committed use covers a pool's pieces in time order; the rest is on demand;
4. on-demand usage is priced by a tiered plan in force for the whole period, else by the flat
   card of each piece; one line per (product, card) or per plan; each line rounds once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from kernels.billing import (
    SECONDS_PER_HOUR,
    billable_seconds,
    exact,
    flat_amount,
    graduated,
    quantity,
    round_money,
    split_commitment,
    volume,
)
from orchestration.billing.catalog import Catalog, RateCard, card_at
from orchestration.billing.usage import Span


@dataclass(frozen=True)
class Piece:
    """A span clipped to the period and to one rate card, metered."""

    workload_id: str
    span_id: str
    started_at: datetime
    ended_at: datetime
    gpus: int
    gpu_seconds: int
    billable_seconds: int
    gpu_model: str
    gpu_pool: str | None
    workload_type: str
    card: RateCard


@dataclass
class Line:
    """An invoice line before it is stored; ``amount`` is already rounded (round_money)."""

    line_kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    gpu_model: str | None = None
    gpu_pool: str | None = None
    workload_type: str | None = None
    rate_card_id: str | None = None
    plan_id: str | None = None
    commitment_id: str | None = None
    usage: list[tuple[Piece, int, Decimal]] = field(default_factory=list)  # piece, billable s, rate


@dataclass
class PricedPeriod:
    """Lines of one customer's period and the data-quality problems found while pricing."""

    customer_id: str
    lines: list[Line]
    problems: list[str]


def hours(seconds: int | Fraction) -> Decimal:
    """GPU-seconds as GPU-hours for display (6 decimals; amounts never derive from this)."""
    return quantity(exact(seconds) / SECONDS_PER_HOUR)


def meter(
    spans: Iterable[Span], catalog: Catalog, start: datetime, end: datetime
) -> tuple[list[Piece], list[str]]:
    """Pieces of ``spans`` inside ``[start, end)`` split at rate changes, and the problems found."""
    pieces, problems = [], []
    for span in spans:
        lo, hi = max(span.started_at, start), min(span.ended_at, end)
        if hi <= lo or span.gpus <= 0:
            continue
        model = span.gpu_model or catalog.pool_models.get(span.gpu_pool or "")
        wtype = span.workload_type or ""
        windows = catalog.card_windows(span.customer_id, model or "", wtype)
        cuts = [lo] + [c.effective_from for c in windows if lo < c.effective_from < hi] + [hi]
        for a, b in zip(cuts, cuts[1:], strict=False):
            card = card_at(windows, a)
            if card is None:
                problems.append(
                    f"no rate card for {model or span.gpu_pool} / {wtype or '?'} at {a.isoformat()} "
                    f"(workload {span.workload_id}, customer {span.customer_id})"
                )
                continue
            seconds = int((b - a).total_seconds())
            pieces.append(
                Piece(
                    span.workload_id,
                    span.span_id,
                    a,
                    b,
                    span.gpus,
                    span.gpus * seconds,
                    span.gpus * billable_seconds(seconds, card.min_increment_seconds),
                    card.gpu_model,
                    span.gpu_pool,
                    wtype,
                    card,
                )
            )
    return pieces, problems


def _commitment_lines(
    pieces: list[Piece], catalog: Catalog, customer_id: str, start: datetime, end: datetime
) -> tuple[list[Line], list[tuple[Piece, int]]]:
    """Committed-use lines (billed whether used or not) and the on-demand remainder of each piece."""
    remaining = [(p, p.billable_seconds) for p in pieces]
    lines = []
    for commitment in catalog.commitments:
        if commitment.customer_id != customer_id:
            continue
        lo = max(start, commitment.effective_from)
        hi = min(end, commitment.effective_to or end)
        if hi <= lo:
            continue
        committed = commitment.reserved_gpus * int((hi - lo).total_seconds())
        line = Line(
            "commitment",
            f"Committed use: {commitment.reserved_gpus} x {commitment.gpu_pool} GPUs reserved",
            hours(committed),
            "GPU-hour",
            commitment.rate,
            round_money(flat_amount(committed, commitment.rate)),
            gpu_pool=commitment.gpu_pool,
            commitment_id=commitment.commitment_id,
        )
        in_pool = [i for i, (p, _) in enumerate(remaining) if p.gpu_pool == commitment.gpu_pool]
        split = split_commitment(committed, [remaining[i][1] for i in in_pool])
        for i, (covered, overage) in zip(in_pool, split, strict=True):
            if covered:
                line.usage.append((remaining[i][0], covered, commitment.rate))
            remaining[i] = (remaining[i][0], overage)
        lines.append(line)
    return lines, [(p, s) for p, s in remaining if s > 0]


def _on_demand_lines(
    remaining: list[tuple[Piece, int]], catalog: Catalog, customer_id: str, start: datetime
) -> list[Line]:
    by_product: dict[tuple[str, str], list[tuple[Piece, int]]] = {}
    for piece, seconds in remaining:
        by_product.setdefault((piece.gpu_model, piece.workload_type), []).append((piece, seconds))
    lines = []
    for (model, wtype), items in sorted(by_product.items()):
        plan = catalog.plan_for(customer_id, model, wtype, start)
        if plan is not None:
            lines.append(_plan_line(plan, model, wtype, items))
            continue
        by_card: dict[str, list[tuple[Piece, int]]] = {}
        for piece, seconds in items:
            by_card.setdefault(piece.card.rate_card_id, []).append((piece, seconds))
        for card_items in sorted(by_card.values(), key=lambda it: (it[0][0].card.effective_from,)):
            card = card_items[0][0].card
            total = sum(s for _, s in card_items)
            lines.append(
                Line(
                    "usage",
                    f"{model} {wtype}, on demand at {card.price}/GPU-hour (card {card.rate_card_id})",
                    hours(total),
                    "GPU-hour",
                    card.price,
                    round_money(flat_amount(total, card.price)),
                    gpu_model=model,
                    gpu_pool=card_items[0][0].gpu_pool,
                    workload_type=wtype,
                    rate_card_id=card.rate_card_id,
                    usage=[(p, s, card.price) for p, s in card_items],
                )
            )
    return lines


def _plan_line(plan, model: str, wtype: str, items: list[tuple[Piece, int]]) -> Line:
    total = sum(s for _, s in items)
    charges = (
        graduated(total, plan.tiers) if plan.pricing_model == "graduated" else [volume(total, plan.tiers)]
    )
    amount = round_money(sum((c.amount for c in charges), Fraction(0)))
    bands = "; ".join(f"tier {c.tier_no}: {hours(c.gpu_seconds)} h at {c.unit_price}" for c in charges)
    average = quantity(exact(amount) * SECONDS_PER_HOUR / total) if total else charges[0].unit_price
    return Line(
        "tiered",
        f"{model} {wtype}, {plan.pricing_model} tiers ({bands})",
        hours(total),
        "GPU-hour",
        average,
        amount,
        gpu_model=model,
        gpu_pool=items[0][0].gpu_pool if items else None,
        workload_type=wtype,
        plan_id=plan.plan_id,
        usage=[(p, s, p.card.price) for p, s in items],
    )


def price_period(
    customer_id: str, spans: Iterable[Span], catalog: Catalog, start: datetime, end: datetime
) -> PricedPeriod:
    """Line items of one customer for ``[start, end)`` from its usage spans (see module doc)."""
    pieces, problems = meter(spans, catalog, start, end)
    commitment_lines, remaining = _commitment_lines(pieces, catalog, customer_id, start, end)
    lines = commitment_lines + _on_demand_lines(remaining, catalog, customer_id, start)
    return PricedPeriod(customer_id, lines, problems)


def with_amount(line: Line, amount: Decimal) -> Line:
    """A copy of ``line`` with another amount (used for credit-note differences)."""
    return replace(line, amount=amount, usage=[])


def energy_lines(contract, intervals) -> tuple[list[Line], list[str]]:
    """Colocation lines for one contract: metered energy at the real-time price of each interval,
    and the contract's adder on the same energy. Intervals without a price are reported."""
    problems = [
        f"no real-time price at {i.interval_start.isoformat()} for colocation contract {contract.contract_id}"
        for i in intervals
        if i.price_usd_per_mwh is None
    ]
    priced = [i for i in intervals if i.price_usd_per_mwh is not None]
    kwh = sum((exact(i.energy_kwh) for i in priced), Fraction(0))
    cost = sum((exact(i.energy_kwh) * exact(i.price_usd_per_mwh) for i in priced), Fraction(0)) / 1000
    adder = kwh * exact(contract.adder_usd_per_mwh) / 1000
    mwh = quantity(kwh / 1000)
    average = quantity(cost * 1000 / kwh) if kwh else Decimal(0)
    lines = [
        Line(
            "energy",
            f"Colocation energy, rack {contract.rack} at {contract.facility_id}, real-time price",
            mwh,
            "MWh",
            average,
            round_money(cost),
            commitment_id=contract.contract_id,
        ),
        Line(
            "energy_adder",
            f"Colocation energy adder ({contract.adder_usd_per_mwh}/MWh)",
            mwh,
            "MWh",
            contract.adder_usd_per_mwh,
            round_money(adder),
            commitment_id=contract.contract_id,
        ),
    ]
    return (lines if kwh else []), problems
