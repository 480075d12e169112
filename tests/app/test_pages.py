"""Every page for every role against a synthetic fleet: renders, lists only what the role may see,
refuses the rest (audited); and every page degrades to a hint on an empty database."""

from __future__ import annotations

import psycopg
import pytest

from tests.app.helpers import ROLES, render_problems, signed_in

PAGES = (
    "executive",
    "operations",
    "resources",
    "device",
    "workloads",
    "billing",
    "forecasts",
    "whatif",
    "users",
)


def _menu(at) -> set[str]:
    """Titles of the page links in the sidebar."""
    return {link.proto.label for link in at.sidebar.get("page_link")}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_role(fleet_url, role):
    from lib import auth, ui

    at = signed_in(role)
    assert not render_problems(at), render_problems(at)
    allowed = set(auth.allowed_pages(role))
    assert _menu(at) == {ui.PAGES[key][1] for key in allowed}
    for key in PAGES:
        at.switch_page(ui.PAGES[key][0]).run()
        if key in allowed:
            assert not render_problems(at), (role, key, render_problems(at))
            assert at.title[0].value == ui.PAGES[key][1]
        else:
            assert [e.value for e in at.error] and "Access denied" in at.error[0].value, (role, key)
            assert not at.title, (role, key)
    with psycopg.connect(fleet_url) as conn:
        denied = conn.execute(
            "select count(*) from ops.audit_log where actor = %s and action = 'access_denied'", (role,)
        ).fetchone()[0]
    assert denied == len(PAGES) - len(allowed)


def test_role_matrix():
    from lib import auth

    assert auth.allowed_pages("viewer") == ["executive", "operations"]
    assert set(auth.allowed_pages("operator")) == {"operations", "resources", "device", "workloads", "whatif"}
    assert "billing" not in auth.allowed_pages("analyst") and "forecasts" in auth.allowed_pages("analyst")
    assert set(auth.allowed_pages("finance")) == {"billing", "executive"}
    assert auth.allowed_pages("admin") == list(auth.PAGE_ROLES)


def test_device_drill_down_and_quick_nav(fleet_url):
    at = signed_in("operator")
    at.session_state["device_id"] = "D000017"  # a GPU (i % 20 == 17)
    at.switch_page("app_pages/device.py").run()
    assert not render_problems(at)
    assert "H100" in at.caption[0].value
    assert [m.label for m in at.metric][:3] == ["Power", "Temperature", "GPU utilization"]
    nav = at.sidebar.selectbox(key="quick_nav")
    target = next(option for option in nav.options if option.startswith("Device · D000003"))
    nav.set_value(target).run()
    assert at.title[0].value == "Device detail"
    assert at.text_input(key="device_lookup").value == "D000003"


def test_resources_filters_and_search(fleet_url):
    at = signed_in("operator")
    at.switch_page("app_pages/resources.py").run()
    at.selectbox(key="res_kind").set_value("gpu").run()
    assert "18 devices match" in at.caption[0].value  # 120 devices, 3 in 20 are GPUs
    at.text_input(key="res_search").input("L40S").run()
    assert "6 devices match" in at.caption[0].value
    frame = at.dataframe[0].value
    assert set(frame["hardware_model"]) == {"L40S"}


def test_empty_database_degrades(empty_url):
    from lib import ui

    at = signed_in("admin")
    for key in PAGES:
        at.switch_page(ui.PAGES[key][0]).run()
        assert not at.exception, (key, [e.value for e in at.exception])
        if key not in ("users", "device"):
            hints = [i.value for i in at.info]
            assert any("No data yet" in h or "No " in h for h in hints), (key, hints)
