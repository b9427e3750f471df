"""deploy/k8s: valid for the API server, and the properties a zero-downtime rollout depends on.

Validation is offline, in strict mode (unknown fields are errors), against the schemas that the
kubernetes-validate package ships, for the oldest and a recent Kubernetes release we support.
"""

from __future__ import annotations

import copy
import ipaddress
import re

import pytest
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


@pytest.mark.parametrize("name", ["Deployment/televisit", "Job/televisit-migrate", "Deployment/coturn"])
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
    with pytest.raises(ConfigError, match="TELEVISIT_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("TELEVISIT_SECRET_KEY", "x" * 48)
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
