"""The shipped coturn configuration, run for real in Debian's turnserver by the start scripts of
deploy/compose.yaml (with deploy/coturn/turnserver.conf) and deploy/k8s/coturn.yaml (with the file
of its ConfigMap).

What a clinic relies on:
- the start script puts the shared secret in place of the published placeholder: credentials
  that Televisit signs with TELEVISIT_TURN_SECRET get a relay, the placeholder's get none;
- the relay reaches the public internet (a permission for 8.8.8.8 is granted) and nothing else:
  loopback, private, CGNAT, link-local, multicast, reserved and cloud-metadata addresses, in IPv4,
  IPv6 and IPv4-mapped form, are refused with 403 over both transports a browser uses to reach
  the TURN server (UDP and TCP). A relay that forwards to those turns every caller into a visitor
  of the clinic's internal network (Redis, PostgreSQL, the cloud metadata service).

Only the listening/relay addresses (loopback here), the ports, the log/pid/database paths and the
TLS listeners (off: no certificate on this machine) are changed for the test; every other line,
the denials above all, is the shipped one. The relay address being loopback does not matter:
coturn checks the PEER address of CreatePermission against denied-peer-ip, and no packet needs
to reach the peer for the check.
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
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aioice import stun, turn

from televisit.rooms.ice import turn_credentials
from tests.deploy.manifests import DEPLOY, find, k8s_objects
from tests.deploy.manifests import start_script as manifest_script
from tests.fixtures.coturn import _free_port, _stop, _stun_answers
from tests.fixtures.services import service_missing

PLACEHOLDER = "CHANGE-ME-same-as-TELEVISIT_TURN_SECRET"
SOURCES = ("compose", "k8s")

# Public addresses: a call's relay must be able to reach them. Nothing is sent to them.
PUBLIC_V4 = ("8.8.8.8", "1.1.1.1", "9.9.9.9", "81.2.69.160")
PUBLIC_V6 = ("2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:81c::200e")

# Every address here must be refused. One or two per range, at its edges where they differ.
DENIED_V4 = {
    "this network 0/8": ("0.0.0.0", "0.255.255.255"),  # noqa: S104 - a peer, not a bind
    "private 10/8": ("10.0.0.1", "10.255.255.254"),
    "CGNAT 100.64/10": ("100.64.0.1", "100.127.255.254"),
    "loopback 127/8": ("127.0.0.1", "127.255.255.254"),
    "link-local 169.254/16": ("169.254.0.1", "169.254.255.254"),
    "cloud metadata": ("169.254.169.254", "169.254.170.2"),
    "private 172.16/12": ("172.16.0.1", "172.31.255.254"),
    "IETF protocol assignments 192.0.0/24": ("192.0.0.1", "192.0.0.170"),
    "TEST-NET-1": ("192.0.2.1",),
    "6to4 relay anycast": ("192.88.99.1",),
    "private 192.168/16": ("192.168.0.1", "192.168.255.254"),
    "benchmarking 198.18/15": ("198.18.0.1", "198.19.255.254"),
    "TEST-NET-2": ("198.51.100.1",),
    "TEST-NET-3": ("203.0.113.1",),
    "multicast 224/4": ("224.0.0.1", "239.255.255.250"),
    "reserved 240/4 and broadcast": ("240.0.0.1", "255.255.255.255"),
}
DENIED_V6 = {
    "loopback and unspecified": ("::1", "::"),
    "IPv4-mapped private": ("::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:192.168.1.1",
                            "::ffff:169.254.169.254", "::ffff:172.16.0.1", "::ffff:100.64.0.1"),
    "IPv4-compatible (deprecated)": ("::127.0.0.1", "::10.0.0.1", "::8.8.8.8"),
    "NAT64 of private": ("64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b:1::1"),
    "discard 100::/64": ("100::1",),
    "IETF protocol assignments, Teredo": ("2001::1", "2001:0:a00:1::1", "2001:1ff::1"),
    "documentation": ("2001:db8::1", "3fff::1"),
    "6to4 of private": ("2002:a00:1::1", "2002:7f00:1::1"),
    "ULA fc00::/7": ("fc00::1", "fd12:3456::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
    "cloud metadata (AWS IPv6)": ("fd00:ec2::254",),
    "link-local fe80::/10": ("fe80::1", "febf::1"),
    "site-local fec0::/10 (deprecated)": ("fec0::1", "feff::1"),
    "multicast ff00::/8": ("ff02::1", "ff0e::1", "ff05::1:3"),
}


def shipped_config(source: str, workdir: Path) -> Path:
    """The file the container mounts at /etc/coturn/turnserver.conf, as shipped."""
    if source == "compose":
        return DEPLOY / "coturn" / "turnserver.conf"
    data = find(k8s_objects(), "ConfigMap", "coturn-config")["data"]["turnserver.conf"]
    path = workdir / "configmap-turnserver.conf"
    path.write_text(data)
    return path


def start_script(source: str, workdir: Path, port: int) -> str:
    script = manifest_script(source, "coturn")
    low = random.randrange(20000, 32000, 100)
    test_only = (f"--listening-ip=127.0.0.1 --listening-ip=::1 --relay-ip=127.0.0.1 --relay-ip=::1 "
                 f"--listening-port={port} --min-port={low} --max-port={low + 99} --no-tls --no-dtls "
                 f"--userdb={workdir / 'turndb'} --log-file=stdout")
    config = shipped_config(source, workdir)
    # The manifest's /tmp paths first: the checkout itself may live under /tmp.
    script = script.replace("/tmp/", f"{workdir}/")  # noqa: S108 - the manifest's paths, moved
    script = script.replace("/etc/coturn/turnserver.conf", str(config))
    assert "--pidfile=" in script
    return script.replace("--pidfile=", f"{test_only} --pidfile=")


@dataclass(frozen=True)
class ShippedCoturn:
    source: str
    port: int
    secret: str
    workdir: Path

    def log(self) -> str:
        path = self.workdir / "turn.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module", params=SOURCES)
def shipped_coturn(request, tmp_path_factory) -> Iterator[ShippedCoturn]:
    """coturn as the compose or Kubernetes start script runs it, on free loopback ports."""
    if shutil.which("turnserver") is None:
        service_missing("coturn (turnserver)", FileNotFoundError("turnserver is not on PATH"))
    workdir = tmp_path_factory.mktemp(f"coturn-{request.param}")
    server = ShippedCoturn(request.param, _free_port("127.0.0.1"), secrets.token_hex(32), workdir)
    env = {**os.environ, "TURN_SECRET": server.secret, "TURN_REALM": "turn.televisit.test",
           "TURN_EXTERNAL_IP": "127.0.0.1"}
    # The shipped file logs to stdout, as containers do (--log-file=stdout also keeps coturn from
    # opening a file in /var/log before it has read the file): keep it for failures.
    with (workdir / "turn.log").open("ab") as log:
        proc = subprocess.Popen(["/bin/sh", "-c", start_script(request.param, workdir, server.port)],  # noqa: S603
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not _stun_answers("127.0.0.1", server.port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"coturn did not start:\n{server.log()[-3000:]}", pytrace=False)
    try:
        yield server
    finally:
        _stop(proc)


def fresh_credentials(secret: str) -> tuple[str, str]:
    """What Televisit hands a room's participant: a new user each time, so quotas never bite."""
    return turn_credentials(secret, uuid.uuid4(), int(time.time()) + 600)


