"""openapi.json at the repository root is the contract: it must be what the app generates,
with readable operation ids and the contract's error body on every declared error."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from televisit.app import create_app
from televisit.cli import app as cli
from televisit.core.config import Settings

CONTRACT = Path(__file__).resolve().parents[1] / "openapi.json"
REGENERATE = ".venv/bin/televisit openapi > openapi.json"
OPERATION_ID = re.compile(r"^[a-z]+(-[a-z]+)+$")
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    """The document exactly as `televisit openapi` prints it."""
    result = CliRunner().invoke(cli, ["openapi"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_committed_contract_matches_the_app(generated):
    assert CONTRACT.exists(), f"openapi.json is missing; generate it with: {REGENERATE}"
    committed = json.loads(CONTRACT.read_text())
    if committed != generated:
        diff = difflib.unified_diff(
            json.dumps(committed, indent=2, sort_keys=True).splitlines(),
            json.dumps(generated, indent=2, sort_keys=True).splitlines(),
            "openapi.json (committed)", "televisit openapi (the app)", lineterm="", n=2,
        )
        shown = "\n".join(list(diff)[:80])
        pytest.fail(
            f"openapi.json differs from the app's document. If the API change is intended, "
            f"regenerate it with `{REGENERATE}` and commit it.\n{shown}",
            pytrace=False,
        )


def test_every_operation_has_a_readable_unique_id(generated):
    ids = [op.get("operationId") for _, _, op in operations(generated)]
    unreadable = [
        f"{method} {path}: {op.get('operationId')!r}"
        for method, path, op in operations(generated)
        if not OPERATION_ID.match(op.get("operationId") or "")
    ]
    assert not unreadable, "operationIds must look like `appointments-create`:\n" + "\n".join(unreadable)
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {ids}"


def test_every_declared_4xx_uses_the_error_body(generated):
    wrong = []
    for method, path, op in operations(generated):
        for status, response in op.get("responses", {}).items():
            if not status.startswith("4"):
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema != ERROR_BODY:
                wrong.append(f"{method} {path} {status}: {schema}")
    assert not wrong, "4xx responses must use ErrorBody (core.schemas.errors):\n" + "\n".join(wrong)
    assert "HTTPValidationError" not in generated["components"]["schemas"]


def test_error_body_matches_the_contract(generated):
    schemas = generated["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    assert set(schemas["ErrorInfo"]["required"]) == {"code", "message"}
    assert set(schemas["ErrorInfo"]["properties"]) == {"code", "message", "details"}


def test_common_errors_are_declared(generated):
    """What any operation of its shape can answer is in the document, so clients handle it."""
    missing = []
    for method, path, op in operations(generated):
        declared = set(op["responses"])
        expected = set()
        if "requestBody" in op:
            expected |= {"400", "413", "422"}
        if op.get("parameters"):
            expected.add("422")
        if op.get("security"):
            expected.add("401")
        if expected - declared:
            missing.append(f"{method} {path}: {sorted(expected - declared)}")
    assert not missing, "\n".join(missing)


def test_api_lives_under_api_v1(generated):
    outside = [path for path in generated["paths"] if not path.startswith("/api/v1/")]
    assert set(outside) <= {"/livez", "/readyz", "/metrics"}, outside


def test_no_token_goes_in_a_url(generated):
    for method, path, op in operations(generated):
        for parameter in op.get("parameters", []):
            if parameter["in"] in {"query", "path"}:
                assert not re.search(r"token|password|secret", parameter["name"], re.I), (
                    f"{method} {path} takes {parameter['name']!r} in the URL"
                )


def test_schemathesis_toml_expects_exactly_the_published_refusals(generated):
    """schemathesis.toml lets `positive_data_acceptance` expect 400/422 where, and only where, an
    operation publishes refusals of schema-valid requests (`x-error-codes`)."""
    published = {
        (op["operationId"], status)
        for _, _, op in operations(generated)
        for status, response in op["responses"].items()
        if response.get("x-error-codes")
    }
    config = tomllib.loads((CONTRACT.parent / "schemathesis.toml").read_text())
    expected = set()
    for entry in config["operations"]:
        ids = entry["include-operation-id"]
        statuses = entry["checks"]["positive_data_acceptance"]["expected-statuses"]
        expected |= {(i, s) for i in ([ids] if isinstance(ids, str) else ids) for s in statuses
                     if s in {"400", "422"}}
    assert expected == published


def test_bounds_that_settings_decide_are_this_servers(generated):
    """The committed document shows the defaults; a server's own document shows its settings."""
    body = generated["components"]["schemas"]["MessageCreate"]["properties"]["body"]
    assert (body["maxLength"], body["x-settings"]) == (4000, {"maxLength": "TELEVISIT_CHAT_MAX_LENGTH"})
    settings = Settings(chat_max_length=280, appointment_min_minutes=10, appointment_max_minutes=90,
                        password_min_length=14)
    served = create_app(settings, configure_logs=False).openapi()  # what /api/v1/openapi.json serves
    schemas = served["components"]["schemas"]
    assert schemas["MessageCreate"]["properties"]["body"]["maxLength"] == 280
    duration = schemas["AppointmentCreate"]["properties"]["duration_minutes"]
    assert (duration["minimum"], duration["maximum"]) == (10, 90)
    assert schemas["UserCreate"]["properties"]["password"]["minLength"] == 14


def test_the_printed_contract_ignores_the_local_environment(generated, monkeypatch):
    """A developer's TELEVISIT_* overrides must not leak into the committed document."""
    monkeypatch.setenv("TELEVISIT_CHAT_MAX_LENGTH", "77")
    monkeypatch.setenv("TELEVISIT_API_DOCS", "false")
    result = CliRunner().invoke(cli, ["openapi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == generated
