"""deploy/Dockerfile and .dockerignore, parsed: Docker does not run on this machine.

What matters to an operator: the web app is built in the image, Python dependencies come from
uv.lock exactly, the running image is slim, unprivileged and starts `televisit serve`, and the
build context carries nothing it should not (and everything the build needs).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy.manifests import DEPLOY, ROOT, dockerfile, find, k8s_objects

DOCKERFILE = DEPLOY / "Dockerfile"


@pytest.fixture(scope="module")
def instructions():
    return dockerfile(DOCKERFILE)


def stage(instructions, index):
    return [i for i in instructions if i.stage == index]


def final(instructions):
    return stage(instructions, max(i.stage for i in instructions))


def resolve_args(instructions, text: str) -> str:
    """Substitute the global ARG defaults (declared before the first FROM)."""
    defaults = dict(i.args.split("=", 1) for i in instructions if i.command == "ARG" and i.stage == -1)
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m[1], m[0]), text)


def test_three_stages_node_then_uv_then_slim_python(instructions):
    froms = [resolve_args(instructions, i.args) for i in instructions if i.command == "FROM"]
    assert len(froms) == 3
    assert froms[0].startswith("node:20") and froms[0].endswith(" AS web")
    assert froms[-1].startswith("python:3.11-slim")


def test_web_app_is_built_with_npm_ci_from_its_lock(instructions):
    runs = " && ".join(i.args for i in stage(instructions, 0) if i.command == "RUN")
    assert "npm ci" in runs and "npm run build" in runs
    assert "npm install" not in runs
    copies = [i.args for i in stage(instructions, 0) if i.command == "COPY"]
    assert copies[0].split()[:2] == ["web/package.json", "web/package-lock.json"]


def test_web_build_output_is_where_vite_writes_it(instructions):
    """The Dockerfile copies Vite's outDir (web/vite.config.ts) into the package."""
    vite = (ROOT / "web" / "vite.config.ts").read_text()
    out_dir = re.search(r"outDir:\s*'([^']+)'", vite)[1]
    assert out_dir == "../src/televisit/web/dist"
    workdir = next(i.args for i in stage(instructions, 0) if i.command == "WORKDIR")
    built = f"{workdir.rsplit('/', 1)[0]}/src/televisit/web/dist"
    copies = [i.args for i in instructions if i.command == "COPY" and i.args.startswith("--from=web")]
    assert [c.split()[1].rstrip("/") for c in copies] == [built]
    assert copies[0].split()[2].rstrip("/") == "src/televisit/web/dist"


def test_python_dependencies_come_from_uv_lock_exactly_without_dev_tools(instructions):
    venv = stage(instructions, 1)
    syncs = [i.args for i in venv if i.command == "RUN" and "uv sync" in i.args]
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync and "--no-dev" in sync
    assert any("--no-editable" in s for s in syncs), "the runtime image has no source tree"
    assert any("uv.lock" in i.args.split() for i in venv if i.command == "COPY")


def test_nothing_downloads_browsers_or_ships_the_whole_context(instructions):
    text = DOCKERFILE.read_text()
    assert "playwright install" not in text
    for i in final(instructions):
        if i.command in {"COPY", "ADD"}:
            assert i.args.startswith("--from="), f"final stage copies from the context: {i.args}"
        assert not (i.command == "RUN" and re.search(r"\b(pip|uv|npm|apt-get)\b", i.args)), i.args


def test_runs_as_the_unprivileged_user_kubernetes_expects(instructions):
    users = [i.args for i in final(instructions) if i.command == "USER"]
    assert users, "the final stage must switch user"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    app = find(k8s_objects(), "Deployment", "televisit")["spec"]["template"]["spec"]
    assert app["securityContext"]["runAsUser"] == int(uid)
    assert app["securityContext"]["runAsGroup"] == int(gid)


def test_serves_on_8000_with_a_liveness_healthcheck_and_migrates_separately(instructions):
    last = {i.command: i.args for i in final(instructions)}
    assert last["EXPOSE"] == "8000"
    assert "/livez" in last["HEALTHCHECK"]
    assert json.loads(last["ENTRYPOINT"]) + json.loads(last["CMD"]) == ["televisit", "serve"]
    env = last["ENV"]
    assert "TELEVISIT_ENV=production" in env and "TELEVISIT_HOST=0.0.0.0" in env


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern(pattern: str) -> re.Pattern[str]:
    """Docker's matching: `*` and `?` stay within a path segment, `**/` spans any depth."""
    regex = re.escape(pattern.strip("/"))
    regex = regex.replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
    return re.compile(regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]"))


def ignored(path: str, patterns: list[str]) -> bool:
    """Excluded when a pattern matches the path or one of its parent folders; `!` re-includes."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if any(_pattern(pattern.lstrip("!")).fullmatch(p) for p in prefixes):
            result = not negate
    return result


def test_build_context_keeps_what_the_build_copies(instructions):
    patterns = dockerignore_patterns()
    sources = []
    for i in instructions:
        if i.command == "COPY" and not i.args.startswith("--from="):
            sources += i.args.split()[:-1]
    assert {"uv.lock", "pyproject.toml", "src/", "web/"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source, patterns), f".dockerignore drops {source}, which the build copies"


@pytest.mark.parametrize("path", [".git/HEAD", ".venv/bin/python", "web/node_modules/vue/index.js",
                                  "televisit.db", "deploy/.env", "src/televisit/web/dist/index.html",
                                  "src/televisit/__pycache__/app.cpython-311.pyc", "tests/conftest.py"])
def test_build_context_leaves_out_local_state_and_secrets(path):
    assert ignored(path, dockerignore_patterns())

