"""The deployment files, checked statically (no container runtime here): they parse, run the same
topology as ``hcp serve``, and agree with the settings and the instance configuration."""

from __future__ import annotations

import json
import re

import yaml

from api.config import ApiSettings
from api.spec import SPEC_PATH
from core.settings import PROJECT_ROOT, Settings
from orchestration import serve
from orchestration.cli import app as hcp_cli
from orchestration.instance import dagster_yaml

DEPLOY = PROJECT_ROOT / "deploy"


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_compose_runs_the_served_topology_on_the_settings_ports():
    compose = load("compose.yaml")
    services = compose["services"]
    assert {"postgres", "migrate", "codeserver", "webserver", "daemon", "app", "api"} <= set(services)
    # roles and their passwords exist before any component connects as its own role
    assert services["migrate"]["command"] == ["hcp", "db", "migrate"]
    for name in ("codeserver", "webserver", "daemon", "app"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    defaults = Settings()
    grpc = services["codeserver"]["command"]
    assert grpc[:3] == ["dagster", "api", "grpc"] and str(defaults.grpc_port) in grpc
    assert "orchestration.definitions" in grpc
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


PROXY_IMAGE = "quay.io/oauth2-proxy/oauth2-proxy"


def _published(spec: str) -> tuple[str, int, int]:
    """``(host address with its default, host port, container port)`` of a compose port mapping."""
    address, host, container = re.fullmatch(r"(.+):(\d+):(\d+)", spec).groups()
    default = re.fullmatch(r"\$\{[A-Z_]+:-([0-9.]+)\}", address)
    return (default[1] if default else address), int(host), int(container)


def test_ui_and_app_are_reached_only_through_an_authenticating_proxy():
    """The Dagster UI (its launchpad runs jobs) and the app are published only through oauth2-proxy
    (OIDC sign-in), on the settings' ports, bound to localhost unless HCP_BIND_ADDRESS says else;
    nothing else publishes a port but the REST API, which authenticates every caller with an API key
    itself, bound the same way."""
    services = load("compose.yaml")["services"]
    defaults = Settings()
    upstreams = {"webserver": defaults.dagster_port, "app": defaults.streamlit_port}
    proxies = {name: s for name, s in services.items() if s.get("image", "").startswith(PROXY_IMAGE)}
    publishing = {name for name, s in services.items() if s.get("ports")}
    assert publishing == set(proxies) | {"api"} and len(proxies) == 2
    [api_mapping] = services["api"]["ports"]
    assert _published(api_mapping)[0] == "127.0.0.1"
    for upstream, port in upstreams.items():
        (name,) = [n for n, s in proxies.items() if f"--upstream=http://{upstream}:{port}/" in s["command"]]
        proxy = proxies[name]
        [mapping] = proxy["ports"]
        address, host_port, container_port = _published(mapping)
        assert (address, host_port) == ("127.0.0.1", port)
        assert f"--http-address=0.0.0.0:{container_port}" in proxy["command"]
        assert "--provider=oidc" in proxy["command"] and "--cookie-secure=true" in proxy["command"]
        env = proxy["environment"]
        for secret in ("OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"):
            assert env[secret].startswith(f"${{{secret}:?"), secret  # required, from .env
        assert upstream in proxy["depends_on"]
        assert not services[upstream].get("ports") and str(port) in map(str, services[upstream]["expose"])
    values = load("helm/values.yaml")
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"  # no direct way in
    proxy_values = load("helm/oauth2-proxy-values.yaml")
    assert proxy_values["config"]["configFile"].count("upstreams") == 1
    assert (
        f"hcp-dagster-webserver:{values['dagsterWebserver']['service']['port']}"
        in proxy_values["config"]["configFile"]
    )
    assert proxy_values["service"]["type"] == "ClusterIP"
    assert proxy_values["config"]["existingSecret"]


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
    # a queued run starts within a second or two, not the default five (a chain load -> marts -> plan waits at each step)
    assert queued["dequeueIntervalSeconds"] == served["dequeue_interval_seconds"] <= 2
    assert values["telemetry"]["enabled"] is False


def _is_hcp_command(argv: list[str]) -> bool:
    """``argv`` is ``hcp <group> <command>`` and the CLI has that command."""
    assert argv[0] == "hcp", argv
    group, command = argv[1:3]
    (typer_group,) = [g.typer_instance for g in hcp_cli.registered_groups if g.name == group]
    return command in {c.name or c.callback.__name__ for c in typer_group.registered_commands}


def _api_health_path() -> str:
    paths = json.loads(SPEC_PATH.read_text())["paths"]
    assert "/v1/health" in paths and "security" not in paths["/v1/health"]["get"]  # no key needed
    return "/v1/health"


def test_compose_serves_the_api_as_hcp_api_serve_on_the_settings_port():
    api = load("compose.yaml")["services"]["api"]
    assert _is_hcp_command(api["command"]) and api["command"] == ["hcp", "api", "serve"]
    port = ApiSettings().port
    env = api["environment"]
    # bound beyond the container's loopback, on the port the settings name; published on the host's loopback
    assert env["HCP_API_HOST"] == "0.0.0.0" and int(env["HCP_API_PORT"]) == port
    assert api["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert {"DATABASE_URL", "HCP_API_DB_PASSWORD", "HCP_API_KEY_SECRET", "HCP_STRIPE_WEBHOOK_SECRET"} <= set(
        env
    )
    assert "HCP_API_DATABASE_URL" not in env  # derived from DATABASE_URL for the hcp_api role
    assert f"127.0.0.1:{port}{_api_health_path()}" in " ".join(api["healthcheck"]["test"])
    assert str(port) in (DEPLOY / "Dockerfile").read_text().split("EXPOSE", 1)[1].splitlines()[0]


def test_kubernetes_api_deployment_matches_the_settings():
    deployment, service = yaml.safe_load_all((DEPLOY / "k8s" / "api.yaml").read_text())
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    assert deployment["spec"]["replicas"] >= 2  # rate limits are shared through PostgreSQL
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _is_hcp_command(container["command"]) and container["command"] == ["hcp", "api", "serve"]
    env = {e["name"]: e["value"] for e in container["env"]}
    port = ApiSettings().port
    assert env["HCP_API_HOST"] == "0.0.0.0" and int(env["HCP_API_PORT"]) == port
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"] == {"path": _api_health_path(), "port": "http"}
    assert container["envFrom"] == [{"secretRef": {"name": "hcp-platform-secrets"}}]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
