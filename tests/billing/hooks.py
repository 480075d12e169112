"""A budget-alert hook target for the tests: ``tests.billing.hooks:record_alert``."""

SENT: list[dict] = []


def record_alert(alert: dict) -> None:
    SENT.append(alert)
