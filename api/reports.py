"""The invoice PDF, rendered by the billing package's reports module (the same file as
``hcp billing report`` writes)."""

from __future__ import annotations

try:
    from billing.reports import render_invoice_pdf
except ImportError:  # before the billing package moved out of orchestration/
    from orchestration.billing.reports import render_invoice_pdf

__all__ = ["render_invoice_pdf"]