async def allocate(port: int, secret: str) -> tuple[str, int]:
    """A TURN Allocate, the way aioice (and a browser) makes one."""
    username, password = fresh_credentials(secret)
    transport, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol, server_addr=("127.0.0.1", port), username=username, password=password)
    try:
        return transport.get_extra_info("sockname")
    finally:
        transport.close()


async def test_televisit_credentials_get_a_relay_and_the_placeholder_gets_none(shipped_coturn):
    relayed = await asyncio.wait_for(allocate(shipped_coturn.port, shipped_coturn.secret), 10)
    assert relayed[0] == "127.0.0.1"
    with pytest.raises(stun.TransactionFailed) as refused:
        await asyncio.wait_for(allocate(shipped_coturn.port, PLACEHOLDER), 10)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
    config = (shipped_coturn.workdir / "turnserver.conf").read_text()
    assert f"static-auth-secret={shipped_coturn.secret}" in config
    assert PLACEHOLDER not in config
    assert "realm=turn.televisit.test" in config


def test_coturn_understands_every_line_of_the_shipped_file(shipped_coturn):
    """coturn skips an option it does not know with a log line and runs on without it."""
    log = shipped_coturn.log()
    assert "Bad configuration" not in log, log
    assert "Black listing: 10.0.0.0-10.255.255.255" in log


