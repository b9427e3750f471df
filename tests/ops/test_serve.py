"""`televisit serve` as an administrator runs it: its uvicorn limits, open-files limit and draining
answers, checked over real sockets against the real process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from televisit.app import create_app
from televisit.ops.server import SPARE_FILES, server_config
from tests.fixtures.app import make_settings
from tests.fixtures.assertions import assert_error

TELEVISIT = Path(sys.executable).with_name("televisit")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serve(tmp_path: Path, *, soft_files: int | None = None, **settings: str) -> AsyncIterator[Served]:
    """`televisit serve` in development mode on a fresh SQLite file, with TELEVISIT_* overrides."""
    port = free_port()
    env = {**os.environ, "TELEVISIT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
           "TELEVISIT_LOG_SQL": "false", "TELEVISIT_LOG_LEVEL": "WARNING", "TELEVISIT_DRAIN_GRACE": "0"}
    env.update({f"TELEVISIT_{name.upper()}": value for name, value in settings.items()})

    def limit_files() -> None:  # what Debian (and systemd) give a service by default
        if soft_files is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft_files, hard))

    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own console script; returns at once
            [str(TELEVISIT), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit_files)
    served = Served(process, port, log)
    try:
        await _wait_live(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # one signal drains; a second stops now
            process.send_signal(signal.SIGINT)
        for _ in range(150):
            if process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            process.kill()
            process.wait()


async def _wait_live(served: Served) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=served.url) as http:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                pytest.fail(f"televisit serve exited: {served.log.read_text()}", pytrace=False)
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/livez")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"televisit serve did not start: {served.log.read_text()}", pytrace=False)


async def raw_request(port: int, head: bytes, *, pieces: int = 1) -> bytes:
    """Send a request head in ``pieces`` writes (as a slow client would) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        size = -(-len(head) // pieces)
        for start in range(0, len(head), size):
            writer.write(head[start:start + size])
            await writer.drain()
            await asyncio.sleep(0.05)
        return await asyncio.wait_for(reader.read(65536), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_request_heads_over_the_limit_are_refused(tmp_path):
    padding = "a" * 8 * 1024
    async with serve(tmp_path) as served:
        ok = await raw_request(served.port,
                               f"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: {padding}\r\n\r\n".encode())
        assert ok.startswith(b"HTTP/1.1 200 ")
        # 64 KiB of headers trickled in: refused once 16 KiB (TELEVISIT_MAX_HEADER_BYTES) are buffered.
        big = f"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: {padding * 8}\r\n\r\n".encode()
        refused = await raw_request(served.port, big, pieces=8)
        assert refused.startswith(b"HTTP/1.1 400 ") or refused == b"", refused[:100]
        # One megabyte at once is refused too (httptools, uvicorn's default parser, answered 200).
        huge = f"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * 1024 * 1024}\r\n\r\n".encode()
        refused = await raw_request(served.port, huge)
        assert not refused.startswith(b"HTTP/1.1 200 "), refused[:100]
        # The server carries on.
        again = await raw_request(served.port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        assert again.startswith(b"HTTP/1.1 200 ")


async def test_the_connection_limit_counts_sockets_and_refuses_only_http(tmp_path):
    """The documented trade-off of uvicorn's limit_concurrency: a WebSocket always connects and
    counts; at the limit plain requests get 503 (nginx tries another instance)."""
    async with serve(tmp_path, limit_concurrency="4", ws_auth_timeout="60") as served:
        ws_url = f"ws://127.0.0.1:{served.port}/api/v1/ws"
        sockets = [await websockets.connect(ws_url) for _ in range(4)]
        try:
            async with httpx.AsyncClient(base_url=served.url) as http:
                refused = await http.get("/livez")
                assert refused.status_code == 503
                fifth = await websockets.connect(ws_url)  # not refused by the limit
                sockets.append(fifth)
                await fifth.ping()
        finally:
            for ws in sockets:
                await ws.close()
        async with httpx.AsyncClient(base_url=served.url) as http:
            for _ in range(50):  # the server notices the closes
                if (await http.get("/livez")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("requests were still refused after the sockets closed")


def soft_open_files(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-files line in /proc/PID/limits")


async def test_serve_raises_a_low_open_files_limit_for_its_connections(tmp_path):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = 3000 + SPARE_FILES
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this machine's hard open-files limit ({hard}) is below {wanted}")
    async with serve(tmp_path, soft_files=1024, limit_concurrency="3000") as served:
        assert soft_open_files(served.process.pid) == wanted


async def test_draining_answers_carry_the_api_headers(tmp_path):
    async with serve(tmp_path, drain_grace="30") as served, httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.get("/api/v1/me")).status_code == 401
        served.process.send_signal(signal.SIGTERM)
        for _ in range(50):
            response = await http.get("/api/v1/me")
            if response.status_code == 503:
                break
            await asyncio.sleep(0.1)
        assert_error(response, 503, "draining")
        assert response.headers.get_list("cache-control") == ["no-store"]
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]


def test_the_benchmark_runs_the_same_uvicorn_configuration():
    """bench/serve_variant.py builds its server with server_config, changing only what it compares."""
    source = (ROOT / "bench" / "serve_variant.py").read_text()
    assert "server_config(" in source and "uvicorn.Config(" not in source
    settings = make_settings("sqlite+aiosqlite://")
    config = server_config(create_app(settings, configure_logs=False), settings, host="127.0.0.1", port=1)
    assert config.http == "h11" and config.h11_max_incomplete_event_size == settings.max_header_bytes
    assert config.limit_concurrency == settings.limit_concurrency == 12_000
    assert config.timeout_keep_alive == 75 and config.limit_max_requests is None
    assert config.ws == "websockets-sansio" and config.ws_per_message_deflate is False


async def test_usr1_logs_where_each_task_waits_and_the_server_carries_on(tmp_path):
    """An operator's `kill -USR1` on a server that seems stuck: the log says where every task
    waits (here, a socket waiting for its first frame), with no value from the code's variables."""
    async with serve(tmp_path) as served, websockets.connect(f"ws://127.0.0.1:{served.port}/api/v1/ws"):
        served.process.send_signal(signal.SIGUSR1)
        for _ in range(50):
            lines = [line for line in served.log.read_text().splitlines() if "asyncio_tasks" in line]
            if lines:
                break
            await asyncio.sleep(0.1)
        assert len(lines) == 1, served.log.read_text()
        assert "_authenticate (signaling/endpoints.py:" in lines[0]
        assert "_receive_frame (signaling/endpoints.py:" in lines[0]
        async with httpx.AsyncClient(base_url=served.url) as http:
            assert (await http.get("/livez")).status_code == 200
