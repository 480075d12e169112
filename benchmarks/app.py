"""``hcp bench app``: page first-render times in headless Chromium, and the what-if re-solve time.

Each figure stands next to a baseline measured in the same run: a page against the time of its SQL
queries alone (cold cache), the what-if re-solve against loading its inputs and building the
problem. The fleets are synthetic (apps/streamlit/synthetic.py, written straight into the marts: the
real pipeline would take longer than the benchmark at 28 days), each in a scratch database on the
same server that is dropped afterwards; ``--platform`` also measures the platform's own database as
the pipeline built it (after ``hcp demo``), with a temporary admin user removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from core.db import scratch_database

APP_DIR = Path(__file__).resolve().parent.parent / "apps" / "streamlit"
PROJECT_ROOT = APP_DIR.parent.parent
CHROMIUM = os.environ.get("HCP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# page key -> text of the element that appears last on the page's first render
CACHE_EXPIRY_MS = 11_000  # lib.queries.TTL_SECONDS is 10
PAGE_READY = {
    "executive": "What the optimizer earned",
    "operations": "Allocation plan",
    "resources": "devices match",
    "users": "Enable or disable",
}
MEASURED = ("executive", "operations", "resources")


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(url: str, timeout: float = 60.0) -> Iterator[str]:
    """``streamlit run`` of the app on an ephemeral port with DATABASE_URL; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    argv = [
        sys.executable, "-m", "streamlit", "run", str(APP_DIR / "streamlit_app.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"streamlit did not start on {base}:\n{err}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A Playwright page in Debian's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def login(page, base: str, username: str, password: str, totp_secret: str | None = None) -> float:
    """Open the app and sign in through the form (with the TOTP code of ``totp_secret`` for admin and
    finance); returns seconds until the first page (executive) rendered."""
    import pyotp

    page.goto(base)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    if totp_secret:
        page.get_by_role("textbox", name="One-time code (admin and finance)").fill(
            pyotp.TOTP(totp_secret).now()
        )
    start = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(PAGE_READY["executive"]).first.wait_for()
    wait_idle(page)
    return time.perf_counter() - start


def wait_idle(page) -> None:
    """Until the script run has finished (Streamlit's running indicator is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.indexOf('Running') < 0"
    )


def open_page(page, key: str) -> float:
    """Click the sidebar link of page ``key`` and return seconds until its last element shows."""
    from apps.streamlit.lib.ui import PAGES

    title = PAGES[key][1]
    start = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"], [data-testid="stSidebar"]').get_by_role(
        "link", name=title
    ).first.click()
    page.get_by_text(PAGE_READY[key]).first.wait_for()
    wait_idle(page)
    return time.perf_counter() - start


def _sql_baseline(key: str) -> float:
    """Seconds for the queries a page's first render runs, uncached."""
    import streamlit as st

    from apps.streamlit.lib import queries

    st.cache_data.clear()
    start = time.perf_counter()
    if key == "executive":
        prev, begin, end = queries.period(7)
        queries.kpi_totals(begin, end)
        queries.kpi_totals(prev, begin)
        queries.facility_hourly(begin, end)
        queries.revenue_mix_daily(begin, end)
        queries.usd_per_mwh_by_model(begin, end)
        queries.optimizer_backtest()
    elif key == "operations":
        facility = queries.facilities()["facility_id"].iloc[0]
        queries.freshness()
        queries.failing_checks()
        queries.alerts()
        queries.rack_snapshot(facility)
        queries.anomalies()
        queries.plan_by_mode(facility)
    else:
        queries.facilities()
        queries.device_models()
        queries.devices(None, None, None, None, None, 25, 0)
    return time.perf_counter() - start


def _whatif(url: str) -> dict:
    import streamlit as st

    from apps.streamlit.lib import queries, whatif

    st.cache_data.clear()
    start = time.perf_counter()
    base = whatif.build(queries.whatif_devices(), queries.facilities(), queries.whatif_hours(24))
    build = time.perf_counter() - start
    whatif.run(base, base.problem)  # warm the kernel (numba) once
    scenario = whatif.apply(base, whatif.Scenario(price_multiplier=1.5, gpu_demand_multiplier=0.8))
    outcome = whatif.run(base, scenario)
    return {
        "devices": int(len(base.problem.power_kw)),
        "intervals": len(base.hours),
        "resolve_s": round(outcome.seconds, 3),
        "baseline_build_problem_s": round(build, 3),
        "ratio": round(outcome.seconds / build, 2) if build else None,
    }


def _screenshot(page, path: Path, width: int, height: int) -> None:
    """A screenshot at this size (Streamlit scrolls inside the page, so the viewport is what shows),
    then back to the measuring size."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1280, "height": 900})


def _measure(
    url: str, fleet: str, results: dict, progress: Callable[[str], None], shots: Path | None = None
) -> None:
    """Render times of the measured pages on the database at ``url`` (and the what-if once), with a
    temporary admin user that is removed afterwards; with ``shots``, a screenshot of each page at
    desktop width and of executive and resources at phone width (390 px) into that folder."""
    from apps.streamlit.lib import auth, db

    os.environ["DATABASE_URL"] = url
    db.reset()
    username, password = f"bench-{secrets.token_hex(2)}", secrets.token_urlsafe(12)
    auth.add_user(username, "admin", password, actor="bench")
    secret = auth.enroll_totp(username, actor="bench")
    try:
        baselines = {key: _sql_baseline(key) for key in MEASURED}
        if results["whatif"] is None:
            progress("what-if re-solve")
            results["whatif"] = _whatif(url)
        progress("starting streamlit and chromium")
        with running_app(url) as base, chromium() as page:
            # Signing in renders the executive page on a fresh server (imports, plotly.js): reported
            # apart. Then the query caches expire, and each page is opened from the menu, data cold.
            results.setdefault("cold_server_login_s", {})[fleet] = round(
                login(page, base, username, password, secret), 3
            )
            page.wait_for_timeout(CACHE_EXPIRY_MS)
            for key in MEASURED:
                if key == "executive":
                    open_page(page, "users")
                seconds = open_page(page, key)
                results["pages"].append(
                    {
                        "page": key,
                        "fleet": fleet,
                        "render_s": round(seconds, 3),
                        "baseline_sql_s": round(baselines[key], 3),
                        "ratio": round(seconds / baselines[key], 1) if baselines[key] else None,
                    }
                )
                progress(f"{key} on {fleet}: {seconds:.2f} s")
                if shots:
                    _screenshot(page, shots / f"{key}.png", 1280, 2000)
            if shots:
                for key in ("resources", "executive"):
                    # the sidebar folds away at phone width: open the page first, then narrow it
                    open_page(page, key)
                    _screenshot(page, shots / f"{key}-phone.png", 390, 1600)
                progress(f"screenshots in {shots}")
    finally:
        db.execute("delete from ops.app_users where username = %(u)s", {"u": username})
        db.reset()


def run_benchmark(
    url: str,
    devices: int,
    days: list[int],
    progress: Callable[[str], None] = print,
    platform: bool = False,
    shots: Path | None = None,
) -> dict:
    """Render times per page on a synthetic fleet per history length (and, with ``platform``, on
    the platform's own database as the pipeline built it, screenshots into ``shots`` if given),
    what-if re-solve; each with baseline and ratio."""
    from benchmarks import app_synthetic as synthetic

    results: dict = {"devices": devices, "pages": [], "whatif": None}
    if platform:
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
        _measure(url, "platform database", results, progress, shots)
    for n_days in days:
        with scratch_database(url, "hcp_bench_app") as scratch:
            progress(f"seeding {devices} devices x {n_days} days")
            synthetic.seed(scratch, devices=devices, days=n_days)
            _measure(scratch, f"synthetic {n_days} d", results, progress)
    return results


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table."""
    lines = [f"page render, {result['devices']} devices (headless Chromium, first render after navigation)"]
    lines.append(f"{'page':<12}{'fleet':<20}{'render s':>10}{'SQL s':>9}{'ratio':>8}")
    for row in result["pages"]:
        lines.append(
            f"{row['page']:<12}{row['fleet']:<20}{row['render_s']:>10.3f}{row['baseline_sql_s']:>9.3f}{row['ratio']:>8}"
        )
    for fleet, seconds in result.get("cold_server_login_s", {}).items():
        lines.append(f"sign-in to executive on a fresh server ({fleet}): {seconds:.3f} s")
    w = result["whatif"]
    if w:
        lines.append(
            f"what-if re-solve ({w['devices']} devices x {w['intervals']} h): {w['resolve_s']:.3f} s; "
            f"building the problem {w['baseline_build_problem_s']:.3f} s; ratio {w['ratio']}"
        )
    return "\n".join(lines)