# -- Which peers the relay may reach ------------------------------------------------------------

# RFC 6156: the relayed address family a client asks for. aioice never asks (it relays over the
# server's default family, IPv4), so the test teaches its STUN codec this one attribute.
REQUESTED_ADDRESS_FAMILY = (0x0017, "REQUESTED-ADDRESS-FAMILY", stun.pack_unsigned, stun.unpack_unsigned)
FAMILY = {4: 0x01 << 24, 6: 0x02 << 24}
UDP = 17


@pytest.fixture
def rfc6156(monkeypatch):
    monkeypatch.setitem(stun.ATTRIBUTES_BY_NAME, REQUESTED_ADDRESS_FAMILY[1], REQUESTED_ADDRESS_FAMILY)
    monkeypatch.setitem(stun.ATTRIBUTES_BY_TYPE, REQUESTED_ADDRESS_FAMILY[0], REQUESTED_ADDRESS_FAMILY)


@asynccontextmanager
async def turn_client(port: int, secret: str, transport: str) -> AsyncIterator[turn.TurnClientMixin]:
    """aioice's TURN client protocol over UDP or TCP to the server, with fresh credentials."""
    loop = asyncio.get_running_loop()
    username, password = fresh_credentials(secret)
    server = ("127.0.0.1", port)
    options = {"username": username, "password": password, "lifetime": 600, "channel_refresh_time": 500}
    if transport == "tcp":
        inner, protocol = await loop.create_connection(
            lambda: turn.TurnClientTcpProtocol(server, **options), host=server[0], port=server[1])
    else:
        inner, protocol = await loop.create_datagram_endpoint(
            lambda: turn.TurnClientUdpProtocol(server, **options), remote_addr=server)
    try:
        yield protocol
    finally:
        inner.close()


async def allocate_family(client: turn.TurnClientMixin, family: int) -> tuple[str, int]:
    request = stun.Message(message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST)
    request.attributes["LIFETIME"] = 600
    request.attributes["REQUESTED-TRANSPORT"] = UDP << 24
    request.attributes["REQUESTED-ADDRESS-FAMILY"] = FAMILY[family]
    response, _ = await asyncio.wait_for(client.request_with_retry(request), 10)
    return response.attributes["XOR-RELAYED-ADDRESS"]


async def create_permission(client: turn.TurnClientMixin, peer: str) -> int:
    """CreatePermission for one peer: 200 when granted, else coturn's error code."""
    request = stun.Message(message_method=stun.Method.CREATE_PERMISSION, message_class=stun.Class.REQUEST)
    request.attributes["XOR-PEER-ADDRESS"] = (peer, 9)
    try:
        await asyncio.wait_for(client.request_with_retry(request), 10)
    except stun.TransactionFailed as failed:
        return failed.response.error_code
    return 200


async def permissions(server: ShippedCoturn, transport: str, family: int, peers: list[str]) -> dict[str, int]:
    async with turn_client(server.port, server.secret, transport) as client:
        # coturn reports the relay as --external-ip (IPv4) whatever its family; a granted IPv6
        # permission (instead of 443, family mismatch) is what shows the relay is IPv6.
        await allocate_family(client, family)
        return {peer: await create_permission(client, peer) for peer in peers}


def flat(ranges: dict[str, tuple[str, ...]]) -> list[str]:
    return [address for addresses in ranges.values() for address in addresses]


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_relay_reaches_public_addresses_and_refuses_every_internal_range(
        shipped_coturn, rfc6156, transport, family):
    public, denied = (PUBLIC_V4, flat(DENIED_V4)) if family == 4 else (PUBLIC_V6, flat(DENIED_V6))
    got = await permissions(shipped_coturn, transport, family, [*public, *denied])
    expected = {**dict.fromkeys(public, 200), **dict.fromkeys(denied, 403)}
    wrong = {peer: code for peer, code in got.items() if code != expected[peer]}
    assert not wrong, f"{shipped_coturn.source}/{transport}: {wrong} (want 200 for public, 403 for the rest)"
