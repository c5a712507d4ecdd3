"""docker-compose.yml: the services a laptop needs, migrations before the portal starts, a real cluster path."""
import pytest
import yaml

from tests.ops.manifests import COMPOSE, ENTRYPOINT_VARIABLES, config_variables

PORTAL_SERVICES = ("migrate", "web", "worker")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_piece_is_there(services):
    assert {"web", "worker", "migrate", "postgres", "redis", "mailpit", "k3s", "kubeconfig"} <= set(services)
    images = {name: service.get("image", "") for name, service in services.items()}
    assert images["postgres"].startswith("postgres:") and images["redis"].startswith("redis:")
    assert images["mailpit"].startswith("axllent/mailpit") and images["k3s"].startswith("${K3S_IMAGE:-rancher/k3s:")


def test_the_portal_services_share_one_image_and_run_their_roles(services):
    for name in PORTAL_SERVICES:
        assert services[name]["build"] == "." and services[name]["image"] == "portal:local"
        assert services[name]["command"] == [name]
    assert services["migrate"]["restart"] == "no"  # one-shot
    assert services["web"]["ports"] == ["8000:8000"]


def test_migrations_run_before_web_and_worker_start(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["kubeconfig"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_portal_is_configured_by_names_it_reads(services):
    known = config_variables() | ENTRYPOINT_VARIABLES
    for name in PORTAL_SERVICES:
        environment = services[name]["environment"]
        assert set(environment) <= known, set(environment) - known
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379/")
        assert (environment["MAIL_SERVER"], environment["MAIL_PORT"]) == ("mailpit", "1025")
        assert environment["KUBE_MODE"] == "kubeconfig"


def test_web_and_worker_reach_k3s_through_the_rewritten_kubeconfig(services):
    k3s, rewrite = services["k3s"], services["kubeconfig"]
    assert k3s["privileged"] is True
    assert "--tls-san=k3s" in k3s["command"]  # the certificate is valid for the name the portal uses
    output = k3s["environment"]["K3S_KUBECONFIG_OUTPUT"]
    assert rewrite["depends_on"]["k3s"]["condition"] == "service_healthy"
    script = " ".join(rewrite["command"])
    assert output in script and "https://k3s:6443" in script
    written = next(volume for volume in rewrite["volumes"] if volume.endswith(":/kube"))
    volume_name = written.split(":")[0]
    for name in ("web", "worker"):
        path = services[name]["environment"]["KUBECONFIG_PATH"]
        mount = next(volume for volume in services[name]["volumes"] if volume.startswith(f"{volume_name}:"))
        assert path.startswith(mount.split(":")[1] + "/") and f"> {path}" in script


def test_mail_catcher_has_a_web_ui(services):
    assert "8025:8025" in services["mailpit"]["ports"]


def test_stopping_leaves_time_to_drain(services):
    assert services["worker"]["stop_grace_period"] == "90s"  # the consumer's 60 s shutdown timeout fits
    assert services["web"]["stop_grace_period"] == "45s"


def test_frontend_url_reaches_the_web_service_from_the_other_containers(services):
    # The worker posts to FRONTEND_URL itself (the payment simulator's notifications): inside the
    # network the name must lead to `web`, as it leads the browser to the published port.
    url = services["worker"]["environment"]["FRONTEND_URL"]
    host, port = url.split("${FRONTEND_URL:-", 1)[1].rstrip("}").split("://", 1)[1].split(":")
    assert host in services["web"]["networks"]["default"]["aliases"]
    assert f"{port}:8000" in services["web"]["ports"]
