"""Invoice PDFs through fpdf2's table API with an embedded Unicode font: long descriptions wrap
instead of being cut, the heading row repeats on every page, and non-Latin names print as written."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.customers import frozen_bill_to
from billing.reports import FONT, FONT_FILES, render_invoice_pdf
from tests.billing import factories as f

pytestmark = pytest.mark.fresh_database  # every test starts on a database of its own

NAME = "ООО «Ромашка» Ωμέγα"
TAIL = "tail-token-after-one-hundred-and-fifty-characters"
LONG = "NVIDIA H100 80GB HBM3 inference GPU hours for workload wl-000123 on pool h100, " * 2 + TAIL


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _invoice(conn, lines: int) -> int:
    f.customer(conn, "ru1", name=NAME)
    invoice_id = conn.execute(
        """insert into billing.invoices (customer_id, period, period_start, period_end, timezone, status,
               invoice_number, subtotal_usd, tax_rate, tax_usd, total_usd, kind)
           values ('ru1', '2026-10', '2026-10-01', '2026-11-01', 'UTC', 'draft', 'INV-09001',
                   %s, 0, 0, %s, 'invoice') returning invoice_id""",
        (Decimal("2.50") * lines, Decimal("2.50") * lines),
    ).fetchone()[0]
    blob, key_id = frozen_bill_to(conn, "ru1")
    conn.execute(
        "update billing.invoices set bill_to_encrypted = %s, bill_to_key_id = %s where invoice_id = %s",
        (blob, key_id, invoice_id),
    )
    for n in range(1, lines + 1):
        conn.execute(
            """insert into billing.invoice_lines (invoice_id, line_no, line_kind, description, quantity, unit,
                   unit_price_usd, amount_usd) values (%s, %s, 'usage', %s, 1, 'gpu_hour', 2.5, 2.5)""",
            (invoice_id, n, LONG if n == 1 else f"line {n}: H100 inference GPU hours"),
        )
    return invoice_id


def test_long_description_non_latin_name_and_repeated_heading(conn):
    assert len(LONG) > 95 + len(TAIL)
    name, content = render_invoice_pdf(conn, _invoice(conn, lines=70))
    assert name == "INV-09001.pdf"
    reader = PdfReader(io.BytesIO(content))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2
    assert _squash(LONG) in _squash(pages[0])  # wrapped over several lines, not cut at 95 characters
    assert NAME in pages[0] and "?" not in pages[0]
    for page in pages[1:]:
        assert "Description" in page and "Amount USD" in page  # the heading row on every page
    assert "line 70:" in pages[-1]
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all(FONT in font for font in fonts)  # only the embedded Unicode font
    assert all(path.is_file() for path in FONT_FILES.values())


def test_the_same_invoice_renders_to_the_same_bytes(conn):
    """An invoice's PDF is a function of the invoice, not of the clock: the API's ETag hashes it, and
    a restore reproduces it byte for byte."""
    import time

    invoice_id = _invoice(conn, 3)
    _, first = render_invoice_pdf(conn, invoice_id)
    time.sleep(1.1)  # PDF dates have one-second resolution
    _, again = render_invoice_pdf(conn, invoice_id)
    assert first == again
