"""The invoice PDF, rendered by the billing package's reports module (the same file as
``hcp billing report`` writes)."""

from __future__ import annotations

from billing.reports import render_invoice_pdf

__all__ = ["render_invoice_pdf"]
