"""The SQL of the dbt project passes sqlfluff with the committed .sqlfluff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def test_models_and_tests_pass_sqlfluff():
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    done = subprocess.run(
        [str(sqlfluff), "lint", "models", "tests", "--disable-progress-bar"],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:]
