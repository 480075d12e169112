"""Every page for every role against a fleet built by the real pipeline: renders, lists only what
the role may see, refuses the rest (audited); and every page degrades to a hint on an empty database."""

from __future__ import annotations

import pandas as pd
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
    from apps.streamlit.lib import auth, ui

    with psycopg.connect(fleet_url) as conn:
        since = conn.execute("select now()").fetchone()[0]
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
            "select count(*) from ops.audit_log where actor = %s and action = 'access_denied' and at >= %s",
            (role, since),
        ).fetchone()[0]
    assert denied == len(PAGES) - len(allowed)


def test_role_matrix():
    from apps.streamlit.lib import auth

    assert auth.allowed_pages("viewer") == ["executive", "operations"]
    assert set(auth.allowed_pages("operator")) == {"operations", "resources", "device", "workloads", "whatif"}
    assert "billing" not in auth.allowed_pages("analyst") and "forecasts" in auth.allowed_pages("analyst")
    assert set(auth.allowed_pages("finance")) == {"billing", "executive"}
    assert auth.allowed_pages("admin") == list(auth.PAGE_ROLES)


def _devices(url: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute("select device_id, device_kind, hardware_model from marts.dim_devices order by 1")
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def test_device_drill_down_and_quick_nav(fleet_url):
    devices = _devices(fleet_url)
    gpu = devices[devices["device_kind"] == "gpu"].iloc[0]
    asic = devices[devices["device_kind"] == "asic"].iloc[-1]
    at = signed_in("operator")
    at.session_state["device_id"] = gpu["device_id"]
    at.switch_page("app_pages/device.py").run()
    assert not render_problems(at)
    assert gpu["hardware_model"] in at.caption[0].value
    assert [m.label for m in at.metric][:3] == ["Power", "Temperature", "GPU utilization"]
    nav = at.sidebar.selectbox(key="quick_nav")
    target = next(option for option in nav.options if option.startswith(f"Device · {asic['device_id']}"))
    nav.set_value(target).run()
    assert at.title[0].value == "Device detail"
    assert at.text_input(key="device_lookup").value == asic["device_id"]


def test_resources_filters_and_search(fleet_url):
    devices = _devices(fleet_url)
    gpus = devices[devices["device_kind"] == "gpu"]
    model = gpus["hardware_model"].iloc[0]
    term = model.split()[-1]  # a word of the model name, e.g. "HBM3"
    matching = gpus[gpus["hardware_model"].str.contains(term, case=False)]
    at = signed_in("operator")
    at.switch_page("app_pages/resources.py").run()
    at.selectbox(key="res_kind").set_value("gpu").run()
    assert f"{len(gpus)} devices match" in at.caption[0].value
    at.text_input(key="res_search").input(term).run()
    assert f"{len(matching)} devices match" in at.caption[0].value
    frame = at.dataframe[0].value
    assert set(frame["hardware_model"]) == set(matching["hardware_model"])
    assert set(frame["device_id"]) == set(matching["device_id"][:25])


def test_empty_database_degrades(empty_url):
    from apps.streamlit.lib import ui

    at = signed_in("admin")
    for key in PAGES:
        at.switch_page(ui.PAGES[key][0]).run()
        assert not at.exception, (key, [e.value for e in at.exception])
        if key not in ("users", "device"):
            hints = [i.value for i in at.info]
            assert any("No data yet" in h or "No " in h for h in hints), (key, hints)


def test_billing_downloads_are_the_billing_reports(fleet_url, tmp_path):
    from apps.streamlit.lib import queries
    from billing.reports import invoice_csv, invoice_pdf

    at = signed_in("finance")
    at.switch_page("app_pages/billing.py").run()
    assert not render_problems(at), render_problems(at)
    labels = [button.proto.label for button in at.get("download_button")]
    assert {"PDF", "CSV"} <= set(labels), labels
    with psycopg.connect(fleet_url) as conn:
        invoice_id, lines = conn.execute(
            "select i.invoice_id, count(l.line_no) from billing.invoices as i "
            "join billing.invoice_lines as l using (invoice_id) group by 1 order by 1 limit 1"
        ).fetchone()
        written = invoice_csv(conn, invoice_id, tmp_path), invoice_pdf(conn, invoice_id, tmp_path)
    csv_bytes = queries.invoice_document(invoice_id, "csv")
    assert csv_bytes == written[0].read_bytes()
    assert len(csv_bytes.decode().strip().splitlines()) == 1 + lines
    pdf_bytes = queries.invoice_document(invoice_id, "pdf")
    assert pdf_bytes.startswith(b"%PDF") and len(pdf_bytes) > 1000
