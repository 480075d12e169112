"""HCP operations app: sign-in, role-based navigation over app_pages/, quick navigation.

Every page is registered with ``st.navigation`` (so a direct URL resolves), but the menu lists only
the pages the user's role may open, and a page outside the role is refused here, before it runs,
and audited.
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path

import psycopg
import streamlit as st

from apps.streamlit.lib import auth, ui

HERE = Path(__file__).resolve().parent
log = logging.getLogger("hcp.app")

st.set_page_config(page_title="HCP operations", page_icon=":material/bolt:", layout="wide")


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def _warm_up() -> None:
    from apps.streamlit.lib import charts, metrics  # noqa: F401 - plotly and the pages' helpers

    charts.px.bar(x=[0, 1], y=[0, 1]).to_json()  # plotly loads its templates and validators on first use


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server, while the sign-in form waits for the user: import what the first page needs
    and serialize a figure in the background, so signing in does not pay for it on a cold server."""
    thread = threading.Thread(target=_warm_up, name="hcp-warm-up", daemon=True)
    thread.start()
    return thread


def login_page() -> None:
    """Username/password form, and single sign-on when OIDC is configured in secrets.toml."""
    warm_up()
    st.title("HCP operations")
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        otp = st.text_input("One-time code (admin and finance)", key="login_otp", max_chars=8)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            user = auth.login(username.strip(), password, otp=otp or None, client=_client_address())
        except auth.LoginRefused as err:
            st.error(str(err))
            st.stop()
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable) as err:
            st.error(f"Cannot sign in: {err}. Run `hcp db start` to start the database and apply migrations.")
            st.stop()
        if user is None:
            st.error("Unknown user or wrong password.")
        else:
            st.session_state["user"] = user
            st.rerun()
    if _sso_configured():
        if st.user.is_logged_in:
            try:
                user = auth.login_sso(
                    str(st.user.get("email", "")),
                    bool(st.user.get("email_verified", False)),
                    otp=st.session_state.get("sso_otp") or None,
                    client=_client_address(),
                )
            except auth.LoginRefused as err:
                st.info(str(err))
                with st.form("sso_otp_form"):
                    st.text_input("One-time code", key="sso_otp", max_chars=8)
                    st.form_submit_button("Continue", type="primary")
                st.button("Sign out of SSO", on_click=st.logout)
                return
            if user is None:
                st.error(
                    "Your single sign-on account has no access to this app (or its e-mail is not verified)."
                )
                st.button("Sign out of SSO", on_click=st.logout)
            else:
                st.session_state["user"] = user
                st.rerun()
        else:
            st.button("Sign in with single sign-on", on_click=st.login)


def _client_address() -> str:
    """The browser's address as Streamlit sees it (behind a proxy: the proxy's), for throttling."""
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - no browser (tests, bare mode)
        return "unknown"
    return address if isinstance(address, str) and address else "unknown"


def _signed_in() -> auth.User | None:
    user = st.session_state.get("user")
    if user is None:
        return None
    valid = auth.check_session(user.session_id)
    if valid is None:
        st.session_state.pop("user", None)
        st.warning("Your session has expired; please sign in again.")
        return None
    st.session_state["user"] = valid
    return valid


def _sidebar(user: auth.User, pages: dict[str, st.Page]) -> None:
    with st.sidebar:
        ui.quick_nav(user)
        section = None
        for key in auth.allowed_pages(user.role):
            if ui.PAGES[key][3] != section:
                section = ui.PAGES[key][3]
                st.caption(section)
            st.page_link(pages[key])
        st.divider()
        st.caption(f"Signed in as **{user.username}** ({user.role})")
        with st.popover("Change password"), st.form("change_password", clear_on_submit=True):
            current = st.text_input("Current password", type="password", key="pw_current")
            new = st.text_input("New password", type="password", key="pw_new")
            if st.form_submit_button("Change"):
                try:
                    auth.change_password(user, current, new)
                    st.success("Password changed; your other sessions were signed out.")
                except auth.LoginRefused as err:
                    st.error(str(err))
        if st.button("Sign out", key="logout"):
            auth.logout(user)
            st.session_state.clear()
            if _sso_configured() and st.user.is_logged_in:
                st.logout()  # ends the identity provider's session cookie too
            st.rerun()


def main() -> None:
    try:
        user = _signed_in()
    except psycopg.OperationalError as err:
        st.error(f"Cannot reach the database: {err}. Start it with `hcp db start` (or set DATABASE_URL).")
        st.stop()
    except psycopg.errors.UndefinedTable:
        st.error("The database has no user tables yet: run `hcp db start` to apply the migrations.")
        st.stop()
    if user is None:
        st.navigation([st.Page(login_page, title="Sign in", url_path="login")], position="hidden").run()
        return
    pages = {
        key: st.Page(
            file, title=title, icon=icon, url_path=key, default=(key == auth.allowed_pages(user.role)[0])
        )
        for key, (file, title, icon, _) in ui.PAGES.items()
    }
    current = st.navigation(list(pages.values()), position="hidden")
    _sidebar(user, pages)
    # the default page answers at "/", so match the page object, not its URL path
    key = next(k for k, page in pages.items() if page is current or page._script_hash == current._script_hash)
    if not auth.can_open(user.role, key):
        auth.deny(user, key)
        st.error(
            f"Access denied: the {user.role} role cannot open {ui.PAGES[key][1]}.", icon=":material/block:"
        )
        st.stop()
    current.run()


def run() -> None:
    """The app, with unexpected errors logged server-side and a reference shown instead of a traceback."""
    try:
        main()
    except Exception:  # noqa: BLE001 - Streamlit's stop and rerun are BaseExceptions and pass through
        ref = secrets.token_hex(4)
        log.exception("app error (ref %s)", ref)
        st.error(f"Something went wrong (reference {ref}); the details were logged for the operators.")


run()
