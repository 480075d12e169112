"""The allocation benchmark runs end to end on tiny sizes and renders a table."""

from __future__ import annotations

from benchmarks.allocation import format_table, run_benchmark


def test_benchmark_rows_and_table():
    messages: list[str] = []
    result = run_benchmark(sizes=((30, 4), (40, 6)), highs_time_limit=10.0, progress=messages.append)
    first = result["rows"][0]
    assert first["highs_status"] == "optimal" and first["bound_source"] == "highs_lp"
    assert 0.0 <= first["gap"] <= 0.05 and first["speedup"] > 0
    assert messages and "30 x 4" in format_table(result)


def test_benchmark_skips_highs_on_large_models():
    row = run_benchmark(sizes=((30, 4),), highs_max_cells=10)["rows"][0]
    assert row["highs_status"] == "not run (too large)" and row["bound_source"] == "kernel"
    assert "not run" in format_table({**run_benchmark(sizes=()), "rows": [row]})


def test_benchmark_catalogue_fleet_against_the_per_device_baseline():
    row = run_benchmark(sizes=((3_000, 8, 3),))["rows"][0]
    assert row["models"] == 3 and row["gap"] <= 0.005
    assert row["baseline_seconds"] > 0 and row["speedup"] == row["baseline_seconds"] / row["kernel_seconds"]
    table = format_table({**run_benchmark(sizes=()), "rows": [row]})
    assert "3000 x 8" in table and "/3" in table and "per-device" in table
