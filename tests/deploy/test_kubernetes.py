"""deploy/k8s: valid for the API server, and the properties a zero-downtime rollout depends on.

Validation is offline, in strict mode (unknown fields are errors), against the schemas that the
kubernetes-validate package ships, for the oldest and a recent Kubernetes release we support.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from secrets import token_hex
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
import yaml
from kubernetes_validate import utils as kubernetes_validate

from televisit.core.config import ConfigError, Settings, load_settings
from tests.deploy.manifests import (
    DEPLOY,
    K8S,
    SECRET_TEMPLATE,
    documents,
    find,
    k8s_files,
    k8s_objects,
    pod_templates,
)

KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
# Seconds kept spare between the app's own shutdown budget and Kubernetes' SIGKILL.
SHUTDOWN_MARGIN = 5
APP = {"app.kubernetes.io/name": "televisit", "app.kubernetes.io/component": "app"}


@pytest.fixture(scope="module")
def objects():
    return k8s_objects()


@pytest.fixture(scope="module")
def app(objects):
    return find(objects, "Deployment", "televisit")


def container(deployment):
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def drain_grace(objects) -> float:
    """TELEVISIT_DRAIN_GRACE as the app reads it from the ConfigMap (its default when unset)."""
    data = find(objects, "ConfigMap", "televisit-config")["data"]
    raw = data.get("TELEVISIT_DRAIN_GRACE")
    return Settings(drain_grace=raw).drain_grace if raw is not None else Settings().drain_grace


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: p.name)
def test_every_manifest_validates_strictly(path, version):
    assert version.rsplit(".", 1)[0] in {v.rsplit(".", 1)[0] for v in kubernetes_validate.all_versions()}
    docs = documents(path)
    assert docs, f"{path.name} holds no object"
    for doc in docs:
        # Raises on an unknown field, a wrong type, or a kind/apiVersion the release does not have.
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_misspelt_field(app):
    broken = copy.deepcopy(app)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_never_the_secret_template():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert SECRET_TEMPLATE.name not in listed, "apply -k would overwrite the real secrets"
    assert listed == {p.name for p in k8s_files()} - {SECRET_TEMPLATE.name}
    assert "namespace" not in kustomization, "it would move coturn into the app's namespace"


def test_the_kustomize_image_name_is_the_one_the_workloads_use(objects):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    renamed = {image["name"] for image in kustomization["images"]}
    for name in ("Deployment/televisit", "Job/televisit-migrate"):
        spec = dict(pod_templates(objects))[name]
        assert {c["image"] for c in spec["containers"]} <= renamed, name


def test_every_namespaced_object_names_its_namespace(objects):
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    for o in objects + documents(SECRET_TEMPLATE):
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") in namespaces, f"{o['kind']}/{o['metadata']['name']}"


def test_a_rolling_update_never_goes_below_the_wanted_replicas(app):
    spec = app["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    assert spec["selector"]["matchLabels"] == APP
    assert spec["template"]["metadata"]["labels"] | APP == spec["template"]["metadata"]["labels"]


def test_probes_use_readyz_and_livez_on_the_served_port(app):
    c = container(app)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8000}
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ports, probe
    # A database outage must not restart the pods: only readiness looks at the database.
    assert c["livenessProbe"]["httpGet"]["path"] != "/readyz"


def test_grace_period_covers_prestop_drain_and_requests_in_flight(objects, app):
    """SIGKILL must never cut a drain short.

    After preStop, SIGTERM starts TELEVISIT_DRAIN_GRACE (listener closed, not ready, sockets told
    to move, requests on open connections finish); then uvicorn shuts down, waiting for what still
    runs up to the same time again (`televisit serve` sets timeout_graceful_shutdown to the grace).
    """
    pod = app["spec"]["template"]["spec"]
    command = container(app)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    assert pre_stop >= 3, "endpoints need a few seconds to drop the pod everywhere"
    grace = drain_grace(objects)
    assert grace >= 5, "clients need time to reconnect elsewhere"
    budget = pre_stop + grace + grace + SHUTDOWN_MARGIN
    assert pod["terminationGracePeriodSeconds"] >= budget


def test_readiness_notices_a_stopping_pod_within_the_drain_grace(objects, app):
    """For a pod that drains without being deleted first (its endpoints then go by readiness)."""
    probe = container(app)["readinessProbe"]
    noticed_within = probe["periodSeconds"] * probe["failureThreshold"] + probe["timeoutSeconds"]
    assert noticed_within <= drain_grace(objects)


@pytest.mark.parametrize("name", ["Deployment/televisit", "Job/televisit-migrate", "Deployment/coturn",
                                  "Deployment/redis"])
def test_pods_run_unprivileged_with_limits(objects, name):
    spec = dict(pod_templates(objects))[name]
    pod_security = spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    # Service links would put TELEVISIT_PORT=tcp://... into the environment for the Service named
    # `televisit`, and the app would refuse it as its port setting.
    assert spec["enableServiceLinks"] is False
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert "add" not in sc["capabilities"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{c['name']} {kind}"


def test_pods_spread_over_nodes(app):
    spec = app["spec"]["template"]["spec"]
    spread = {t["topologyKey"]: t for t in spec.get("topologySpreadConstraints", [])}
    anti = spec.get("affinity", {}).get("podAntiAffinity")
    assert "kubernetes.io/hostname" in spread or anti
    for constraint in spread.values():
        assert constraint["labelSelector"]["matchLabels"] == APP


def test_the_app_namespace_enforces_restricted_pod_security(objects):
    labels = find(objects, "Namespace", "televisit")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, spec in pod_templates(objects):
        if spec.get("hostNetwork"):
            assert name == "Deployment/coturn", f"{name} would be refused in a restricted namespace"


def test_disruption_budget_keeps_one_pod_and_still_allows_drains(objects, app):
    pdb = find(objects, "PodDisruptionBudget", "televisit")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == APP
    assert pdb["spec"]["minAvailable"] < app["spec"]["replicas"], "a node drain could never evict"


def test_autoscaler_scales_the_deployment_on_cpu_and_never_below_two(objects, app):
    hpa = find(objects, "HorizontalPodAutoscaler", "televisit")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", app["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["minReplicas"] <= app["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 90


def test_service_and_ingress_reach_the_pods(objects, app):
    service = find(objects, "Service", "televisit")
    assert service["spec"]["selector"] == APP
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container(app)["ports"]}
    for ingress in (o for o in objects if o["kind"] == "Ingress"):
        tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in tls_hosts, "every host is served over TLS (wss:// for sockets)"
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == service["metadata"]["name"]
                assert backend["port"]["name"] == port["name"]


def test_ingress_keeps_websockets_open_and_hides_metrics(objects):
    public = find(objects, "Ingress", "televisit")
    notes = public["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-http-version"] == "1.1"
    # The default 60 s would cut idle sockets between pings under load; an hour is the design.
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert notes["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert "affinity" not in " ".join(notes), "no sticky sessions: any pod serves any socket"
    private = find(objects, "Ingress", "televisit-private")
    (path,) = private["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/metrics", "Exact")
    denied = private["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"]
    assert {ipaddress.ip_network(n.strip()) for n in denied.split(",")} == {
        ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}


def test_configmap_and_secret_names_are_real_settings_and_load_in_production(objects, monkeypatch):
    config = find(objects, "ConfigMap", "televisit-config")["data"]
    secrets = find(documents(SECRET_TEMPLATE), "Secret", "televisit-secrets")["stringData"]
    for key in [*config, *secrets]:
        if key.startswith("TELEVISIT_"):
            assert key.removeprefix("TELEVISIT_").lower() in Settings.model_fields, key
    for key, value in {**config, **secrets}.items():
        monkeypatch.setenv(key, value)
    # The template's placeholders are refused: a forgotten Secret fails closed.
    with pytest.raises(ConfigError, match="TELEVISIT_SECRET_KEY") as refused:
        load_settings()
    assert "TELEVISIT_TURN_SECRET" in str(refused.value)  # coturn's placeholder too
    monkeypatch.setenv("TELEVISIT_SECRET_KEY", token_hex(32))  # as the template's comment says
    with pytest.raises(ConfigError, match="TELEVISIT_TURN_SECRET"):
        load_settings()
    monkeypatch.setenv("TELEVISIT_TURN_SECRET", token_hex(32))
    settings = load_settings()
    assert settings.env == "production"
    assert settings.effective_log_format == "json"
    assert settings.redis_url, "several pods need the Redis broker"
    assert all(url.startswith(("turn:", "turns:")) for url in settings.turn_urls)


def test_the_migration_job_runs_migrate_with_the_apps_settings(objects, app):
    job = find(objects, "Job", "televisit-migrate")
    spec = job["spec"]["template"]["spec"]
    (migrate,) = spec["containers"]
    assert migrate["args"] == ["migrate"]
    assert container(app)["args"] == ["serve"]
    assert migrate["envFrom"] == container(app)["envFrom"]
    assert spec["restartPolicy"] in {"Never", "OnFailure"}


def test_coturn_gets_the_shared_secret_in_place_of_the_placeholder(objects):
    """The ConfigMap is turnserver.conf verbatim, and the start script replaces its secret line.

    Appending `--static-auth-secret` would not do: coturn keeps a list of secrets and would still
    accept the published placeholder.
    """
    conf = (DEPLOY / "coturn" / "turnserver.conf").read_text()
    assert find(objects, "ConfigMap", "coturn-config")["data"]["turnserver.conf"] == conf
    assert len(re.findall(r"(?m)^static-auth-secret=", conf)) == 1
    assert len(re.findall(r"(?m)^realm=", conf)) == 1
    deployment = find(objects, "Deployment", "coturn")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    script = " ".join(c["args"])
    assert 's|^static-auth-secret=.*|static-auth-secret=${TURN_SECRET}|' in script
    assert "--static-auth-secret" not in script
    (secret_env,) = [e for e in c["env"] if e["name"] == "TURN_SECRET"]
    ref = secret_env["valueFrom"]["secretKeyRef"]
    turn_secret = find(documents(SECRET_TEMPLATE), "Secret", ref["name"])
    assert ref["key"] in turn_secret["stringData"]
    assert turn_secret["metadata"]["namespace"] == deployment["metadata"]["namespace"]


# -- Redis ------------------------------------------------------------------------------------

def component(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "televisit", "app.kubernetes.io/component": name}


def app_secret(key: str) -> str:
    return find(documents(SECRET_TEMPLATE), "Secret", "televisit-secrets")["stringData"][key]


REDIS = component("redis")


def test_redis_runs_the_shared_config_and_takes_its_password_from_a_secret(objects):
    """The start script itself runs against redis-server in tests/deploy/test_redis.py."""
    conf = (DEPLOY / "redis" / "redis.conf").read_text()
    assert find(objects, "ConfigMap", "redis-config")["data"]["redis.conf"] == conf
    deployment = find(objects, "Deployment", "redis")
    # Two Redis pods at once would split the pods' pub/sub between them.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert deployment["spec"]["template"]["metadata"]["labels"] == REDIS
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "s|#CHANGE-ME-sha256-of-REDIS_PASSWORD|#${hash}|" in " ".join(c["args"])
    (password,) = [e for e in c["env"] if e["name"] == "REDIS_PASSWORD"]
    ref = password["valueFrom"]["secretKeyRef"]
    secret = find(documents(SECRET_TEMPLATE), "Secret", ref["name"])
    assert ref["key"] in secret["stringData"]
    assert secret["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert "PONG" in " ".join(c["readinessProbe"]["exec"]["command"]), "the probe logs in as the app"
    service = find(objects, "Service", "redis")
    assert service["spec"]["selector"] == REDIS
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {p["name"] for p in c["ports"]}


def test_the_redis_url_with_its_password_is_in_the_secret_never_in_a_configmap(objects):
    for configmap in (o for o in objects if o["kind"] == "ConfigMap"):
        assert "TELEVISIT_REDIS_URL" not in configmap["data"], configmap["metadata"]["name"]
        for key, value in configmap["data"].items():
            assert not re.search(r"\w+://[^/\s:@]+:[^/\s@]+@", value), f"credentials in {key}"
    url = urlsplit(app_secret("TELEVISIT_REDIS_URL"))
    service = find(objects, "Service", "redis")
    assert url.scheme in {"redis", "rediss"}
    assert url.username == "televisit"
    assert f"user {url.username} on " in (DEPLOY / "redis" / "redis.conf").read_text()
    assert url.hostname == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert url.port in {p["port"] for p in service["spec"]["ports"]}


# -- FORWARDED_ALLOW_IPS ----------------------------------------------------------------------


async def test_forwarded_headers_are_trusted_from_the_pod_network_only(objects, monkeypatch):
    """uvicorn, configured the way `televisit serve` does, with the ConfigMap's value."""
    value = find(objects, "ConfigMap", "televisit-config")["data"]["FORWARDED_ALLOW_IPS"]
    networks = [ipaddress.ip_network(item.strip()) for item in value.split(",")]
    assert all(n.is_private and n.prefixlen >= 8 for n in networks), value
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    seen: list[tuple[str, int]] = []

    async def app(scope, receive, send):
        seen.append(scope["client"])

    config = uvicorn.Config(app, proxy_headers=True, log_config=None)
    config.load()
    ingress_pod = str(next(networks[0].hosts()))
    for peer in (ingress_pod, "192.0.2.55", "203.0.113.20"):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
                 "headers": [(b"x-forwarded-for", b"198.51.100.7")], "client": (peer, 40000),
                 "server": ("10.0.0.1", 8000)}
        await config.loaded_app(scope, None, None)
    assert [host for host, _ in seen] == ["198.51.100.7", "192.0.2.55", "203.0.113.20"]


