"""The shipped Redis configuration, run for real in Debian's redis-server by the start scripts of
deploy/compose.yaml (with deploy/redis/redis.conf) and deploy/k8s/redis.yaml (with the file of its
ConfigMap), and reached the way the app reaches it: its broker with the URL the manifests give it.

What a clinic relies on: the app's broker, with the shipped user and password, publishes and
receives events; nobody without that password gets in (no default user); the app's user can do
nothing but pub/sub on Televisit's channels (a leaked password does not give out keys, the
configuration or FLUSHALL); the password is in no file; and rediss:// works with the TLS lines the
file documents.

Only the listening address and port, the working directory and the certificate paths are changed
for the test; every other line is the shipped one.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
import yaml
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from televisit.realtime import channels
from televisit.realtime.redis import RedisBroker
from tests.deploy.certs import make_certificates
from tests.deploy.manifests import DEPLOY, SECRET_TEMPLATE, documents, find, k8s_objects, start_script
from tests.fixtures.nginx import free_port
from tests.fixtures.services import service_missing

SOURCES = ("compose", "k8s")
APP_USER = "televisit"
PLACEHOLDER = "#CHANGE-ME-sha256-of-REDIS_PASSWORD"


def shipped_config(source: str, workdir: Path) -> Path:
    """The file the container mounts at /etc/redis/redis.conf, as shipped."""
    if source == "compose":
        return DEPLOY / "redis" / "redis.conf"
    path = workdir / "configmap-redis.conf"
    path.write_text(find(k8s_objects(), "ConfigMap", "redis-config")["data"]["redis.conf"])
    return path


def shipped_url(source: str) -> str:
    """TELEVISIT_REDIS_URL as the app gets it, with the password still a placeholder `PASSWORD`."""
    if source == "compose":
        app = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["app1"]
        url = app["environment"]["TELEVISIT_REDIS_URL"]
        return re.sub(r"\$\{REDIS_PASSWORD:\?[^}]*\}", "PASSWORD", url)
    secret = find(documents(SECRET_TEMPLATE), "Secret", "televisit-secrets")["stringData"]
    return secret["TELEVISIT_REDIS_URL"].replace(":CHANGE-ME@", ":PASSWORD@")


def local_url(url: str, password: str, port: int, *, scheme: str | None = None, query: str = "") -> str:
    """The shipped URL pointed at the test's server: only host, port and password change."""
    parts = urlsplit(url)
    assert parts.password == "PASSWORD", url
    netloc = f"{parts.username}:{quote(password, safe='')}@127.0.0.1:{port}"
    return urlunsplit((scheme or parts.scheme, netloc, parts.path, query, ""))


