"""The deployment files, checked statically (no container runtime here): they parse, run the same
topology as ``hcp serve``, and agree with the settings and the instance configuration."""

from __future__ import annotations

import re

import yaml

from core.settings import PROJECT_ROOT, Settings
from orchestration import serve
from orchestration.instance import dagster_yaml

DEPLOY = PROJECT_ROOT / "deploy"


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_compose_runs_the_served_topology_on_the_settings_ports():
    compose = load("compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "codeserver", "webserver", "daemon", "app"}
    # roles and their passwords exist before any component connects as its own role
    assert services["migrate"]["command"] == ["hcp", "db", "migrate"]
    for name in ("codeserver", "webserver", "daemon", "app"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    defaults = Settings()
    grpc = services["codeserver"]["command"]
    assert grpc[:3] == ["dagster", "api", "grpc"] and str(defaults.grpc_port) in grpc
    assert "orchestration.definitions" in grpc
    assert services["webserver"]["ports"] == [f"127.0.0.1:{defaults.dagster_port}:{defaults.dagster_port}"]
    assert services["app"]["ports"] == [f"127.0.0.1:{defaults.streamlit_port}:{defaults.streamlit_port}"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    # the same process roles as hcp serve
    local = {
        s.argv[0].rsplit("/", 1)[-1]
        for s in (serve.code_server(), serve.daemon(DEPLOY), serve.webserver(DEPLOY))
    }
    assert local == {services[n]["command"][0] for n in ("codeserver", "daemon", "webserver")}
    workspace = load("workspace.yaml")["load_from"][0]["grpc_server"]
    assert (workspace["host"], workspace["port"]) == ("codeserver", defaults.grpc_port)
    env = compose["x-hcp"]["environment"]
    assert {"DATABASE_URL", "HCP_DAGSTER_PG_URL", "HCP_PII_KEY"} <= set(env)
    assert "archive_mode=on" in services["postgres"]["command"]  # WAL archiving for PITR


def test_container_instance_matches_the_served_instance():
    assert load("dagster.yaml") == yaml.safe_load(dagster_yaml(-1))
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "uv sync --frozen" in dockerfile and "deploy/dagster.yaml" in dockerfile
    assert str(Settings().grpc_port) in dockerfile


def test_helm_values_use_the_k8s_run_launcher_and_the_same_limits():
    values = load("helm/values.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["port"] == Settings().grpc_port
    assert "orchestration.definitions" in deployment["dagsterApiGrpcArgs"]
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    served = yaml.safe_load(dagster_yaml(-1))["run_coordinator"]["config"]
    assert queued["maxConcurrentRuns"] == served["max_concurrent_runs"]
    assert queued["tagConcurrencyLimits"] == served["tag_concurrency_limits"]
    assert values["telemetry"]["enabled"] is False
