"""Reading the deployment files the way their tools do, for the offline checks in tests/deploy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SECRET_TEMPLATE = K8S / "secret.template.yaml"


def k8s_files() -> list[Path]:
    """Every manifest file in deploy/k8s except kustomize's own file."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_objects(*, include_template: bool = False) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k deploy/k8s` creates (plus the Secret template if asked)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    paths = [K8S / name for name in kustomization["resources"]]
    if include_template:
        paths.append(SECRET_TEMPLATE)
    return [doc for path in paths for doc in documents(path)]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def start_script(source: str, name: str) -> str:
    """The `/bin/sh -c` script of compose service `name` or Kubernetes Deployment `name`, as the
    container's shell gets it (compose has already turned `$$` into `$`)."""
    if source == "k8s":
        (c,) = find(k8s_objects(), "Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["/bin/sh", "-c"]
        (script,) = c["args"]
        return script
    service = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"][name]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = service["command"]
    return script.replace("$$", "$")


def pod_templates(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every workload: Deployments, Jobs, DaemonSets, StatefulSets."""
    kinds = {"Deployment", "Job", "DaemonSet", "StatefulSet"}
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
            for o in objects if o["kind"] in kinds]


def seconds(value: str | int) -> float:
    """A compose duration ('30s', '1m30s') or a plain number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", value)
    assert parts and value, f"unreadable duration {value!r}"
    return int(parts[1] or 0) * 60 + float(parts[2] or 0)


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped), as compose reads them."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Instruction:
    stage: int
    command: str
    args: str


def dockerfile(path: Path) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stage = -1
    out = []
    for line in logical:
        command, _, args = line.partition(" ")
        command = command.upper()
        if command == "FROM":
            stage += 1
        out.append(Instruction(stage, command, args.strip()))
    return out
