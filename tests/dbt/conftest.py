"""A small fleet in raw and the dbt project built on it, shared by the dbt tests.

The fleet comes from the simulator through the loader (2 facilities x 30 devices x 2 days) and
``dbt build --full-refresh`` runs on it once per session, into the ``marts_fleet`` template
(tests/templates.py); every dbt test module works on its own copy of it, with its own copy of the
dbt artifacts (target folder).
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.databases import Template, completed_process


@pytest.fixture(scope="module")
def database_template(marts_fleet_template: Template) -> Template:
    return marts_fleet_template


@pytest.fixture(scope="module")
def marts_fleet(
    module_url: str, marts_fleet_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """The module's copy of the fleet after ``dbt build --full-refresh``: its URL, the build's
    process and run results, and a target folder of its own with the build's artifacts."""
    target = tmp_path_factory.mktemp("dbt-target")
    shutil.copytree(marts_fleet_template.folder / "dbt-target", target, dirs_exist_ok=True)
    results = json.loads((target / "run_results.json").read_text())
    return {
        "url": module_url,
        "build": completed_process(marts_fleet_template.meta),
        "results": results,
        "target": target,
    }