# -- NetworkPolicies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(hash=False)


Peer = Pod | str  # a pod, or an address outside the cluster

INGRESS_CONTROLLER = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
APP_POD = Pod("televisit", APP)
MIGRATE_POD = Pod("televisit", component("migrate"))
REDIS_POD = Pod("televisit", REDIS)
POSTGRES_POD = Pod("televisit", component("postgres"))
DNS_POD = Pod("kube-system", {"k8s-app": "kube-dns"})
STRAY_POD = Pod("televisit", {"app": "debug-shell"})
OTHER_POD = Pod("default", {"app": "web"})
EXTERNAL_DB = "192.0.2.10"  # the placeholder range for a database outside the cluster
INTERNET = "93.184.216.34"
MAIL_RELAY = "198.51.100.25"  # the placeholder range for the clinic's SMTP relay
METADATA = "169.254.169.254"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "the evaluator below knows matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer_rule: dict[str, Any], policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in peer_rule:
        block = peer_rule["ipBlock"]
        address = ipaddress.ip_address(peer) if isinstance(peer, str) else None
        return (address is not None and address in ipaddress.ip_network(block["cidr"])
                and not any(address in ipaddress.ip_network(e) for e in block.get("except", [])))
    if isinstance(peer, str):
        return False
    if "namespaceSelector" in peer_rule:
        namespace_labels = {"kubernetes.io/metadata.name": peer.namespace}
        in_namespace = selects(peer_rule["namespaceSelector"], namespace_labels)
    else:
        in_namespace = peer.namespace == policy_namespace
    return in_namespace and selects(peer_rule.get("podSelector", {}), peer.labels)


