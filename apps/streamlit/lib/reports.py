"""Invoice downloads: a one-page PDF (fpdf2) and CSV, from the invoice and its lines."""

from __future__ import annotations

import pandas as pd


def _text(value: object) -> str:
    # The core PDF fonts are Latin-1; anything else is replaced rather than failing the download.
    return str(value).encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: pd.Series, lines: pd.DataFrame) -> bytes:
    """A PDF of one invoice or credit note: header, period, lines and totals (no personal data)."""
    from fpdf import FPDF  # imported on demand: it takes seconds to load

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    kind = "Credit note" if invoice.get("kind") == "credit_note" else "Invoice"
    pdf.cell(
        0, 10, _text(f"{kind} {invoice.get('invoice_number') or '(draft)'}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 10)
    for label, key in (
        ("Customer", "customer_id"),
        ("Period", "period"),
        ("Status", "status"),
        ("Issued", "issued_at"),
        ("Due", "due_at"),
    ):
        pdf.cell(
            0,
            6,
            _text(f"{label}: {invoice.get(key) if invoice.get(key) is not None else '-'}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(4)
    widths = (10, 90, 25, 15, 25, 25)
    pdf.set_font("Helvetica", "B", 9)
    for width, head in zip(
        widths, ("#", "Description", "Quantity", "Unit", "Unit price", "Amount"), strict=True
    ):
        pdf.cell(width, 7, head, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in lines.itertuples(index=False):
        values = (
            line.line_no,
            str(line.description)[:60],
            f"{line.quantity:,.3f}",
            line.unit,
            f"{line.unit_price_usd:,.4f}",
            f"{line.amount_usd:,.2f}",
        )
        for width, value in zip(widths, values, strict=True):
            pdf.cell(width, 6, _text(value))
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    for label, key in (
        ("Subtotal", "subtotal_usd"),
        ("Discount", "discount_usd"),
        ("Credits", "credit_usd"),
        ("Tax", "tax_usd"),
        ("Total (USD)", "total_usd"),
    ):
        pdf.cell(165, 6, label, align="R")
        pdf.cell(25, 6, f"{float(invoice.get(key) or 0):,.2f}", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def invoice_csv(invoice: pd.Series, lines: pd.DataFrame) -> bytes:
    """The invoice's lines as CSV, each row carrying the invoice number, customer and period."""
    out = lines.assign(
        invoice_number=invoice.get("invoice_number"),
        customer_id=invoice.get("customer_id"),
        period=invoice.get("period"),
    )
    return out.to_csv(index=False).encode()
