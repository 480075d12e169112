"""What a Dagster run costs before its first step: each run is a new process that imports the code
location and loads the job's definitions. Measured as CPU seconds (user + system) of fresh
interpreters, so a busy machine stretches the wall clock but not the figure; the baseline, measured
in the same run, is a fresh interpreter importing ``dagster`` alone.

- ``code location``: ``import orchestration.definitions`` and the repository (every run pays it);
- ``+ great_expectations``: what a run with a suite check (the landing loads) adds on top.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable

from core.settings import PROJECT_ROOT

CHILD = """
import resource, sys
{code}
usage = resource.getrusage(resource.RUSAGE_SELF)
sys.stdout.write(repr(usage.ru_utime + usage.ru_stime))
"""
CASES = {
    "import dagster (baseline)": "import dagster",
    "code location": "import orchestration.definitions as d; d.defs.get_repository_def()",
    "code location + great_expectations": (
        "import orchestration.definitions as d; d.defs.get_repository_def()\n"
        "from expectations.context import gx_module; gx_module()"
    ),
}


def cpu_seconds(code: str) -> float:
    """CPU seconds of a fresh interpreter running ``code`` in the project root."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(code=code)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def run_benchmark(repeat: int = 3, progress: Callable[[str], None] = print) -> dict:
    """Median CPU seconds of each case over ``repeat`` fresh processes, and each one's ratio to the baseline."""
    cpu_seconds("import orchestration.definitions")  # compile the byte code once, outside the figures
    cases = {}
    for name, code in CASES.items():
        progress(f"{name}: {repeat} fresh processes")
        cases[name] = round(statistics.median(cpu_seconds(code) for _ in range(repeat)), 2)
    baseline = cases["import dagster (baseline)"]
    return {
        "repeat": repeat,
        "cpu_seconds": cases,
        "ratio_to_baseline": {name: round(value / baseline, 2) for name, value in cases.items()},
    }


def format_table(result: dict) -> str:
    """A plain-text report of :func:`run_benchmark`."""
    lines = [f"run launch benchmark: CPU seconds of a fresh process (median of {result['repeat']})", ""]
    for name, value in result["cpu_seconds"].items():
        lines.append(f"{name:40}{value:>8.2f} s{result['ratio_to_baseline'][name]:>8.2f}x")
    return "\n".join(lines)
