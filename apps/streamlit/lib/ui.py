"""Small layout helpers shared by the pages: KPI cards, the no-data hint, filters, formatting."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pandas as pd
import streamlit as st

from apps.streamlit.lib import auth, queries

NO_DATA = "No data yet: run `hcp materialize` (or `hcp demo`) to build the marts this page reads."

# page key -> (file, title, icon, section)
PAGES: dict[str, tuple[str, str, str, str]] = {
    "executive": ("app_pages/executive.py", "Executive", ":material/monitoring:", "Overview"),
    "operations": ("app_pages/operations.py", "Operations", ":material/factory:", "Overview"),
    "resources": ("app_pages/resources.py", "Resources", ":material/memory:", "Fleet"),
    "device": ("app_pages/device.py", "Device detail", ":material/developer_board:", "Fleet"),
    "workloads": ("app_pages/workloads.py", "Workloads", ":material/work:", "Fleet"),
    "billing": ("app_pages/billing.py", "Billing", ":material/receipt_long:", "Finance"),
    "forecasts": ("app_pages/forecasts.py", "Forecasts", ":material/query_stats:", "Planning"),
    "whatif": ("app_pages/whatif.py", "Allocation what-if", ":material/tune:", "Planning"),
    "users": ("app_pages/users.py", "Users", ":material/admin_panel_settings:", "Admin"),
}


def current_user() -> auth.User:
    """The signed-in user (the entry script guarantees one before any page runs)."""
    user = st.session_state.get("user")
    if user is None:
        st.error("Please sign in.")
        st.stop()
    return user


def check_access(page: str) -> auth.User:
    """Re-check the session and the role for ``page`` from the database.

    Fragments rerun on their own (``run_every``) without the entry script, so each one calls this
    first: a disabled user, a revoked or expired session, or a role that lost the page stops it at once.
    """
    user = st.session_state.get("user")
    valid = auth.check_session(user.session_id) if user is not None else None
    if valid is None or not auth.can_open(valid.role, page):
        if user is not None:
            st.session_state.pop("user", None)
            st.rerun(scope="app")  # the entry script shows the sign-in form
        st.error("Please sign in.")
        st.stop()
    st.session_state["user"] = valid
    return valid


def live(page: str, run_every: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """An auto-refreshing fragment of ``page`` that re-checks the session and role on every run."""

    def wrap(body: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(body)
        def guarded() -> None:
            check_access(page)
            body()

        return st.fragment(run_every=run_every)(guarded)

    return wrap


def guarded_download(page: str, session_id: str, render: Callable[[], bytes]) -> Callable[[], bytes]:
    """A deferred download callable that renders only while ``session_id`` is valid for ``page``.

    The browser may fetch a deferred download long after the page was drawn; the session is checked
    again at that moment (the callable runs outside the script, so it captures the session id)."""

    def download() -> bytes:
        user = auth.check_session(session_id)
        if user is None or not auth.can_open(user.role, page):
            raise PermissionError("session expired or access revoked")
        return render()

    return download


def no_data(what: str = "") -> None:
    """The standard hint for a section whose tables are missing or empty."""
    st.info(f"{what}: {NO_DATA}" if what else NO_DATA, icon=":material/hourglass_empty:")


def usd(value: float | None, digits: int = 0) -> str:
    """A dollar amount such as $12,345 (or – when unknown)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"${value:,.{digits}f}" if value >= 0 else f"-${-value:,.{digits}f}"


def number(value: float | None, unit: str = "", digits: int = 1) -> str:
    """A number with a unit, or – when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def change(current: float | None, previous: float | None) -> str | None:
    """Relative change against the previous period as a signed percentage, None when undefined."""
    if current is None or previous is None or pd.isna(current) or pd.isna(previous) or previous == 0:
        return None
    return f"{(current - previous) / abs(previous) * 100:+.1f}%"


def kpi_grid(cards: list[tuple[str, str, str | None, str, str | None]], per_row: int = 4) -> None:
    """KPI cards (label, value, change, delta color, help) in rows; columns stack on a phone."""
    for first in range(0, len(cards), per_row):
        cols = st.columns(per_row)
        for col, (label, value, delta, color, help_text) in zip(
            cols, cards[first : first + per_row], strict=False
        ):
            col.metric(label, value, delta, delta_color=color, help=help_text, border=True)


def period_picker(key: str, default: str = "7 days") -> float:
    """A period selector (days)."""
    options = {"24 hours": 1.0, "7 days": 7.0, "28 days": 28.0}
    choice = st.segmented_control("Period", list(options), default=default, key=key) or default
    return options[choice]


def select_or_all(label: str, options: list, key: str) -> str | None:
    """A select box with an 'All' choice; returns None for All."""
    choice = st.selectbox(label, ["All", *options], key=key)
    return None if choice == "All" else choice


def paginate(total: int, page_size: int, key: str) -> int:
    """A page number input under a table; returns the row offset."""
    pages = max(1, math.ceil(total / page_size))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=key)
    return (int(page) - 1) * page_size


def open_device(device_id: str) -> None:
    """Jump to the device detail page for ``device_id``."""
    st.session_state["device_id"] = device_id
    st.session_state["device_lookup"] = device_id
    st.switch_page(PAGES["device"][0])


def open_workload(workload_id: str) -> None:
    """Jump to the workloads page with ``workload_id`` selected."""
    st.session_state["workload_id"] = workload_id
    st.switch_page(PAGES["workloads"][0])


def quick_nav(user: auth.User) -> None:
    """The sidebar search box: jump to any page, device, workload or customer the role may open."""
    options: dict[str, tuple[str, str]] = {}
    for key, (_, title, _, _) in PAGES.items():
        if auth.can_open(user.role, key) and key != "device":
            options[f"Page · {title}"] = ("page", key)
    index = queries.search_index()
    targets = {
        "device": "device",
        "workload": "workloads",
        "customer": "billing" if user.role in ("finance", "admin") else "workloads",
    }
    for row in index.itertuples(index=False):
        if auth.can_open(user.role, targets[row.kind]):
            options[f"{row.kind.title()} · {row.label}"] = (row.kind, row.id)

    def remember() -> None:
        picked = st.session_state.get("quick_nav")
        st.session_state["quick_nav_target"] = options.get(picked) if picked else None
        st.session_state["quick_nav"] = None

    st.selectbox(
        "Quick navigation",
        list(options),
        index=None,
        placeholder="Search pages, devices, workloads…",
        key="quick_nav",
        on_change=remember,
    )
    pending = st.session_state.pop("quick_nav_target", None)
    if pending is None:
        return
    kind, target = pending
    if kind == "page":
        st.switch_page(PAGES[target][0])
    elif kind == "device":
        open_device(target)
    elif kind == "workload":
        open_workload(target)
    else:
        st.session_state["customer_id"] = target
        st.switch_page(PAGES[targets["customer"]][0])
