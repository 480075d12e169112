"""A short soak: the served platform (code server + daemon, Dagster storage in PostgreSQL) left alone
while a small fleet's landing files arrive; the daemon loads them and the automation rebuilds the
marts, forecasts and plan. Everything real: the processes, the database, dbt."""

from orchestration.soak import run_soak


def test_short_soak_daemon_does_everything(database_url):
    report = run_soak(database_url, hours=3, speed=180, devices=2, timeout=1200)
    failed = {name: passed for name, passed in report["checks"].items() if not passed}
    assert failed == {}, report
    assert report["files"] > 5
    assert report["lag_file_to_mart_seconds"]["files"] == report["files"]
