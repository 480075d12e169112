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
        # after its input, raw days missing or not (stg_telemetry's first build: no run launched here)
        assert requested(result) == {"staging/stg_prices", "staging/stg_telemetry"}
        dg.materialize([stg_prices], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        # prices updated, but telemetry's staging model was never built: aligned waits for it
        assert "intermediate/aligned" not in requested(result)
        dg.materialize([stg_telemetry], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert "intermediate/aligned" in requested(result)


def test_a_model_whose_input_never_arrives_is_still_built_once():
    """A site with miners only never lands GPU telemetry: the staging model of that raw table (which
    migrations create, empty) is built on its own, or every model downstream would wait for ever."""
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance)
        assert requested(result) == {"staging/stg_prices", "staging/stg_telemetry"}
        # not the intermediate model: its upstream models are not built yet
        dg.materialize([stg_prices, stg_telemetry], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert requested(result) == {"intermediate/aligned"}
        dg.materialize([aligned], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert requested(result) == set()  # built once: nothing new until an input lands


@dg.asset(key=["staging", "stg_broken"], group_name="staging", automation_condition=follows_inputs())
def stg_broken() -> None:
    raise RuntimeError("the model's SQL is wrong")


def test_a_failed_first_build_is_not_retried_every_tick():
    defs = dg.Definitions(assets=[stg_broken])
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(result) == {"staging/stg_broken"}
        assert not dg.materialize([stg_broken], instance=instance, raise_on_error=False).success
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert requested(result) == set()  # one failed run, not one per tick
