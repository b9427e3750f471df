"""The coturn start scripts of deploy/k8s/coturn.yaml and deploy/compose.yaml, run for real
against Debian's turnserver.

It must put the shared secret in place of the published placeholder: credentials that Televisit
signs with TELEVISIT_TURN_SECRET get a relay, credentials signed with the placeholder do not.
Only the listening/relay addresses and ports are moved to free loopback ones for the test.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import subprocess
import time
import uuid

import pytest
import yaml
from aioice import stun, turn

from televisit.rooms.ice import turn_credentials
from tests.deploy.manifests import DEPLOY, find, k8s_objects
from tests.fixtures.coturn import _free_port, _stop, _stun_answers
from tests.fixtures.services import service_missing

PLACEHOLDER = "CHANGE-ME-same-as-TELEVISIT_TURN_SECRET"


def manifest_script(source: str) -> str:
    """The shell script as the container runs it (compose has already turned `$$` into `$`)."""
    if source == "k8s":
        (c,) = find(k8s_objects(), "Deployment", "coturn")["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["/bin/sh", "-c"]
        (script,) = c["args"]
        return script
    service = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["coturn"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = service["command"]
    return script.replace("$$", "$")


def start_script(source: str, tmp_path, port: int) -> str:
    script = manifest_script(source)
    low = random.randrange(20000, 32000, 100)
    test_only = (f"--listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port={port} "
                 f"--min-port={low} --max-port={low + 99} --no-tls --no-dtls "
                 f"--userdb={tmp_path / 'turndb'} --log-file={tmp_path / 'turn.log'} --no-stdout-log")
    # The manifest's /tmp paths first: the checkout itself may live under /tmp.
    script = script.replace("/tmp/", f"{tmp_path}/")  # noqa: S108 - the manifest's paths, moved
    script = script.replace("/etc/coturn/turnserver.conf", str(DEPLOY / "coturn" / "turnserver.conf"))
    assert "--pidfile=" in script
    return script.replace("--pidfile=", f"{test_only} --pidfile=")


@pytest.fixture(params=["k8s", "compose"])
def production_coturn(request, tmp_path):
    if shutil.which("turnserver") is None:
        service_missing("coturn (turnserver)", FileNotFoundError("turnserver is not on PATH"))
    port = _free_port("127.0.0.1")
    secret = secrets.token_hex(32)
    env = {**os.environ, "TURN_SECRET": secret, "TURN_REALM": "turn.televisit.test",
           "TURN_EXTERNAL_IP": "127.0.0.1"}
    proc = subprocess.Popen(["/bin/sh", "-c", start_script(request.param, tmp_path, port)], env=env,  # noqa: S603
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _stun_answers("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            log = tmp_path / "turn.log"
            pytest.fail(f"coturn did not start: {log.read_text()[-2000:] if log.exists() else ''}")
    try:
        yield port, secret, tmp_path
    finally:
        _stop(proc)


async def allocate(port: int, secret: str) -> tuple[str, int]:
    """A TURN Allocate with the credentials Televisit hands a room's participant."""
    username, password = turn_credentials(secret, uuid.uuid4(), int(time.time()) + 600)
    transport, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol, server_addr=("127.0.0.1", port), username=username, password=password)
    try:
        return transport.get_extra_info("sockname")
    finally:
        transport.close()


async def test_televisit_credentials_get_a_relay_and_the_placeholder_gets_none(production_coturn):
    port, secret, tmp_path = production_coturn
    relayed = await asyncio.wait_for(allocate(port, secret), 10)
    assert relayed[0] == "127.0.0.1"
    with pytest.raises(stun.TransactionFailed) as refused:
        await asyncio.wait_for(allocate(port, PLACEHOLDER), 10)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
    config = (tmp_path / "turnserver.conf").read_text()
    assert f"static-auth-secret={secret}" in config
    assert PLACEHOLDER not in config
    assert "realm=turn.televisit.test" in config
