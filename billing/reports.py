"""Finance reports: per invoice a PDF and a CSV of its line items; per period a finance summary
(revenue by customer and product, discounts, credits, tax, accounts-receivable ageing) as CSV and PDF.

Amounts are printed as stored (already rounded); nothing here computes money beyond sums.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
from collections import defaultdict
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import psycopg
from fpdf import FPDF

from billing.config import get_config
from billing.customers import invoice_bill_to
from core.files import write_private

LINE_COLUMNS = (
    "line_no",
    "line_kind",
    "description",
    "gpu_model",
    "workload_type",
    "quantity",
    "unit",
    "unit_price_usd",
    "amount_usd",
)
AGEING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


# A Unicode TrueType font embedded in every PDF (the core PDF fonts are Latin-1 only, so a Cyrillic
# or Greek customer name would print as "?"): DejaVu Sans, shipped inside the matplotlib wheel.
FONT = "DejaVuSans"
_FONT_DIR = importlib.resources.files("matplotlib") / "mpl-data" / "fonts" / "ttf"
FONT_FILES = {"": _FONT_DIR / "DejaVuSans.ttf", "B": _FONT_DIR / "DejaVuSans-Bold.ttf"}


def _text(value: object) -> str:
    return str(value if value is not None else "")


def _pdf(orientation: str = "P") -> FPDF:
    """An A4 document with the Unicode font registered (regular and bold)."""
    pdf = FPDF(orientation=orientation, format="A4")
    for style, path in FONT_FILES.items():
        pdf.add_font(FONT, style, str(path))
    return pdf


def _invoice(conn, invoice_id: int) -> dict:
    row = conn.execute(
        """select invoice_id, kind, invoice_number, customer_id, period, status, period_start, period_end,
                  issued_at, due_at, subtotal_usd, discount_usd, credit_usd, tax_rate, tax_usd, total_usd,
                  refers_to, reason
           from billing.invoices where invoice_id = %s""",
        (invoice_id,),
    ).fetchone()
    if row is None:
        raise ValueError(f"invoice {invoice_id} does not exist")
    keys = (
        "invoice_id",
        "kind",
        "invoice_number",
        "customer_id",
        "period",
        "status",
        "period_start",
        "period_end",
        "issued_at",
        "due_at",
        "subtotal_usd",
        "discount_usd",
        "credit_usd",
        "tax_rate",
        "tax_usd",
        "total_usd",
        "refers_to",
        "reason",
    )
    invoice = dict(zip(keys, row, strict=True))
    invoice["lines"] = [
        dict(zip(LINE_COLUMNS, r, strict=True))
        for r in conn.execute(
            f"select {', '.join(LINE_COLUMNS)} from billing.invoice_lines where invoice_id = %s order by line_no",
            (invoice_id,),
        )
    ]
    return invoice


def _name(invoice: dict) -> str:
    return invoice["invoice_number"] or f"draft-{invoice['invoice_id']}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell that a spreadsheet shows as text: a string that starts like a formula gets a
    leading apostrophe (OWASP's CSV injection advice); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_csv(frame) -> bytes:
    """A DataFrame as CSV bytes with every text cell escaped by :func:`csv_cell`."""
    return frame.map(csv_cell).to_csv(index=False).encode()


def render_invoice_csv(conn: psycopg.Connection, invoice_id: int) -> tuple[str, bytes]:
    """File name (``<number>.csv``) and content of one invoice's CSV: one row per line item."""
    invoice = _invoice(conn, invoice_id)
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(("invoice_number", "customer_id", "period", *LINE_COLUMNS))
    for line in invoice["lines"]:
        row = (_name(invoice), invoice["customer_id"], invoice["period"], *line.values())
        writer.writerow([csv_cell(value) for value in row])
    return f"{_name(invoice)}.csv", handle.getvalue().encode()


