"""Price one customer's billing period: metered usage rows -> line items with their usage links.

Pure Python over loaded data (no database). The invoice builder feeds it the rows of
``marts.fct_usage`` (with the pieces of ``intermediate.int_workload_usage_billable`` as lineage);
the reconciliation feeds it rows it meters itself, in Python, from raw workload events with
:func:`meter` and :func:`rows_from_pieces`. Both follow the one metering rule:

    A metered piece is one device's running span within one calendar day IN THE CUSTOMER'S TIME
    ZONE under one rate-card version (spans are cut at each local midnight and at each effective
    time of a card in force; a card never applies before its effective time). Each piece's seconds
    are rounded up to the card's minimum increment once (kernels.billing.billable_seconds).
    A usage row sums the pieces of one (local day, workload, pool, GPU model, card version).

Then, in order:
1. committed use covers a pool's rows in the canonical row order (:func:`row_order`); the rest
   is on demand;
2. on-demand usage is priced by a tiered plan in force for the whole period, else by the flat
   card of each row; one line per (product, card) or per plan; each line rounds once
   (kernels.billing.round_money, half-up to the cent).

Lineage is kept per usage row, not per piece: a line's :class:`Allotment` says which stretch
``[offset, offset + seconds)`` of a row's billable seconds it bills. The row's pieces fill its
billable seconds one after the other in piece order (started_at, then span id), so a piece belongs
to every allotment its own stretch overlaps, for the overlapping seconds. The invoice builder
expands allotments to pieces in the database (:data:`billing.invoices.LINEAGE_SQL`),
so the pieces never travel through Python; :func:`piece_lineage` is the same rule in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from billing.catalog import Catalog, card_at
from billing.records import Piece, Span, UsageRow
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


def row_order(row: UsageRow) -> tuple:
    """The canonical order of usage rows (committed use covers rows in this order)."""
    return (
        row.usage_date,
        row.started_at,
        row.workload_id,
        row.gpu_pool or "",
        row.card.effective_from,
        row.card.rate_card_id,
    )


@dataclass(frozen=True)
class Allotment:
    """Lineage: ``seconds`` of ``row``'s billable seconds, from ``offset`` on, billed at ``rate``."""

    row: UsageRow
    offset: int
    seconds: int
    rate: Decimal


def piece_lineage(allotment: Allotment) -> list[tuple[Piece, int]]:
    """The pieces behind an allotment with the billable seconds each contributes (see module doc);
    needs the row's pieces (the recomputation path carries them, the mart path does not)."""
    lo, hi = allotment.offset, allotment.offset + allotment.seconds
    taken, at = [], 0
    for piece in sorted(allotment.row.pieces, key=lambda p: (p.started_at, p.span_id)):
        use = min(hi, at + piece.billable_seconds) - max(lo, at)
        if use > 0:
            taken.append((piece, use))
        at += piece.billable_seconds
    return taken


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
    usage: list[Allotment] = field(default_factory=list)


@dataclass
class PricedPeriod:
    """Lines of one customer's period and the data-quality problems found while pricing."""

    customer_id: str
    lines: list[Line]
    problems: list[str]


def hours(seconds: int | Fraction) -> Decimal:
    """GPU-seconds as GPU-hours for display (6 decimals; amounts never derive from this)."""
    return quantity(exact(seconds) / SECONDS_PER_HOUR)


def local_midnights(lo: datetime, hi: datetime, timezone: str) -> list[datetime]:
    """The local midnights of ``timezone`` strictly inside ``(lo, hi)``, as UTC instants."""
    zone = ZoneInfo(timezone)
    day = lo.astimezone(zone).date() + timedelta(days=1)
    cuts = []
    while True:
        at = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(lo.tzinfo)
        if at >= hi:
            return cuts
        if at > lo:
            cuts.append(at)
        day += timedelta(days=1)


def meter(
    spans: Iterable[Span], catalog: Catalog, start: datetime, end: datetime, timezone: str = "UTC"
) -> tuple[list[Piece], list[str]]:
    """Metered pieces of ``spans`` inside ``[start, end)`` (see the module doc), and problems."""
    pieces, problems = [], []
    for span in spans:
        lo, hi = max(span.started_at, start), min(span.ended_at, end)
        if hi <= lo or span.gpus <= 0:
            continue
        model = span.gpu_model or catalog.pool_models.get(span.gpu_pool or "")
        wtype = span.workload_type or ""
        windows = catalog.card_windows(span.customer_id, model or "", wtype)
        cuts = sorted(
            {lo, hi}
            | set(local_midnights(lo, hi, timezone))
            | {c.effective_from for c in windows if lo < c.effective_from < hi}
        )
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


