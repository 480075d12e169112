"""dbt as Dagster assets: staging, intermediate and marts models, with dbt tests as asset checks.

One :class:`DbtProject` is shared by ``@dbt_assets`` and the ``dbt`` resource. The manifest is
prepared at load: ``prepare_if_dev()`` re-parses under ``dagster dev``; anywhere else, when
``dbt_project/target/manifest.json`` is missing, ``dbt parse`` runs once at load (parsing needs no
database: the profile's ``env_var`` calls have defaults). The database is resolved at run time
only (``core.db.database_url()``), and its ``PG*`` variables are handed to dbt through the
subprocess environment.
"""

import contextlib
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from assets import groups

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
_FOLDER_GROUPS = {"staging": groups.STAGING, "intermediate": groups.INTERMEDIATE, "marts": groups.MARTS}

# The environment's own dbt, however the code location is started (PATH may lack the venv's bin/).
DBT_EXECUTABLE = os.fspath(Path(sys.executable).parent / "dbt")


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_stale() -> bool:
    """True when the manifest is missing or older than any model, test, macro or project file."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        sources += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.suffix in {".sql", ".yml", ".csv"}]
    return any(path.stat().st_mtime > built for path in sources if path.exists())


# What ``dbt_project.prepare_if_dev()`` does, with this environment's dbt (its preparer takes dbt
# from PATH): re-parse under ``dagster dev``, else only when the manifest is missing or stale.
if dbt_project.preparer.using_dagster_dev() or _manifest_is_stale():
    with contextlib.redirect_stdout(None):
        DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", "--quiet"], target_path=dbt_project.target_path
        ).wait()


class HcpDbtTranslator(DagsterDbtTranslator):
    """Models keyed ``[<schema>, <model>]`` and grouped by their dbt folder; sources ``raw.<table>``
    map to the ingestion assets ``["raw", "<table>"]``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        folder = _folder(dbt_resource_props)
        if folder in _FOLDER_GROUPS:
            return dg.AssetKey([folder, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _FOLDER_GROUPS.get(_folder(dbt_resource_props)) or super().get_group_name(dbt_resource_props)


def _folder(dbt_resource_props: Mapping[str, Any]) -> str | None:
    fqn = dbt_resource_props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 else None


def mart_key(model: str) -> dg.AssetKey:
    """Asset key of a mart model, for downstream assets (billing, apps): ``["marts", model]``."""
    return dg.AssetKey(["marts", model])


class DbtWindowConfig(dg.Config):
    """Optional time window [start, end) (ISO, UTC) for incremental models, and a full refresh switch."""

    start: str | None = None
    end: str | None = None
    full_refresh: bool = False


@contextlib.contextmanager
def database_env() -> Iterator[dict[str, str]]:
    """Point dbt at the platform database for the duration of a run: PG* variables in os.environ."""
    from core.db import database_url, libpq_env
    from core.migrate import prepare
    from core.roles import PIPELINE_ROLE, role_url

    url = database_url()
    prepare(url)  # the analysts' role must exist before dbt grants on marts
    pipeline = role_url(url, PIPELINE_ROLE)  # dbt owns its schemas as the pipeline role
    env = {
        **libpq_env(pipeline),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # A test runs only when every model it reads is selected: the automation builds dim_devices
        # before fct_usage exists, and fct_usage's relationship test to it waits for fct_usage's run.
        "DBT_INDIRECT_SELECTION": "cautious",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_build_args(config: DbtWindowConfig) -> list[str]:
    """``dbt build`` arguments for a window config."""
    args = ["build"]
    window = {key: value for key, value in (("start", config.start), ("end", config.end)) if value}
    if window:
        args += ["--vars", _yaml_vars(window)]
    if config.full_refresh:
        args.append("--full-refresh")
    return args


def _yaml_vars(values: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{key}: '{value}'" for key, value in values.items()) + "}"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=HcpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def hcp_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtWindowConfig):
    """Build the selected dbt models and run their tests (reported as asset checks)."""
    with database_env() as env:
        key = run_state_key(env)
        run_target = seed_run_target(f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}", key)
        invocation = dbt.cli(dbt_build_args(config), context=context, target_path=run_target)
        yield from invocation.stream()
    keep_run_state(run_target, key)


KEPT_RUN_TARGETS = 20  # each run's target folder (manifest, logs, run results) is about 3 MB
_STATE = "partial_parse.msgpack"


def run_state_key(env: Mapping[str, str]) -> str:
    """Which database a dbt run's parse state belongs to (its ``PG*`` connection, password aside):
    dbt re-parses everything when the profile differs ("profile has changed")."""
    where = "|".join(env.get(name, "") for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"))
    return hashlib.sha256(where.encode()).hexdigest()[:12]


def _target(target: Path | None) -> Path:
    return target or dbt_project.project_dir / dbt_project.target_path


def _kept_state(target: Path, key: str) -> Path:
    return target / f"partial_parse.{key}.msgpack"


def seed_run_target(name: str, key: str, target: Path | None = None) -> Path:
    """A new run folder ``<name>-<random>`` under ``target/``, holding the parse state its database's
    last run kept. Without one, dagster-dbt copies the project's (parsed at load without a database)."""
    run_target = _target(target) / f"{name}-{uuid.uuid4().hex[:7]}"
    run_target.mkdir(parents=True)
    kept = _kept_state(_target(target), key)
    with contextlib.suppress(FileNotFoundError):  # replaced or pruned meanwhile: a full parse, no harm
        shutil.copyfile(kept, run_target / _STATE)
    return run_target


def keep_run_state(
    run_target: Path, key: str, keep: int = KEPT_RUN_TARGETS, target: Path | None = None
) -> None:
    """After a dbt run: keep its parse state for the next run on the same database (``key``, one file
    each, so that runs on other databases, such as a soak's scratch platform or another test worker,
    do not replace it), and only the ``keep`` newest run folders and state files (dagster-dbt makes a
    folder per run under ``target/`` and never removes them).

    Without it every run paid a full parse (about 45 s under load): the project's state is parsed at
    load without the database, and dbt re-parses when the connection differs."""
    target = _target(target)
    if not run_target.is_absolute():
        run_target = target.parent / run_target
    produced = run_target / _STATE
    if produced.is_file():
        kept = _kept_state(target, key)
        staged = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
        shutil.copyfile(produced, staged)
        os.replace(staged, kept)  # atomic: a run starting now copies the old file or the new one
    runs = [p for p in target.glob(f"{hcp_dbt_models.op.name}-*") if p.is_dir()]
    states = list(target.glob(_kept_state(target, "*").name))
    for paths in (runs, states):
        paths.sort(key=_mtime)
        for old in paths[:-keep] if keep else paths:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)  # a concurrent run may be removing it too
            else:
                old.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed by a concurrent run meanwhile: oldest
        return 0.0


defs = dg.Definitions(
    assets=[hcp_dbt_models],
    resources={
        "dbt": DbtCliResource(
            project_dir=dbt_project, profiles_dir=os.fspath(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE
        )
    },
)
