"""asyncapi.json at the repository root is the real-time contract: it must be what the frame
models generate, and it must say everything a second implementation needs (every frame both
ways, every error and close code the server uses)."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from televisit.cli import app as cli
from televisit.signaling import frames as f
from televisit.signaling.asyncapi import frame_type

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "asyncapi.json"
REGENERATE = ".venv/bin/televisit asyncapi > asyncapi.json"
SIGNALING = ROOT / "src" / "televisit" / "signaling"


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["asyncapi"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_committed_contract_matches_the_frames(generated):
    assert CONTRACT.exists(), f"asyncapi.json is missing; generate it with: {REGENERATE}"
    committed = json.loads(CONTRACT.read_text())
    if committed != generated:
        diff = difflib.unified_diff(
            json.dumps(committed, indent=2, sort_keys=True).splitlines(),
            json.dumps(generated, indent=2, sort_keys=True).splitlines(),
            "asyncapi.json (committed)", "televisit asyncapi (the frames)", lineterm="", n=2,
        )
        pytest.fail(f"asyncapi.json differs from the frame models; regenerate it with `{REGENERATE}`."
                    f"\n" + "\n".join(list(diff)[:80]), pytrace=False)


def test_every_frame_both_ways_is_a_message_with_its_schema(generated):
    messages = generated["components"]["messages"]
    schemas = generated["components"]["schemas"]
    for model in (*f.CLIENT_FRAMES, *f.SERVER_FRAMES):
        message = messages[model.__name__]
        assert message["name"] == frame_type(model)
        name = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert schemas[name]["properties"]["type"]["const"] == frame_type(model)
    received = {op["messages"][0]["$ref"].rsplit("/", 1)[1]
                for op in generated["operations"].values() if op["action"] == "receive"}
    sent = {op["messages"][0]["$ref"].rsplit("/", 1)[1]
            for op in generated["operations"].values() if op["action"] == "send"}
    assert received == {m.__name__ for m in f.CLIENT_FRAMES}
    assert sent == {m.__name__ for m in f.SERVER_FRAMES}


def test_client_frame_types_are_unique_and_server_frame_types_too():
    for frames in (f.CLIENT_FRAMES, f.SERVER_FRAMES):
        types = [frame_type(m) for m in frames]
        assert len(types) == len(set(types))


def test_unions_name_their_discriminator_as_asyncapi_3_does(generated):
    """AsyncAPI 3's Schema Object takes `discriminator` as a property name; OpenAPI's object form
    makes the document invalid (`npm --prefix web run check:api` runs the official parser on it)."""
    schemas = generated["components"]["schemas"]
    for name in ("ClientFrame", "ServerFrame"):
        assert schemas[name]["discriminator"] == "type"
    nested = [name for name, schema in schemas.items() if "discriminator" in json.dumps(
        {k: v for k, v in schema.items() if k != "discriminator"})]
    assert nested == [], nested


def _resolve(document: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for the document's ServerFrame union, resolving its component refs."""
    schema = {"$ref": "#/components/schemas/ServerFrame", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_what_the_server_encodes_validates_against_the_published_schema(generated):
    import uuid
    from datetime import UTC, datetime

    from televisit.chat.schemas import MessagePublic

    now = datetime(2030, 1, 1, tzinfo=UTC)
    samples = [
        f.Ready(user_id=uuid.uuid4(), connection_id="c1"),
        f.ErrorFrame(code="invalid_frame", message="no", details=[{"loc": ["room_id"]}]),
        f.RelayedSignal(room_id=uuid.uuid4(), sender=str(uuid.uuid4()), data={"candidate": None}),
        f.CallIncoming(room_id=uuid.uuid4(), appointment_id=uuid.uuid4(),
                       sender=f.Caller(id=uuid.uuid4(), full_name="Dr. A", role="doctor")),
        f.ChatMessage(message=MessagePublic(id=uuid.uuid4(), seq=1, appointment_id=uuid.uuid4(),
                                            sender_id=uuid.uuid4(), client_msg_id="m1", body="hi",
                                            created_at=now)),
        f.ServerDraining(),
    ]
    validator = _resolve(generated)
    for frame in samples:
        errors = list(validator.iter_errors(json.loads(f.encode(frame))))
        assert not errors, (type(frame).__name__, [e.message for e in errors])
    assert list(validator.iter_errors({"type": "signal", "room_id": "x"}))


def test_every_error_and_close_code_the_websocket_sends_is_documented(generated):
    """Codes written in the WebSocket layer are all in the catalogue (and so in the document)."""
    source = "\n".join(p.read_text() for p in SIGNALING.glob("*.py"))
    used = set(re.findall(r'FrameError\(\s*"([a-z_]+)"', source))
    used |= set(re.findall(r'ErrorFrame\(code="([a-z_]+)"', source))
    assert used, "the scan found no error codes: has the code moved?"
    assert used <= set(generated["x-error-codes"]), used - set(generated["x-error-codes"])
    closes = {int(c) for c in re.findall(r"\b(1\d{3}|4\d{3})\b", (SIGNALING / "endpoints.py").read_text())}
    assert closes <= {int(c) for c in generated["x-close-codes"]}, closes
