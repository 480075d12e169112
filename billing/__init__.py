"""Billing: invoices from metered GPU usage and colocation energy, credit notes, reconciliation,
finance reports, Stripe sync, budgets, customer PII requests and the audit trail.

The maths lives in :mod:`kernels.billing`; this package reads and writes the database.
"""
