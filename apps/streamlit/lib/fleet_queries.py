"""Queries of the live fleet section of the operations page (ops schema only, cached briefly)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from apps.streamlit.lib import db

TTL_SECONDS = 10


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def last_poll(facility_id: str) -> pd.DataFrame:
    """Latest status of each machine of the facility (GPU nodes that did not answer have no
    facility and show on every facility)."""
    return db.frame(
        """
        select s.device_id, s.state, s.polled_at, s.power_kw, s.pool, s.detail, s.errors
        from ops.fleet_status_latest s
        left join marts.dim_devices d using (device_id)
        where d.facility_id = %(facility)s or d.device_id is null
        order by s.state = 'unreachable' desc, s.device_id
        """,
        {"facility": facility_id},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def commands(facility_id: str, limit: int = 200) -> pd.DataFrame:
    """The facility's latest controller commands, newest first."""
    return db.frame(
        """
        select issued_at, device_id, action, rule, mode, status, result, reason
        from ops.fleet_commands where facility_id = %(facility)s
        order by command_id desc limit %(limit)s
        """,
        {"facility": facility_id, "limit": int(limit)},
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def alerts(limit: int = 100) -> pd.DataFrame:
    """Commanded vs observed: the latest alerts."""
    return db.frame(
        "select raised_at, device_id, kind, commanded, observed, detail from ops.fleet_alerts "
        "order by alert_id desc limit %(limit)s",
        {"limit": int(limit)},
    )
