"""Whether schedules and sensors start running when the platform is served: on by default,
``HCP_AUTOMATION=off`` leaves them all stopped (for a read-only or maintenance deployment)."""

from __future__ import annotations

import dagster as dg

from core.settings import get_settings


def schedule_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if get_settings().automation else dg.DefaultScheduleStatus.STOPPED


def sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if get_settings().automation else dg.DefaultSensorStatus.STOPPED