def side_allows(policies, pod: Pod, direction: str, peer: Peer, port: int, protocol: str) -> bool:
    """Kubernetes' rule: a pod no policy of this direction selects is open; else one rule must match."""
    applicable = [p for p in policies if p["metadata"]["namespace"] == pod.namespace
                  and selects(p["spec"]["podSelector"], pod.labels) and direction in p["spec"]["policyTypes"]]
    if not applicable:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in applicable:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            ports = rule.get("ports")
            for p in ports or []:
                assert isinstance(p["port"], int), "the evaluator below knows port numbers only"
            namespace = policy["metadata"]["namespace"]
            peer_ok = not peers or any(peer_matches(r, namespace, peer) for r in peers)
            port_ok = not ports or (protocol, port) in {(p.get("protocol", "TCP"), p["port"]) for p in ports}
            if peer_ok and port_ok:
                return True
    return False


def connects(policies, source: Peer, target: Peer, port: int, protocol: str = "TCP") -> bool:
    out = isinstance(source, str) or side_allows(policies, source, "Egress", target, port, protocol)
    into = isinstance(target, str) or side_allows(policies, target, "Ingress", source, port, protocol)
    return out and into


@pytest.fixture(scope="module")
def policies(objects):
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def test_the_app_namespace_denies_everything_by_default(policies):
    defaults = [p for p in policies
                if p["spec"]["podSelector"] == {} and p["metadata"]["namespace"] == "televisit"]
    assert len(defaults) == 1
    (default,) = defaults
    assert set(default["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in default["spec"] and "egress" not in default["spec"]


ALLOWED = [
    (INGRESS_CONTROLLER, APP_POD, 8000, "TCP"),
    (APP_POD, REDIS_POD, 6379, "TCP"),
    (APP_POD, POSTGRES_POD, 5432, "TCP"),
    (APP_POD, EXTERNAL_DB, 5432, "TCP"),
    (MIGRATE_POD, POSTGRES_POD, 5432, "TCP"),
    (MIGRATE_POD, EXTERNAL_DB, 5432, "TCP"),
    (APP_POD, DNS_POD, 53, "UDP"),
    (APP_POD, DNS_POD, 53, "TCP"),
    (MIGRATE_POD, DNS_POD, 53, "UDP"),
    (APP_POD, MAIL_RELAY, 587, "TCP"),
    (APP_POD, MAIL_RELAY, 465, "TCP"),
    (APP_POD, MAIL_RELAY, 25, "TCP"),
]
DENIED = [
    (OTHER_POD, APP_POD, 8000, "TCP"),
    (STRAY_POD, APP_POD, 8000, "TCP"),
    (INTERNET, APP_POD, 8000, "TCP"),
    (INGRESS_CONTROLLER, APP_POD, 9000, "TCP"),
    (INGRESS_CONTROLLER, REDIS_POD, 6379, "TCP"),
    (INGRESS_CONTROLLER, POSTGRES_POD, 5432, "TCP"),
    (MIGRATE_POD, REDIS_POD, 6379, "TCP"),
    (STRAY_POD, REDIS_POD, 6379, "TCP"),
    (OTHER_POD, REDIS_POD, 6379, "TCP"),
    (INTERNET, REDIS_POD, 6379, "TCP"),
    (STRAY_POD, POSTGRES_POD, 5432, "TCP"),
    (OTHER_POD, POSTGRES_POD, 5432, "TCP"),
    (REDIS_POD, POSTGRES_POD, 5432, "TCP"),
    (APP_POD, INTERNET, 443, "TCP"),
    (APP_POD, METADATA, 80, "TCP"),
    (APP_POD, REDIS_POD, 22, "TCP"),
    (REDIS_POD, INTERNET, 443, "TCP"),
    (REDIS_POD, APP_POD, 8000, "TCP"),
    (MIGRATE_POD, APP_POD, 8000, "TCP"),
    (STRAY_POD, DNS_POD, 53, "UDP"),
    (STRAY_POD, INTERNET, 443, "TCP"),
    (APP_POD, INTERNET, 587, "TCP"),
    (APP_POD, MAIL_RELAY, 443, "TCP"),
    (MIGRATE_POD, MAIL_RELAY, 587, "TCP"),
]


def label(case) -> str:
    def name(peer: Peer) -> str:
        if isinstance(peer, str):
            return peer
        what = peer.labels.get("app.kubernetes.io/component") or next(iter(peer.labels.values()))
        return f"{peer.namespace}/{what}"
    source, target, port, protocol = case
    return f"{name(source)}->{name(target)}:{port}/{protocol}"


@pytest.mark.parametrize("case", ALLOWED, ids=label)
def test_network_policies_let_through_what_the_app_needs(policies, case):
    assert connects(policies, *case)


@pytest.mark.parametrize("case", DENIED, ids=label)
def test_network_policies_stop_everything_else(policies, case):
    assert not connects(policies, *case)


def test_the_policies_name_the_real_ports_and_labels(objects, policies, app):
    """Numbers in the policies that drift from the workloads would cut the app off silently."""
    app_ports = {p["containerPort"] for p in container(app)["ports"]}
    (redis,) = find(objects, "Deployment", "redis")["spec"]["template"]["spec"]["containers"]
    redis_ports = {p["containerPort"] for p in redis["ports"]}
    assert connects(policies, INGRESS_CONTROLLER, APP_POD, *app_ports)
    assert connects(policies, APP_POD, REDIS_POD, *redis_ports)
    assert connects(policies, APP_POD, POSTGRES_POD, urlsplit(app_secret("TELEVISIT_DATABASE_URL")).port)
    workloads = (("Deployment/televisit", APP_POD), ("Job/televisit-migrate", MIGRATE_POD),
                 ("Deployment/redis", REDIS_POD))
    for name, pod in workloads:
        labels = pod.labels
        kind, object_name = name.split("/")
        template = find(objects, kind, object_name)["spec"]["template"]
        assert template["metadata"]["labels"] == labels, name
    # The Ingress's class is served by the controller the app policy admits.
    assert {i["spec"]["ingressClassName"] for i in objects if i["kind"] == "Ingress"} == {"nginx"}


# -- Security headers at the Ingress ----------------------------------------------------------


def nginx_headers() -> dict[str, str]:
    """What deploy/nginx/televisit.conf sends over TLS (its HSTS map's `on` value, and nosniff)."""
    conf = (DEPLOY / "nginx" / "televisit.conf").read_text()
    hsts = re.search(r"map \$https \$televisit_hsts \{\s*on\s+\"([^\"]+)\";", conf)
    assert hsts and "add_header Strict-Transport-Security $televisit_hsts always;" in conf
    assert "add_header X-Content-Type-Options nosniff always;" in conf
    return {"Strict-Transport-Security": hsts[1], "X-Content-Type-Options": "nosniff"}


def test_the_ingress_sends_the_same_security_headers_as_nginx(objects):
    ingress = find(objects, "Ingress", "televisit")
    notes = ingress["metadata"]["annotations"]
    namespace, name = notes["nginx.ingress.kubernetes.io/custom-headers"].split("/")
    assert namespace == ingress["metadata"]["namespace"]
    headers = find(objects, "ConfigMap", name)["data"]
    assert headers == nginx_headers()
    max_age = re.fullmatch(r"max-age=(\d+); includeSubDomains", headers["Strict-Transport-Security"])
    assert max_age and int(max_age[1]) >= 365 * 24 * 3600
    # HSTS is only honoured over HTTPS: the Ingress serves nothing else.
    assert notes["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
