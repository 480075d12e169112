"""The platform's own readers and row validation accept every simulated file without a reject.

No database: reading and validating are plain functions; known ids come from the simulated
reference files, as they would after loading them first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ingestion.formats import READERS
from ingestion.kinds import TABLE_OF, NotIngested, detect_kind
from ingestion.simulator import simulate
from ingestion.validation import validate


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    simulate(out, seed=3, facilities=3, devices=48, days=2, end=datetime(2026, 11, 2), customers=5, workers=1)
    return out


def test_every_file_reads_and_validates_cleanly(landing: Path) -> None:
    known = {
        "devices": set(pd.read_csv(landing / "reference/devices.csv")["device_id"]),
        "facilities": set(pd.read_csv(landing / "reference/facilities.csv")["facility_id"]),
    }
    kinds = set()
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        try:
            kind = detect_kind(path)
        except NotIngested:
            assert path.parent.name == "labels"
            continue
        kinds.add(kind)
        parsed = READERS[kind](path)
        valid, rejects = validate(TABLE_OF[kind], parsed.frame, known, now=datetime(2026, 11, 3, tzinfo=UTC))
        assert parsed.rejects.empty and rejects.empty, (path, pd.concat([parsed.rejects, rejects]).head())
        assert len(valid) == len(parsed.frame) > 0, path
    # the live pollers' kinds (miner-poll, fleet-status) are written by the pollers, not the simulator
    assert kinds == set(READERS) - {"caiso-lmp", "prices", "telemetry", "miner-poll", "fleet-status"}
