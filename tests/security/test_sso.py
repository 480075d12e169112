"""Attack 8: single sign-on through st.login against a local OIDC provider (out of process: a real
Streamlit server), e-mail verification, and sign-out ending the SSO session."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.helpers import APP_FILE
from tests.security.oidc_provider import OidcProvider

CLIENT_ID, CLIENT_SECRET = "hcp-app", "client-secret-for-tests"
COOKIE_SECRET = "cookie-secret-for-tests-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _streamlit(folder: Path, issuer: str) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    (folder / ".streamlit").mkdir()
    (folder / ".streamlit" / "secrets.toml").write_text(
        f'[auth]\nredirect_uri = "{base}/oauth2callback"\ncookie_secret = "{COOKIE_SECRET}"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
    )
    streamlit = Path(sys.executable).with_name("streamlit")
    process = subprocess.Popen(
        [str(streamlit), "run", APP_FILE, "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=folder, env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/_stcore/health", timeout=5).status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise AssertionError("streamlit did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _provider_token() -> str:
    """What st.login hands the browser: a short-lived token naming the provider, signed with the
    cookie secret (built here as Streamlit builds it, since no browser runs the script)."""
    from joserfc import jwt
    from joserfc.jwk import OctKey

    return jwt.encode({"alg": "HS256"}, {"provider": "default", "exp": int(time.time()) + 120},
                      OctKey.import_key(COOKIE_SECRET))  # fmt: skip


def test_sso_flow_against_local_oidc_provider_and_sign_out(tmp_path):
    with (
        OidcProvider(CLIENT_ID, CLIENT_SECRET, "ana@example.com") as idp,
        _streamlit(tmp_path, idp.issuer) as base,
        httpx.Client(follow_redirects=False, timeout=60) as browser,
    ):
        start = browser.get(f"{base}/auth/login", params={"provider": _provider_token()})
        assert start.status_code in (302, 303, 307), start.text[:500]
        authorize = start.headers["location"]
        assert authorize.startswith(f"{idp.issuer}/authorize") and "code_challenge=" in authorize
        back = browser.get(authorize)
        callback = browser.get(back.headers["location"])
        assert callback.status_code in (302, 303, 307)
        assert "/token" in idp.requests  # the code was exchanged, the id_token verified by jwks
        assert any(name.startswith("_streamlit_user") for name in browser.cookies), dict(browser.cookies)
        browser.get(f"{base}/auth/logout")
        assert not any(name.startswith("_streamlit_user") for name in browser.cookies)


def test_unverified_email_opens_no_session(app_db):
    from apps.streamlit.lib import auth

    auth.add_user("ana@example.com", "analyst", None, actor="test")
    assert auth.login_sso("ana@example.com", email_verified=False) is None
    assert auth.login_sso("ana@example.com", email_verified=True) is not None
    with pytest.raises(auth.LoginRefused):  # admin and finance need the code after SSO as well
        auth.add_user("boss@example.com", "admin", None, actor="test")
        auth.login_sso("boss@example.com", email_verified=True)


def test_sign_out_ends_the_sso_session_too():
    source = Path(APP_FILE).read_text()
    sidebar = source[source.index("def _sidebar") : source.index("def main")]
    assert "st.logout()" in sidebar
