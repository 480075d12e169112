"""The automation condition of the dbt models and their followers: a model runs after its inputs
are updated, never while an upstream model was never built (its relation would not exist), and is
not held back by the days of a day-partitioned raw table that never had a file."""

import dagster as dg

from orchestration.automation import follows_inputs

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_offset=1)


@dg.asset(key=["raw", "telemetry"], partitions_def=DAYS, group_name="ingestion")
def raw_telemetry() -> None: ...


@dg.asset(key=["raw", "prices"], partitions_def=DAYS, group_name="ingestion")
def raw_prices() -> None: ...


@dg.asset(key=["staging", "stg_telemetry"], deps=[raw_telemetry], group_name="staging",
          automation_condition=follows_inputs())  # fmt: skip
def stg_telemetry() -> None: ...


@dg.asset(key=["staging", "stg_prices"], deps=[raw_prices], group_name="staging",
          automation_condition=follows_inputs())  # fmt: skip
def stg_prices() -> None: ...


@dg.asset(key=["intermediate", "aligned"], deps=[stg_telemetry, stg_prices], group_name="intermediate",
          automation_condition=follows_inputs())  # fmt: skip
def aligned() -> None: ...


DEFS = dg.Definitions(assets=[raw_telemetry, raw_prices, stg_telemetry, stg_prices, aligned])


def requested(result) -> set[str]:
    return {"/".join(r.key.path) for r in result.results if r.true_subset.size}


def test_a_model_waits_for_an_upstream_model_never_built():
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance)
        dg.materialize([raw_prices], instance=instance, partition_key="2026-11-18")
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert requested(result) == {"staging/stg_prices"}  # after its input, raw days missing or not
        dg.materialize([stg_prices], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        # prices updated, but telemetry's staging model was never built: aligned waits for it
        assert "intermediate/aligned" not in requested(result)
        dg.materialize([stg_telemetry], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert "intermediate/aligned" in requested(result)
