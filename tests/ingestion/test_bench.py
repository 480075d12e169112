"""The ingest benchmark on a small file: it runs, reports the three rates, and cleans up."""

from __future__ import annotations

from benchmarks.ingestion import format_table, run_benchmark


def test_benchmark_reports_rates_and_drops_its_schema(conn, database_url):
    result = run_benchmark(database_url, rows=20_000)
    for key in (
        "project_rows_per_s",
        "copy_rows_per_s",
        "to_sql_rows_per_s",
        "project_vs_copy",
        "project_vs_to_sql",
    ):
        assert result[key] > 0
    assert "project / COPY" in format_table(result)
    assert 50 < result["loader_peak_rss_mb"] < 4096  # the loader's own process, measured
    assert set(result["indexes"]) == {"btree (ts, device_id, hash)", "btree (device_id, ts, hash)+BRIN(ts)"}
    for figures in result["indexes"].values():
        assert figures["load_seconds"] > 0 and figures["size_mb"] > 0 and figures["hour_range_ms"] > 0
    leftovers = conn.execute(
        "select count(*) from pg_namespace where nspname like 'hcp_bench_%%'"
    ).fetchone()[0]
    assert leftovers == 0