def rows_from_pieces(customer_id: str, pieces: Iterable[Piece], timezone: str = "UTC") -> list[UsageRow]:
    """Sum metered pieces to the grain of marts.fct_usage, in the canonical row order."""
    zone = ZoneInfo(timezone)
    grouped: dict[tuple, list[Piece]] = {}
    for piece in pieces:
        key = (
            piece.started_at.astimezone(zone).date(),
            piece.workload_id,
            piece.gpu_pool,
            piece.gpu_model,
            piece.card.rate_card_id,
            piece.card.effective_from,
        )
        grouped.setdefault(key, []).append(piece)
    rows = []
    for (day, workload_id, pool, model, card_id, _), items in grouped.items():
        items.sort(key=lambda p: (p.started_at, p.span_id))
        rows.append(
            UsageRow(
                f"{day}|{workload_id}|{pool}|{card_id}",
                customer_id,
                day,
                workload_id,
                items[0].workload_type,
                pool,
                model,
                items[0].card,
                min(p.started_at for p in items),
                max(p.ended_at for p in items),
                sum(p.gpu_seconds for p in items),
                sum(p.billable_seconds for p in items),
                tuple(items),
            )
        )
    return sorted(rows, key=row_order)


def _commitment_lines(
    rows: list[UsageRow], catalog: Catalog, customer_id: str, start: datetime, end: datetime
) -> tuple[list[Line], list[tuple[UsageRow, int, int]]]:
    """Committed-use lines (billed whether used or not) and the on-demand remainder of each row,
    with the offset in the row where that remainder starts (lineage)."""
    remaining = [(r, r.billable_seconds, 0) for r in rows]
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
        in_pool = [i for i, (r, _, _) in enumerate(remaining) if r.gpu_pool == commitment.gpu_pool]
        split = split_commitment(committed, [remaining[i][1] for i in in_pool])
        for i, (covered, overage) in zip(in_pool, split, strict=True):
            row, _, offset = remaining[i]
            if covered:
                line.usage.append(Allotment(row, offset, covered, commitment.rate))
            remaining[i] = (row, overage, offset + covered)
        lines.append(line)
    return lines, [(r, s, offset) for r, s, offset in remaining if s > 0]


def _on_demand_lines(
    remaining: list[tuple[UsageRow, int, int]], catalog: Catalog, customer_id: str, start: datetime
) -> list[Line]:
    by_product: dict[tuple[str, str], list[tuple[UsageRow, int, int]]] = {}
    for item in remaining:
        by_product.setdefault((item[0].gpu_model, item[0].workload_type), []).append(item)
    lines = []
    for (model, wtype), items in sorted(by_product.items()):
        plan = catalog.plan_for(customer_id, model, wtype, start)
        if plan is not None:
            lines.append(_plan_line(plan, model, wtype, items))
            continue
        by_card: dict[tuple[str, datetime], list[tuple[UsageRow, int, int]]] = {}
        for item in items:
            by_card.setdefault((item[0].card.rate_card_id, item[0].card.effective_from), []).append(item)
        for key in sorted(by_card, key=lambda k: (k[1], k[0])):
            card_items = by_card[key]
            card = card_items[0][0].card
            total = sum(s for _, s, _ in card_items)
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
                    usage=_lineage(card_items),
                )
            )
    return lines


def _lineage(items: list[tuple[UsageRow, int, int]]) -> list[Allotment]:
    return [Allotment(row, offset, seconds, row.card.price) for row, seconds, offset in items]


def _plan_line(plan, model: str, wtype: str, items: list[tuple[UsageRow, int, int]]) -> Line:
    total = sum(s for _, s, _ in items)
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
        usage=_lineage(items),
    )


def price_rows(
    customer_id: str,
    rows: Iterable[UsageRow],
    catalog: Catalog,
    start: datetime,
    end: datetime,
    problems: list[str] | None = None,
) -> PricedPeriod:
    """Line items of one customer for ``[start, end)`` from its usage rows (see module doc)."""
    ordered = sorted(rows, key=row_order)
    commitment_lines, remaining = _commitment_lines(ordered, catalog, customer_id, start, end)
    lines = commitment_lines + _on_demand_lines(remaining, catalog, customer_id, start)
    return PricedPeriod(customer_id, lines, list(problems or []))


def price_period(
    customer_id: str,
    spans: Iterable[Span],
    catalog: Catalog,
    start: datetime,
    end: datetime,
    timezone: str | None = None,
) -> PricedPeriod:
    """Line items of one customer for ``[start, end)`` metered from its spans (the recomputation
    path: reconciliation and budgets)."""
    tz = timezone or (catalog.customers[customer_id].timezone if customer_id in catalog.customers else "UTC")
    pieces, problems = meter(spans, catalog, start, end, tz)
    return price_rows(customer_id, rows_from_pieces(customer_id, pieces, tz), catalog, start, end, problems)


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
