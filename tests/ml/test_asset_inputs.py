"""The forecast assets declare every dbt model their loader reads. The automation holds an asset back
while a declared upstream model was never built; an undeclared one let the forecasts run before
``staging.stg_raw__facilities`` existed (the soak's failed ``ml__forecasts`` step:
``relation "staging.stg_raw__facilities" does not exist``)."""

import inspect
import re

import pytest

from assets import forecasting, ml_queries

RELATION = re.compile(r"\b(staging|intermediate|marts)\.(\w+)")


def relations_read(function) -> set[tuple[str, str]]:
    """The dbt relations named in the SQL of the ``ml_queries`` functions that ``function`` calls."""
    called = set(re.findall(r"\bq\.(\w+)\(", inspect.getsource(function)))
    return {
        match for name in called for match in RELATION.findall(inspect.getsource(getattr(ml_queries, name)))
    }


def test_the_loader_reads_the_facilities_it_failed_on():
    assert ("staging", "stg_raw__facilities") in relations_read(forecasting.series_frames)


@pytest.mark.parametrize(
    "asset", [forecasting.forecasts, forecasting.forecast_models], ids=lambda a: a.key.path[-1]
)
def test_forecast_assets_declare_what_their_loader_reads(asset):
    (key,) = asset.keys
    declared = {tuple(dep.path) for dep in asset.asset_deps[key]}
    assert relations_read(forecasting.series_frames) <= declared
