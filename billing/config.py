"""Billing settings from the environment, read when needed (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.settings import get_settings


@dataclass(frozen=True)
class BillingConfig:
    """Knobs of the invoice workflow."""

    grace_hours: int  # after the period end, invoices stay draft this long while late data arrives
    net_days: int  # due date = issue date + net_days
    completeness_slack_minutes: int  # usage counts as complete this close to the period end
    reports_dir: Path


def get_config() -> BillingConfig:
    """The billing configuration: ``HCP_BILLING_GRACE_HOURS`` (default 72), ``HCP_BILLING_NET_DAYS`` (15)."""
    return BillingConfig(
        grace_hours=int(os.environ.get("HCP_BILLING_GRACE_HOURS", "72")),
        net_days=int(os.environ.get("HCP_BILLING_NET_DAYS", "15")),
        completeness_slack_minutes=int(os.environ.get("HCP_BILLING_COMPLETENESS_SLACK_MINUTES", "60")),
        reports_dir=get_settings().home / "reports" / "billing",
    )
