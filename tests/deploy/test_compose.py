"""deploy/compose.yaml: the structure `docker compose up` relies on, checked offline.

Docker does not run on this machine, so these read the file as compose would: services and the
order they start in, healthchecks, variable interpolation against deploy/.env.example, and the
cross-file contracts with the nginx configuration and the image.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml

from televisit.core.config import Settings
from tests.deploy.manifests import DEPLOY, env_file, seconds

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
APPS = ("app1", "app2")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|_KEY$|TOKEN", re.I)
# ${VAR}, ${VAR:-default}, ${VAR:?error}, $VAR; `$$` is a literal dollar for the container's shell.
INTERPOLATION = re.compile(r"(?<!\$)\$(?:\{(\w+)(?::?([-?])[^}]*)?\}|(\w+))")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="module")
def example():
    return env_file(ENV_EXAMPLE)


def test_the_stack_has_nginx_two_apps_and_their_services(services):
    assert set(services) == {"nginx", *APPS, "migrate", "postgres", "redis", "coturn"}
    for name in APPS:
        assert services[name]["command"] == ["serve"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"


def test_apps_start_after_a_successful_migration_and_healthy_backends(services):
    for name in APPS:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {name: d["condition"] for name, d in services["nginx"]["depends_on"].items()} == {
        name: "service_healthy" for name in APPS}


def test_every_depended_on_health_is_actually_checked(services):
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "test" in services[dependency].get("healthcheck", {}), dependency


def test_app_healthcheck_means_ready_for_traffic(services):
    for name in APPS:
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "/readyz" in check
    assert "/livez" in " ".join(services["nginx"]["healthcheck"]["test"])


def test_apps_get_time_to_drain_before_docker_kills_them(services, example):
    grace = Settings(drain_grace=example["TELEVISIT_DRAIN_GRACE"]).drain_grace
    for name in APPS:
        # Drain grace, then as long again for requests in flight, then a margin.
        assert seconds(services[name]["stop_grace_period"]) >= 2 * grace + 5


def test_apps_run_read_only_unprivileged_on_postgres_and_redis(services):
    for name in (*APPS, "migrate"):
        service = services[name]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert service["user"].split(":")[0] not in {"0", "root"}
        env = service["environment"]
        assert env["TELEVISIT_ENV"] == "production"
        assert env["TELEVISIT_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["TELEVISIT_DATABASE_URL"]
        # The app's Redis user, its password from .env (test_redis.py runs it against the server).
        assert re.fullmatch(r"redis://televisit:\$\{REDIS_PASSWORD:\?[^}]+\}@redis:6379/0",
                            env["TELEVISIT_REDIS_URL"]), env["TELEVISIT_REDIS_URL"]
        assert service["env_file"] == ".env"


def test_no_secret_is_written_in_the_compose_file(services, example):
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), f"{name}.{key} must come from .env"
        for key, variable in (("TELEVISIT_DATABASE_URL", "POSTGRES_PASSWORD"),
                              ("TELEVISIT_REDIS_URL", "REDIS_PASSWORD")):
            url = (service.get("environment") or {}).get(key)
            if url:
                password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
                assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", password), f"{name}.{key}"
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "", f"{key} must be empty in the example"


def test_every_interpolated_variable_is_in_the_env_example(example):
    """compose replaces ${VAR} from deploy/.env at parse time; a variable meant for the container's
    shell must be written $${VAR}, or it silently becomes an empty string."""
    for match in INTERPOLATION.finditer(COMPOSE.read_text()):
        name = match[1] or match[3]
        if match[2] == "-":
            continue  # has a default
        assert name in example or f"# {name}=" in ENV_EXAMPLE.read_text(), name


def test_env_example_names_real_settings(example):
    for key in example:
        if key.startswith("TELEVISIT_") and key != "TELEVISIT_IMAGE":
            assert key.removeprefix("TELEVISIT_").lower() in Settings.model_fields, key


def test_paths_in_the_compose_file_exist(compose, services):
    build = services["app1"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                target = DEPLOY / source
                assert target.exists() or source == "./tls", f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source}"


def test_nginx_serves_the_shared_config_to_both_apps(services):
    mounts = dict(v.split(":", 2)[:2] for v in services["nginx"]["volumes"])
    # Mounted over the image's default server, so it answers whatever Host a client sends.
    assert mounts["./nginx/televisit.conf"] == "/etc/nginx/conf.d/default.conf"
    conf = (DEPLOY / "nginx" / "televisit.conf").read_text()
    upstream = re.search(r"upstream\s+televisit\s*\{(.*?)\}", conf, re.S)
    assert upstream, "nginx config has no `upstream televisit`"
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstream[1], re.M)
    assert sorted(servers) == [(name, "8000") for name in APPS]
    assert {p.split(":")[0] for p in services["nginx"]["ports"]} >= {"80"}


def test_apps_trust_forwarded_headers_from_nginx_only(compose, services):
    subnet = ipaddress.ip_network(compose["networks"]["backend"]["ipam"]["config"][0]["subnet"])
    addresses = {}
    for name in ("nginx", *APPS):
        address = ipaddress.ip_address(services[name]["networks"]["backend"]["ipv4_address"])
        assert address in subnet
        addresses[name] = address
    assert len(set(addresses.values())) == 3
    for name in APPS:
        assert services[name]["environment"]["FORWARDED_ALLOW_IPS"] == str(addresses["nginx"])


def test_coturn_uses_the_shared_config_and_the_one_turn_secret(services):
    coturn = services["coturn"]
    assert coturn["network_mode"] == "host", "16k relay ports are not mapped one by one"
    assert "./coturn/turnserver.conf:/etc/coturn/turnserver.conf:ro" in coturn["volumes"]
    assert coturn["environment"]["TURN_SECRET"].startswith("${TELEVISIT_TURN_SECRET:?")
    script = " ".join(coturn["command"])
    assert 's|^static-auth-secret=.*|static-auth-secret=$${TURN_SECRET}|' in script
    assert "--static-auth-secret" not in script, "coturn would accept the placeholder as well"


def test_postgres_keeps_its_data_and_redis_keeps_none(compose, services):
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pgdata" in compose["volumes"]
    # Redis gets its configuration file, read-only, and nowhere to write but /tmp (tmpfs).
    assert services["redis"]["volumes"] == ["./redis/redis.conf:/etc/redis/redis.conf:ro"]
    assert services["redis"]["read_only"] is True
    for name in ("postgres", "redis", "app1", "app2"):
        assert "ports" not in services[name], f"{name} must not be published on the host"


def test_redis_runs_its_shared_config_unprivileged_and_checks_health_as_the_app(services):
    """The start script itself runs against redis-server in tests/deploy/test_redis.py."""
    redis = services["redis"]
    assert redis["user"].split(":")[0] not in {"0", "root"}
    assert redis["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in redis["security_opt"]
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    script = " ".join(redis["command"])
    assert "#CHANGE-ME-sha256-of-REDIS_PASSWORD" in (DEPLOY / "redis" / "redis.conf").read_text()
    assert "s|#CHANGE-ME-sha256-of-REDIS_PASSWORD|#$${hash}|" in script
    # A bare `redis-cli ping` prints NOAUTH and still exits 0: the check must log in and see PONG.
    check = " ".join(redis["healthcheck"]["test"])
    assert "--user televisit" in check and "REDISCLI_AUTH" in check and "grep -q PONG" in check