def invoice_csv(conn: psycopg.Connection, invoice_id: int, out_dir: Path) -> Path:
    """Write ``<number>.csv`` (one row per line item) into ``out_dir``; returns its path."""
    name, content = render_invoice_csv(conn, invoice_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    write_private(path, content)
    return path


def render_invoice_pdf(conn: psycopg.Connection, invoice_id: int) -> tuple[str, bytes]:
    """File name (``<number>.pdf``) and content of one invoice's PDF: header, frozen bill-to block,
    line items, totals."""
    invoice = _invoice(conn, invoice_id)
    bill_to = invoice_bill_to(conn, invoice_id)
    pdf = _pdf(orientation="L")
    # Dated by the invoice, not the clock: the same invoice gives the same bytes (the API's ETag,
    # a restore that reproduces the PDF).
    pdf.set_creation_date(invoice["issued_at"] or datetime.combine(invoice["period_start"], time(), UTC))
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    title = {"invoice": "Invoice", "credit_note": "Credit note", "debit_note": "Debit note"}[invoice["kind"]]
    pdf.cell(0, 10, f"{title} {_name(invoice)}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    details = [
        f"Customer: {invoice['customer_id']}   Period: {invoice['period']}   Status: {invoice['status']}",
        f"Issued: {invoice['issued_at'] or '-'}   Due: {invoice['due_at'] or '-'}",
    ]
    if invoice["refers_to"]:
        details.append(f"Refers to invoice id {invoice['refers_to']}: {invoice['reason'] or ''}")
    details += [f"Bill to: {bill_to.get('name') or ''}", f"{bill_to.get('billing_address') or ''}"]
    if bill_to.get("tax_id"):
        details.append(f"Tax id: {bill_to['tax_id']}")
    for text in details:
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    # fpdf2's table: descriptions wrap instead of being cut, and the heading row repeats on every page
    pdf.set_font(FONT, size=8)
    with pdf.table(
        col_widths=(10, 140, 30, 20, 32, 35),
        text_align=("RIGHT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT"),
        line_height=5,
        padding=1,
        repeat_headings=1,
    ) as table:
        table.row(("#", "Description", "Quantity", "Unit", "Unit price", "Amount USD"))
        for line in invoice["lines"]:
            table.row(
                _text(value)
                for value in (
                    line["line_no"],
                    line["description"],
                    line["quantity"],
                    line["unit"],
                    line["unit_price_usd"],
                    line["amount_usd"],
                )
            )
    pdf.ln(3)
    pdf.set_font(FONT, size=10)
    for label, key in (
        ("Subtotal", "subtotal_usd"),
        ("Discounts", "discount_usd"),
        ("Tax", "tax_usd"),
        ("Credits", "credit_usd"),
        ("Total", "total_usd"),
    ):
        pdf.cell(230, 6, label, align="R")
        pdf.cell(35, 6, _text(invoice[key]), align="R", new_x="LMARGIN", new_y="NEXT")
    return f"{_name(invoice)}.pdf", bytes(pdf.output())


def invoice_pdf(conn: psycopg.Connection, invoice_id: int, out_dir: Path) -> Path:
    """Write ``<number>.pdf`` (header, frozen bill-to block, line items, totals); returns its path."""
    name, content = render_invoice_pdf(conn, invoice_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    write_private(path, content)
    return path


def period_summary(conn: psycopg.Connection, period: str, as_of: datetime | None = None) -> dict:
    """The finance summary of ``period``: revenue by customer and by product, discounts, credits,
    tax, totals, and accounts-receivable ageing (unpaid finalized documents by days past due)."""
    as_of = as_of or datetime.now(UTC)
    by_customer: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for cid, subtotal, discount, credit, tax, total in conn.execute(
        """select customer_id, subtotal_usd, discount_usd, credit_usd, tax_usd, total_usd
           from billing.invoices where period = %s and status <> 'draft'""",
        (period,),
    ):
        for key, value in (
            ("subtotal", subtotal),
            ("discount", discount),
            ("credit", credit),
            ("tax", tax),
            ("total", total),
        ):
            by_customer[cid][key] += value
    by_product = defaultdict(Decimal)
    for kind, model, wtype, amount in conn.execute(
        """select l.line_kind, coalesce(l.gpu_model, l.gpu_pool, ''), coalesce(l.workload_type, ''), l.amount_usd
           from billing.invoice_lines l join billing.invoices i using (invoice_id)
           where i.period = %s and i.status <> 'draft'""",
        (period,),
    ):
        by_product[f"{kind}: {model} {wtype}".strip()] += amount
    ageing = dict.fromkeys(AGEING_BUCKETS, Decimal(0))
    for due_at, total in conn.execute(
        """select due_at, total_usd from billing.invoices
           where status in ('finalized', 'sent') and due_at is not null and period <= %s""",
        (period,),
    ):
        late = (as_of - due_at).days
        bucket = (
            "current"
            if late <= 0
            else "1-30"
            if late <= 30
            else "31-60"
            if late <= 60
            else ("61-90" if late <= 90 else "90+")
        )
        ageing[bucket] += total
    totals = defaultdict(Decimal)
    for sums in by_customer.values():
        for key, value in sums.items():
            totals[key] += value
    drafts = conn.execute(
        "select count(*) from billing.invoices where period = %s and status = 'draft'", (period,)
    ).fetchone()[0]
    return {
        "period": period,
        "as_of": as_of.isoformat(),
        "by_customer": {c: {k: str(v) for k, v in s.items()} for c, s in sorted(by_customer.items())},
        "by_product": {p: str(v) for p, v in sorted(by_product.items())},
        "totals": {k: str(v) for k, v in totals.items()},
        "receivables_ageing": {k: str(v) for k, v in ageing.items()},
        "drafts_not_included": drafts,
    }


def summary_files(summary: dict, out_dir: Path) -> list[Path]:
    """Write the finance summary as ``summary-<period>.csv`` and ``.pdf``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [("section", "key", "field", "amount_usd")]
    for cid, sums in summary["by_customer"].items():
        rows += [("customer", cid, field, value) for field, value in sums.items()]
    rows += [("product", product, "revenue", value) for product, value in summary["by_product"].items()]
    rows += [("total", "all", field, value) for field, value in summary["totals"].items()]
    rows += [
        ("receivables_ageing", bucket, "open", value)
        for bucket, value in summary["receivables_ageing"].items()
    ]
    csv_path = out_dir / f"summary-{summary['period']}.csv"
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([[csv_cell(value) for value in row] for row in rows])
    write_private(csv_path, buffer.getvalue())
    pdf = _pdf()
    pdf.add_page()
    pdf.set_font(FONT, "B", 14)
    pdf.cell(
        0,
        10,
        f"Finance summary {summary['period']} (as of {summary['as_of'][:10]})",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font(FONT, size=9)
    with pdf.table(
        col_widths=(40, 90, 25, 30), text_align=("LEFT", "LEFT", "LEFT", "RIGHT"), line_height=5, padding=1
    ) as table:
        table.row([_text(v) for v in rows[0]])
        for row in rows[1:]:
            table.row([_text(v) for v in row])
    pdf_path = out_dir / f"summary-{summary['period']}.pdf"
    write_private(pdf_path, bytes(pdf.output()))
    return [csv_path, pdf_path]


def write_period_reports(
    conn: psycopg.Connection, period: str, out_dir: Path | None = None, as_of: datetime | None = None
) -> dict:
    """Every finalized document's PDF and CSV plus the period summary, under
    ``$HCP_HOME/reports/billing/<period>/`` by default. Returns the summary and the paths written."""
    out_dir = out_dir or get_config().reports_dir / period
    paths: list[Path] = []
    for (invoice_id,) in conn.execute(
        "select invoice_id from billing.invoices where period = %s and status <> 'draft' order by invoice_id",
        (period,),
    ).fetchall():
        paths += [invoice_pdf(conn, invoice_id, out_dir), invoice_csv(conn, invoice_id, out_dir)]
    summary = period_summary(conn, period, as_of)
    paths += summary_files(summary, out_dir)
    return {"summary": summary, "paths": [str(p) for p in paths]}
