"""Declarative automation: downstream work follows its inputs, not cron offsets.

- dbt staging, intermediate and marts models rebuild after the raw loads they read,
- forecasts after the marts (and the weekly model selection),
- the allocation plan after the forecasts,
- anomalies after telemetry, facility anomalies after the facility marts.

One automation sensor evaluates these conditions (on by default, see ``HCP_AUTOMATION``). The marts
and the plan carry a freshness policy, so the UI shows when they lag.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from assets.automation import sensor_status
from assets.groups import INTERMEDIATE, MARTS, STAGING

FORECASTS = dg.AssetKey(["ml", "forecasts"])
ANOMALIES = dg.AssetKey(["ml", "anomalies"])
FACILITY_ANOMALIES = dg.AssetKey(["ml", "facility_anomalies"])
PLAN = dg.AssetKey(["ops", "allocation_plan"])
SENSOR_NAME = "automation_sensor"

# what the automation builds: a missing one of these upstream of a follower means "wait for it"
FOLLOWERS = dg.AssetSelection.groups(STAGING, INTERMEDIATE, MARTS) | dg.AssetSelection.assets(
    FORECASTS, ANOMALIES, FACILITY_ANOMALIES, PLAN
)
FRESH = dg.AssetSelection.groups(MARTS) | dg.AssetSelection.assets(PLAN)
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=3), warn_window=timedelta(hours=1, minutes=30)
)


def follows_inputs() -> dg.AutomationCondition:
    """``eager()`` whose "no input missing" clause looks at what automation itself builds: a model
    reads day-partitioned raw tables, whose days before the first file stay missing for ever and
    would block it, but a model whose upstream model was never built would fail on a missing
    relation (the soak saw ``relation "staging.stg_raw__device_telemetry" does not exist``).

    Also a first build of what was never built, with its never-built upstream models: a raw table that
    never gets a file (GPU telemetry at a site of miners only) exists empty from the migrations, and
    without it every model downstream would wait for ever (the soak's plan never came). A first
    build that failed is not retried every tick; the next input update retries it."""
    # (a model built in the same tick is built first in the same run)
    unbuilt_upstream = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.missing() & ~dg.AutomationCondition.will_be_requested()
    ).allow(FOLLOWERS)
    first_build = (
        dg.AutomationCondition.missing()
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.execution_failed()
        & ~dg.AutomationCondition.any_deps_in_progress()
    )
    eager = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
    return ((eager | first_build) & ~unbuilt_upstream).with_label("follows_inputs")


def apply(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the automation conditions, freshness policies and the automation sensor."""
    graph = defs.resolve_asset_graph()
    followers = FOLLOWERS.resolve(graph)
    fresh = FRESH.resolve(graph)

    def policy(spec: dg.AssetSpec) -> dg.AssetSpec:
        changes = {}
        if spec.key in followers:
            changes["automation_condition"] = follows_inputs()
        if spec.key in fresh:
            changes["freshness_policy"] = FRESHNESS
        return spec.replace_attributes(**changes) if changes else spec

    mapped = defs.map_asset_specs(func=policy)
    sensor = dg.AutomationConditionSensorDefinition(
        SENSOR_NAME,
        target=dg.AssetSelection.all(),
        default_status=sensor_status(),
        minimum_interval_seconds=15,
        run_tags={"hcp/automation": "declarative"},
        description="Runs whatever the automation conditions ask for: marts after loads, forecasts "
        "after marts, the plan after forecasts, anomalies after telemetry.",
    )
    return dg.Definitions.merge(mapped, dg.Definitions(sensors=[sensor]))
