"""The app in headless Chromium: sign in, executive page, screenshots; KPI cards not cut off at desktop
width; no horizontal scroll at phone width."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from benchmarks.app import CHROMIUM, PAGE_READY, chromium, login, open_page, running_app, wait_idle
from tests.app.helpers import PASSWORD, totp_secret

# Screenshots go to a temp folder; docs/screenshots come from the demo's database:
# `hcp bench app --platform --screenshots docs/screenshots` (see README).
NO_HSCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
# Texts of KPI card labels and values that do not fit their card (cut off with an ellipsis).
CUT_OFF = """() => [...document.querySelectorAll(
    '[data-testid="stMetricLabel"] *, [data-testid="stMetricValue"] *')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""

pytestmark = [pytest.mark.browser, pytest.mark.slow(seconds=60)]


@pytest.fixture()
def screenshots(tmp_path: Path) -> Path:
    assert Path(CHROMIUM).exists(), (
        f"no Chromium at {CHROMIUM}: apt-get install chromium (./hcpw test does it)"
    )
    return tmp_path


def test_login_executive_and_phone_width(fleet_url, screenshots):
    with running_app(fleet_url) as base:
        with chromium(1280, 900) as page:
            login(page, base, "admin", PASSWORD, totp_secret("admin"))
            # The KPI cards live in a fragment that reruns every 15 s: wait for them (expect
            # retries) rather than sample one instant, which can fall inside a rerun under load.
            expect(page.get_by_role("heading", name="Executive")).to_be_visible()
            expect(page.get_by_text("Total revenue").first).to_be_visible()
            page.wait_for_selector(".js-plotly-plot")
            assert page.evaluate(CUT_OFF) == [], "KPI cards cut off at 1280 px"
            page.set_viewport_size(
                {"width": 1280, "height": 2000}
            )  # the app scrolls inside its own container
            wait_idle(page)
            page.screenshot(path=str(screenshots / "executive.png"), full_page=True)
            for key in ("operations", "resources"):
                open_page(page, key)
                page.wait_for_timeout(500)
                page.screenshot(path=str(screenshots / f"{key}.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(500)
            assert page.evaluate(NO_HSCROLL), "resources page scrolls sideways at 390 px"
            page.screenshot(path=str(screenshots / "resources-phone.png"), full_page=True)
        with chromium(390, 844) as phone:
            login(phone, base, "viewer", PASSWORD)
            phone.get_by_text(PAGE_READY["executive"]).first.wait_for()
            phone.wait_for_timeout(500)
            width = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert phone.evaluate(NO_HSCROLL), f"executive page scrolls sideways at 390 px: {width}"
            phone.screenshot(path=str(screenshots / "executive-phone.png"), full_page=True)
