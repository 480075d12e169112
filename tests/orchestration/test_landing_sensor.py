"""The landing sensor: one run per day (and one for reference data) listing exactly the new files of
every raw table; settled files only, by checksum, symlinks refused, unknown files reported on their own."""

import json
import os
import time

from orchestration.sensors import landing_requests, sha256


def write(root, relative: str, text: str = "x\n", age: float = 3600):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def evaluate(root, cursor=None, loaded=frozenset(), settle=5.0, hold=False, days=None):
    requests, new_cursor, reports = landing_requests(
        root,
        json.loads(cursor) if cursor else {},
        lambda paths: {pair for pair in loaded if pair[0] in paths},
        settle,
        time.time(),
        hold=hold,
        partition_days=days,
    )
    return requests, json.dumps(new_cursor), reports


def files_of(request) -> list[str]:
    return sorted(name for op in request.run_config["ops"].values() for name in op["config"]["files"])


def routed(requests) -> set:
    """(job, {table: files}, partition) of each request; the selection names the same tables."""
    out = set()
    for r in requests:
        tables = {op.removeprefix("raw_"): len(c["config"]["files"]) for op, c in r.run_config["ops"].items()}
        assert {key.path[-1] for key in r.asset_selection} == set(tables)
        assert r.tags["hcp/landing"] == "load"
        out.add((r.job_name, tuple(sorted(tables.items())), r.partition_key))
    return out


def test_one_run_per_day_with_exactly_the_new_files(tmp_path):
    devices = write(tmp_path, "reference/devices.csv")
    write(tmp_path, "reference/facilities.csv")
    write(tmp_path, "prices/ercot_rt/rtm_spp_20261118.csv")
    write(tmp_path, "prices/pjm/rt_lmps_20261118.csv")
    write(tmp_path, "prices/ercot_rt/rtm_spp_20261119.csv")
    write(tmp_path, "site_meter/2026-11-18.csv")
    write(tmp_path, "telemetry/dcgm/2026-11-18.prom")
    write(tmp_path, "telemetry/miner/2026-11-18T01.jsonl")
    write(tmp_path, "labels/faults.csv")  # ground truth, never ingested
    requests, cursor, reports = evaluate(tmp_path)
    # devices after facilities in the same run (ordered by the asset graph); telemetry and site
    # meters reference devices and facilities, loaded by another run: they wait for that load
    assert routed(requests) == {
        ("ingest_reference", (("devices", 1), ("facilities", 1)), None),
        ("ingest_daily", (("energy_prices", 2),), "2026-11-18"),
        ("ingest_daily", (("energy_prices", 1),), "2026-11-19"),
    }
    assert reports == {}
    assert evaluate(tmp_path, cursor)[0] == []  # devices still loading: nothing new to ask

    loaded = {(str(p), sha256(p)) for p in (devices, tmp_path / "reference/facilities.csv")}
    requests, cursor, _ = evaluate(tmp_path, cursor, loaded=loaded)
    assert routed(requests) == {("ingest_daily", (("device_telemetry", 2), ("site_meter", 1)), "2026-11-18")}

    again, cursor, _ = evaluate(tmp_path, cursor, loaded=loaded)
    assert again == []  # nothing new

    write(tmp_path, "telemetry/miner/2026-11-18T02.jsonl")  # a new file of the same day: only it
    (new,), cursor, _ = evaluate(tmp_path, cursor)
    assert files_of(new) == [str(tmp_path / "telemetry/miner/2026-11-18T02.jsonl")]

    write(tmp_path, "telemetry/dcgm/2026-11-18.prom", "changed\n")  # changed content: loaded again
    (changed,), cursor, _ = evaluate(tmp_path, cursor)
    assert files_of(changed) == [str(tmp_path / "telemetry/dcgm/2026-11-18.prom")]

    write(tmp_path, "telemetry/dcgm/2026-11-18.prom", "changed\n", age=60)  # touched, same content
    assert evaluate(tmp_path, cursor)[0] == []


def test_files_already_loaded_by_checksum_are_skipped(tmp_path):
    """A lost cursor does not reload what raw.load_log says was loaded with the same checksum."""

    path = write(tmp_path, "site_meter/2026-11-18.csv")
    other = write(tmp_path, "site_meter/2026-11-19.csv", "y\n")
    requests, _, _ = evaluate(tmp_path, loaded={(str(path), sha256(path)), (str(other), "stale")})
    assert [files_of(r) for r in requests] == [[str(other)]]


def test_files_being_written_are_left_for_later(tmp_path):
    write(tmp_path, "site_meter/2026-11-18.csv.part")  # temporary name
    write(tmp_path, "site_meter/.2026-11-18.csv")  # hidden name
    fresh = write(tmp_path, "site_meter/2026-11-19.csv", age=0)  # modified just now
    requests, cursor, _ = evaluate(tmp_path, settle=30)
    assert requests == []
    then = time.time() - 60
    os.utime(fresh, (then, then))
    (request,), _, _ = evaluate(tmp_path, cursor, settle=30)
    assert files_of(request) == [str(fresh)]