@dataclass
class ShippedRedis:
    source: str
    port: int
    password: str
    workdir: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return local_url(shipped_url(self.source), self.password, self.port)

    def log(self) -> str:
        path = self.workdir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def launch(source: str, workdir: Path, password: str, test_args: str) -> subprocess.Popen[bytes]:
    """The manifest's start script with the shipped file, and test-only redis-server arguments."""
    if shutil.which("redis-server") is None:
        service_missing("redis-server", FileNotFoundError("not installed (apt-get install redis-server)"))
    script = start_script(source, "redis")
    config = shipped_config(source, workdir)
    # The manifest's /tmp paths first: the checkout itself may live under /tmp.
    script = script.replace("/tmp/", f"{workdir}/")  # noqa: S108 - the manifest's paths, moved
    script = script.replace("/etc/redis/redis.conf", str(config))
    assert script.rstrip().endswith(f"exec redis-server {workdir}/redis.conf"), script
    env = {**os.environ, "REDIS_PASSWORD": password}
    # The shipped file logs to stdout, as containers do.
    with (workdir / "redis.log").open("ab") as log:
        return subprocess.Popen(["/bin/sh", "-c", f"{script} {test_args}"], env=env,  # noqa: S603
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def start(source: str, workdir: Path, password: str, test_args: str, port: int) -> ShippedRedis:
    server = ShippedRedis(source, port, password, workdir, launch(source, workdir, password, test_args))
    deadline = time.monotonic() + 10
    while "Ready to accept connections" not in server.log():
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            if "Bad directive" in server.log() and "tls-" in server.log():
                service_missing("redis-server built with TLS", RuntimeError(server.log()[-500:]))
            pytest.fail(f"redis-server did not start:\n{server.log()[-3000:]}", pytrace=False)
        time.sleep(0.05)
    return server


@pytest.fixture(scope="module", params=SOURCES)
def shipped_redis(request, tmp_path_factory) -> Iterator[ShippedRedis]:
    workdir = tmp_path_factory.mktemp(f"redis-{request.param}")
    port = free_port()
    server = start(request.param, workdir, secrets.token_hex(32),
                   f"--bind 127.0.0.1 --port {port} --dir {workdir}", port)
    try:
        yield server
    finally:
        server.stop()


async def exchange(publisher: RedisBroker, subscriber: RedisBroker, channel: str) -> dict:
    """Publish on one broker until the other (another app instance) delivers the event."""
    got: asyncio.Queue[dict] = asyncio.Queue()
    subscription = await subscriber.subscribe(channel, lambda _channel, event: got.put_nowait(event))
    try:
        event = {"type": "chat.message", "text": "hello", "nonce": secrets.token_hex(4)}
        for _ in range(50):  # the SUBSCRIBE may reach Redis after the first PUBLISH
            await publisher.publish(channel, event)
            try:
                return await asyncio.wait_for(got.get(), 0.2)
            except TimeoutError:
                continue
        raise AssertionError(f"no event on {channel}")
    finally:
        await subscription.close()


async def brokers(url: str, count: int = 2) -> list[RedisBroker]:
    started = [RedisBroker(url) for _ in range(count)]
    for broker in started:
        await broker.start()
    return started


async def test_two_app_instances_exchange_events_with_the_shipped_url(shipped_redis):
    assert urlsplit(shipped_redis.url).username == APP_USER
    one, two = await brokers(shipped_redis.url)
    try:
        assert await one.ping() and await two.ping()
        for channel in (channels.room_channel(uuid.uuid4()), channels.user_channel(uuid.uuid4())):
            event = await exchange(one, two, channel)
            assert event["text"] == "hello"
    finally:
        await one.stop()
        await two.stop()


async def test_every_channel_the_app_names_is_allowed(shipped_redis):
    """A new channel scope in channels.py must be added to the ACL, or its events would be lost."""
    client = aioredis.Redis.from_url(shipped_redis.url)
    try:
        makers = [f for name, f in inspect.getmembers(channels, inspect.isfunction)
                  if f.__module__ == channels.__name__ and name.endswith("_channel")]
        assert len(makers) >= 2
        for make in makers:
            assert await client.publish(make(uuid.uuid4()), "{}") == 0, make.__name__
    finally:
        await client.aclose()


def test_a_client_that_sends_no_credentials_is_told_to_authenticate(shipped_redis):
    """What any program that reaches the port gets (no HELLO, no AUTH: plain RESP commands)."""
    with socket.create_connection(("127.0.0.1", shipped_redis.port), timeout=5) as sock:
        sock.sendall(b"PING\r\nSUBSCRIBE room:1\r\nKEYS *\r\n")
        answers = b""
        while answers.count(b"\r\n") < 3:
            chunk = sock.recv(4096)
            assert chunk, answers
            answers += chunk
    assert answers.split(b"\r\n")[:3] == [b"-NOAUTH Authentication required."] * 3


@pytest.mark.parametrize("who", ["no password", "default user with the app's password",
                                 "app user with a wrong password", "password without a user"])
async def test_nobody_gets_in_without_the_app_users_password(shipped_redis, who):
    password = shipped_redis.password
    kwargs = {
        "no password": {},
        "default user with the app's password": {"username": "default", "password": password},
        "app user with a wrong password": {"username": APP_USER, "password": secrets.token_hex(32)},
        "password without a user": {"password": password},
    }[who]
    # No retries: redis-py retries a refused AUTH with backoff, which changes nothing but the time.
    client = aioredis.Redis(host="127.0.0.1", port=shipped_redis.port, retry=Retry(NoBackoff(), 0), **kwargs)
    try:
        with pytest.raises(AuthenticationError):
            await client.ping()
        with pytest.raises(AuthenticationError):
            await client.publish(channels.room_channel(uuid.uuid4()), '{"type": "signal"}')
    finally:
        await client.aclose()


async def test_a_broker_with_a_wrong_password_is_not_ready_and_logs_no_password(shipped_redis):
    wrong = secrets.token_hex(32)
    url = local_url(shipped_url(shipped_redis.source), wrong, shipped_redis.port)
    with capture_logs() as logs:
        (broker,) = await brokers(url, 1)
        try:
            await broker.subscribe(channels.user_channel(uuid.uuid4()), lambda _c, _e: None)
            assert await broker.ping() is False
            with pytest.raises(AuthenticationError) as refused:
                await broker.publish(channels.room_channel(uuid.uuid4()), {"type": "signal"})
            await asyncio.sleep(0.3)  # the reader's retry logs
        finally:
            await broker.stop()
    assert logs, "the failed subscription is logged"
    for text in (repr(logs), str(refused.value), shipped_redis.log()):
        assert wrong not in text and shipped_redis.password not in text


FORBIDDEN = [
    ("KEYS", "*"), ("GET", "televisit"), ("SET", "televisit", "1"), ("DEL", "televisit"),
    ("CONFIG", "GET", "*"), ("CONFIG", "SET", "save", "60 1"), ("FLUSHALL",), ("FLUSHDB",),
    ("ACL", "LIST"), ("ACL", "SETUSER", "default", "on", "nopass"), ("EVAL", "return 1", "0"),
    ("CLIENT", "LIST"), ("CLIENT", "KILL", "TYPE", "normal"), ("INFO",), ("REPLICAOF", "127.0.0.1", "1"),
    ("SHUTDOWN", "NOSAVE"), ("SCAN", "0"),
    ("PUBSUB", "CHANNELS"),
]


@pytest.mark.parametrize("command", FORBIDDEN, ids=lambda c: " ".join(c[:2]))
async def test_the_app_user_can_run_nothing_but_pubsub_and_ping(shipped_redis, command):
    client = aioredis.Redis.from_url(shipped_redis.url)
    try:
        with pytest.raises(NoPermissionError):
            await client.execute_command(*command)
        assert await client.ping() is True  # still up, still the same user
    finally:
        await client.aclose()


async def test_the_app_user_cannot_use_other_channels(shipped_redis):
    client = aioredis.Redis.from_url(shipped_redis.url)
    pubsub = client.pubsub()
    try:
        with pytest.raises(NoPermissionError):
            await client.publish("__keyspace@0__:televisit", "x")
        with pytest.raises(NoPermissionError):
            await client.publish("admin", "x")
        with pytest.raises(ResponseError):  # a pattern over every channel
            await pubsub.psubscribe("*")
            await pubsub.get_message(timeout=1)
    finally:
        await pubsub.aclose()
        await client.aclose()


def health_check(source: str) -> str:
    """compose's healthcheck or the Kubernetes readiness probe, as the container's shell runs it."""
    if source == "compose":
        service = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["redis"]
        kind, command = service["healthcheck"]["test"]
        assert kind == "CMD-SHELL"
        return command.replace("$$", "$")
    (c,) = find(k8s_objects(), "Deployment", "redis")["spec"]["template"]["spec"]["containers"]
    shell, flag, command = c["readinessProbe"]["exec"]["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    return command


@pytest.mark.parametrize("password", ["right", "wrong", "empty"])
def test_the_health_check_passes_only_when_the_app_can_log_in(shipped_redis, password):
    if shutil.which("redis-cli") is None:
        service_missing("redis-cli", FileNotFoundError("not installed (apt-get install redis-tools)"))
    value = {"right": shipped_redis.password, "wrong": secrets.token_hex(32), "empty": ""}[password]
    command = health_check(shipped_redis.source).replace("redis-cli", f"redis-cli -p {shipped_redis.port}")
    result = subprocess.run(["/bin/sh", "-c", command], env={**os.environ, "REDIS_PASSWORD": value},  # noqa: S603
                            capture_output=True, timeout=10, check=False)
    assert (result.returncode == 0) is (password == "right"), result


def test_only_a_hash_of_the_password_is_written(shipped_redis):
    written = (shipped_redis.workdir / "redis.conf").read_text()
    digest = hashlib.sha256(shipped_redis.password.encode()).hexdigest()
    assert f"user {APP_USER} on #{digest} " in written
    assert shipped_redis.password not in written
    assert PLACEHOLDER not in written
    assert shipped_redis.password not in shipped_redis.log()


@pytest.mark.parametrize("source", SOURCES)
def test_redis_refuses_to_start_without_a_real_password(source, tmp_path):
    """The template's CHANGE-ME, an empty variable, or the file run without the start script."""
    for password in ("CHANGE-ME", ""):
        proc = launch(source, tmp_path, password, f"--bind 127.0.0.1 --port {free_port()}")
        assert proc.wait(10) != 0
        assert "at least 32 characters" in (tmp_path / "redis.log").read_text()
    unchanged = subprocess.run(  # noqa: S603
        [shutil.which("redis-server") or "redis-server", str(shipped_config(source, tmp_path)),
         "--bind", "127.0.0.1", "--port", str(free_port()), "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=10, check=False)
    assert unchanged.returncode != 0
    assert "password hash" in unchanged.stdout + unchanged.stderr


# -- rediss:// --------------------------------------------------------------------------------


def tls_lines(config: Path) -> list[tuple[str, str]]:
    """The commented-out TLS block of the shipped file, as (directive, value) pairs."""
    lines = re.findall(r"(?m)^# (port|tls-[\w-]+) (\S+)$", config.read_text())
    assert ("port", "0") in lines and any(k == "tls-port" for k, _ in lines), lines
    return lines


@pytest.fixture(scope="module", params=SOURCES)
def shipped_redis_tls(request, tmp_path_factory) -> Iterator[tuple[ShippedRedis, Path]]:
    """The shipped file with its documented TLS lines on: TLS only, plain text off."""
    workdir = tmp_path_factory.mktemp(f"redis-tls-{request.param}")
    ca, cert, key = make_certificates(workdir)
    port = free_port()
    moved = {"tls-port": str(port), "tls-cert-file": str(cert), "tls-key-file": str(key)}
    tls = " ".join(f"--{k} {moved.get(k, v)}" for k, v in tls_lines(shipped_config(request.param, workdir)))
    server = start(request.param, workdir, secrets.token_hex(32),
                   f"--bind 127.0.0.1 --dir {workdir} {tls}", port)
    try:
        yield server, ca
    finally:
        server.stop()


async def test_the_broker_works_over_rediss_with_the_ca_in_the_url(shipped_redis_tls):
    server, ca = shipped_redis_tls
    url = local_url(shipped_url(server.source), server.password, server.port, scheme="rediss",
                    query=f"ssl_ca_certs={ca}")
    one, two = await brokers(url)
    try:
        assert await one.ping()
        event = await exchange(one, two, channels.room_channel(uuid.uuid4()))
        assert event["text"] == "hello"
    finally:
        await one.stop()
        await two.stop()


@pytest.mark.parametrize("how", ["plain text", "TLS without the clinic's CA"])
async def test_rediss_refuses_plain_text_and_unknown_certificates(shipped_redis_tls, how):
    server, _ca = shipped_redis_tls
    scheme = "redis" if how == "plain text" else "rediss"
    url = local_url(shipped_url(server.source), server.password, server.port, scheme=scheme)
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        with pytest.raises((RedisConnectionError, TimeoutError)) as refused:
            await client.ping()
        if how != "plain text":
            assert "certificate verify failed" in str(refused.value)
    finally:
        await client.aclose()
