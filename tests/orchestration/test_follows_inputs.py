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


def test_a_model_waits_for_an_upstream_model_that_is_not_being_built():
    """The relation of an upstream model that is neither built nor being built does not exist."""
    defs = dg.Definitions(assets=[raw_prices, stg_prices, stg_broken, joined])
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(result) == {"staging/stg_prices", "staging/stg_broken", "intermediate/joined"}
        dg.materialize([stg_prices], instance=instance)
        assert not dg.materialize([stg_broken], instance=instance, raise_on_error=False).success
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert requested(result) == set()
        dg.materialize([raw_prices], instance=instance, partition_key=DAYS.get_last_partition_key())
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        # prices updated, but stg_broken was never built (and is not retried): joined waits for it
        assert requested(result) == {"staging/stg_prices"}


def test_a_model_whose_input_never_arrives_is_still_built_once():
    """A site with miners only never lands GPU telemetry: the staging model of that raw table (which
    migrations create, empty) is built on its own, with everything downstream in the same tick, or
    every model downstream would wait for ever."""
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance)
        assert requested(result) == {"staging/stg_prices", "staging/stg_telemetry", "intermediate/aligned"}
        dg.materialize([stg_prices, stg_telemetry, aligned], instance=instance)
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert requested(result) == set()  # built once: nothing new until an input lands
        dg.materialize([raw_prices], instance=instance, partition_key=DAYS.get_last_partition_key())
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=result.cursor)
        assert requested(result) == {"staging/stg_prices", "intermediate/aligned"}


@dg.asset(key=["staging", "stg_broken"], group_name="staging", automation_condition=follows_inputs())
def stg_broken() -> None:
    raise RuntimeError("the model's SQL is wrong")


@dg.asset(key=["intermediate", "joined"], deps=[stg_prices, stg_broken], group_name="intermediate",
          automation_condition=follows_inputs())  # fmt: skip
def joined() -> None: ...


def test_a_failed_first_build_is_not_retried_every_tick():
    defs = dg.Definitions(assets=[stg_broken])
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(result) == {"staging/stg_broken"}
        assert not dg.materialize([stg_broken], instance=instance, raise_on_error=False).success
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert requested(result) == set()  # one failed run, not one per tick
