"""Facility series anomalies through Dagster on a fleet built through dbt: the causal series
detector on each facility's hourly site-meter energy and PUE, into ml.anomalies."""

import pytest

from orchestration.materialize import materialize
from tests.databases import Template


@pytest.fixture(scope="module")
def database_template(marts_fleet_template: Template) -> Template:
    return marts_fleet_template


def _facility_alerts(conn) -> list[tuple]:
    return conn.execute(
        """select device_id, metric, start_at, severity from ml.anomalies
           where device_model = 'facility' order by start_at, device_id, metric"""
    ).fetchall()


def test_a_shift_in_a_facility_meter_is_one_alert_written_once(module_url, conn):
    assert materialize("ml/facility_anomalies")[0].success
    before = _facility_alerts(conn)
    facility, newest = conn.execute(
        "select facility_id, max(hour_start_at) from marts.fct_facility_hourly group by 1 order by 1 limit 1"
    ).fetchone()
    # the facility's meter reads 3 MWh more per hour over its last six hours (a chiller stuck on)
    conn.execute(
        """update marts.fct_facility_hourly set site_meter_mwh = site_meter_mwh + 3
           where facility_id = %s and hour_start_at > %s - interval '6 hours'""",
        (facility, newest),
    )
    assert materialize("ml/facility_anomalies")[0].success
    new = [a for a in _facility_alerts(conn) if a not in before]
    assert [(a[0], a[1]) for a in new] == [(facility, "site_power")]  # one incident, one alert
    assert new[0][2] > newest.replace(hour=0) and new[0][2] <= newest
    # scoring the same hours again writes nothing new
    after = _facility_alerts(conn)
    assert materialize("ml/facility_anomalies")[0].success
    assert _facility_alerts(conn) == after