def test_symlinks_refused_and_unknown_files_reported_once_without_blocking(tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    secret = write(outside, "2026-11-18.csv")
    (tmp_path / "site_meter").mkdir()
    (tmp_path / "site_meter" / "2026-11-18.csv").symlink_to(secret)
    (tmp_path / "telemetry").mkdir()
    (tmp_path / "telemetry" / "linked").symlink_to(outside, target_is_directory=True)
    write(tmp_path, "mystery/notes.txt")
    good = write(tmp_path, "site_meter/2026-11-19.csv")
    requests, cursor, reports = evaluate(tmp_path)
    assert [files_of(r) for r in requests] == [[str(good)]]
    assert reports == {
        str(tmp_path / "site_meter" / "2026-11-18.csv"): "symlink refused",
        str(tmp_path / "telemetry" / "linked"): "symlinked folder refused",
        str(tmp_path / "mystery" / "notes.txt"): "no raw source takes this file name",
    }
    assert evaluate(tmp_path, cursor)[2] == {}  # reported once, not on every tick


def test_a_file_whose_run_never_loaded_it_is_asked_again_once(tmp_path):
    from orchestration import sensors

    path = write(tmp_path, "site_meter/2026-11-18.csv")
    (first,), cursor, _ = evaluate(tmp_path)
    later = json.loads(cursor)
    later["requested"][str(path)][2] -= sensors.PENDING_SECONDS  # its run failed long ago
    assert evaluate(tmp_path, json.dumps(later))[0] == []  # this tick forgets it ...
    again, cursor, _ = evaluate(tmp_path, evaluate(tmp_path, json.dumps(later))[1])
    (retry,) = again  # ... and the next asks for it again, under a new run key
    assert files_of(retry) == [str(path)] and retry.run_key != first.run_key
    expired = json.loads(cursor)
    expired["requested"][str(path)][2] -= sensors.PENDING_SECONDS
    cursor = evaluate(tmp_path, json.dumps(expired))[1]
    assert evaluate(tmp_path, cursor)[0] == []  # once only: then it is the alerts' business


def test_files_arriving_while_a_load_runs_wait_and_go_in_one_run(tmp_path):
    """Loads run one at a time: files that arrive while one is queued or running are held, then
    asked for together, instead of one run per tick queueing behind it."""
    first = write(tmp_path, "prices/ercot_rt/rtm_spp_20261118.csv")
    (request,), cursor, _ = evaluate(tmp_path)
    assert files_of(request) == [str(first)]
    second = write(tmp_path, "prices/pjm/rt_lmps_20261118.csv")
    assert evaluate(tmp_path, cursor, hold=True)[0] == []
    third = write(tmp_path, "prices/ercot_rt/rtm_spp_20261119.csv")
    requests, cursor, _ = evaluate(tmp_path, evaluate(tmp_path, cursor, hold=True)[1], hold=True)
    assert requests == []
    requests, cursor, _ = evaluate(tmp_path, cursor, loaded={(str(first), sha256(first))})
    assert sorted(files_of(r) for r in requests) == sorted([[str(second)], [str(third)]])


def test_a_file_for_a_day_without_a_partition_waits_or_is_refused_without_blocking(tmp_path):
    """A feed ahead of UTC (or a file for a day before HCP_PARTITIONS_START) used to make the sensor
    ask for an unknown partition, which failed every tick and held every other file."""
    today = write(tmp_path, "site_meter/2026-11-18.csv")
    ahead = write(tmp_path, "site_meter/2026-11-19.csv")
    old = write(tmp_path, "site_meter/2019-01-01.csv")
    days = ("2025-01-01", "2026-11-18")
    requests, cursor, reports = evaluate(tmp_path, days=days)
    assert [(r.partition_key, files_of(r)) for r in requests] == [("2026-11-18", [str(today)])]
    assert reports == {
        str(
            ahead
        ): "2026-11-19 has no partition yet (the last is 2026-11-18): loaded once that day begins (UTC)",
        str(old): "2019-01-01 is before the first partition, 2025-01-01 (HCP_PARTITIONS_START)",
    }
    requests, cursor, reports = evaluate(tmp_path, cursor, days=days)
    assert (requests, reports) == ([], {})  # still waiting, reported once
    requests, cursor, _ = evaluate(tmp_path, cursor, days=("2025-01-01", "2026-11-19"))  # the day began
    assert [(r.partition_key, files_of(r)) for r in requests] == [("2026-11-19", [str(ahead)])]
