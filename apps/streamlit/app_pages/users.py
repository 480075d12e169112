"""Users (admin): list, add or change role, enable and disable; every change is audited."""

import pandas as pd
import streamlit as st

from apps.streamlit.lib import auth, ui

st.title("Users")
admin = ui.current_user()
st.dataframe(pd.DataFrame(auth.list_users()), hide_index=True, width="stretch")

with st.form("user_add", clear_on_submit=True):
    st.markdown("**Add a user or change a role**")
    name = st.text_input("Username", key="ua_name")
    role = st.selectbox("Role", auth.ROLES, key="ua_role")
    password = st.text_input(
        "Password (empty keeps the current one; SSO users need none)", type="password", key="ua_password"
    )
    if st.form_submit_button("Save"):
        try:
            auth.add_user(name.strip(), role, password or None, actor=admin.username)
            st.success(f"Saved {name.strip()} as {role}.")
        except Exception as err:  # noqa: BLE001 - shown to the admin
            st.error(str(err))

with st.form("user_toggle"):
    st.markdown("**Enable or disable**")
    name = st.text_input("Username", key="ut_name")
    active = st.toggle("Active", value=False, key="ut_active")
    if st.form_submit_button("Apply"):
        if name.strip() == admin.username and not active:
            st.error("You cannot disable yourself.")
        elif auth.set_active(name.strip(), active, actor=admin.username):
            st.success("Done.")
        else:
            st.error(f"No user {name.strip()!r}.")
