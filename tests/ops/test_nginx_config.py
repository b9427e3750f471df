"""deploy/nginx/televisit.conf: nginx accepts it, and it does what it promises in front of real apps.

`nginx -t` runs twice: on the file exactly as shipped, inside a private mount namespace where a
hosts file makes compose's `app1`/`app2` resolve to 127.0.0.1 (as root, with `unshare -m`), and on
the rendering every other test runs (tests/fixtures/nginx.py: only the upstream `server` lines,
`listen` and the access log path replaced). The behaviour tests put the rendered file in front of
real uvicorn servers, over plain HTTP and, with the TLS lines docs/operations.md tells a clinic to
add (`listen ... ssl` and its certificate), over HTTPS.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from televisit.app import create_app
from televisit.runtime import runtime_of
from televisit.web.spa import spa_route
from tests.deploy.certs import make_certificates
from tests.fixtures.app import make_settings
from tests.fixtures.factories import Factory
from tests.fixtures.live import LiveServer, WSClient, serve
from tests.fixtures.nginx import (
    SHIPPED,
    Nginx,
    check_config,
    free_port,
    main_conf,
    nginx_binary,
    render_site,
    shipped_upstreams,
)
from tests.fixtures.services import service_missing


@pytest.fixture(autouse=True)
def _needs_nginx() -> None:
    if nginx_binary() is None:
        service_missing("nginx", FileNotFoundError("not installed (apt-get install nginx-light)"))


def test_the_shipped_file_names_the_compose_services():
    assert shipped_upstreams() == ["app1:8000", "app2:8000"]


def test_nginx_accepts_the_rendered_file(tmp_path):
    site = tmp_path / "televisit.conf"
    site.write_text(render_site(["127.0.0.1:8001", "127.0.0.1:8002"], listen=f"127.0.0.1:{free_port()}",
                                access_log=tmp_path / "access.log", down=frozenset({"127.0.0.1:8002"})))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_conf(tmp_path, site, free_port(), 0))
    result = check_config(conf, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "server 127.0.0.1:8002 max_fails=1 fail_timeout=2s down;" in site.read_text()


def test_nginx_accepts_the_file_exactly_as_shipped(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:  # a skip locally, a failure in CI
        service_missing("root and unshare(1) (to map app1/app2 in a private /etc/hosts)",
                        PermissionError(f"euid {os.geteuid()}, unshare at {shutil.which('unshare')}"))
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost app1 app2\n")
    conf = tmp_path / "nginx.conf"  # what Debian's and the official image's nginx.conf give conf.d
    conf.write_text(f"events {{}}\nhttp {{ include /etc/nginx/mime.types; include {SHIPPED}; }}\n")
    script = (f"mount --bind {hosts} /etc/hosts && exec nginx -t -p {tmp_path} -c {conf} "
              f"-g 'pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;'")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script],  # noqa: S603, S607
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


@contextlib.asynccontextmanager
async def app_server(sqlite_template: Path, workdir: Path) -> AsyncIterator[LiveServer]:
    db = workdir / "televisit.db"
    shutil.copy(sqlite_template, db)
    app = create_app(make_settings(f"sqlite+aiosqlite:///{db}"), configure_logs=False)
    async with serve(app) as live:
        yield live


@pytest.fixture
async def proxied(sqlite_template, tmp_path) -> AsyncIterator[tuple[Nginx, LiveServer]]:
    """nginx in front of one live app and one address nothing listens on."""
    async with app_server(sqlite_template, tmp_path) as live:
        nginx = Nginx(tmp_path / "nginx", [f"127.0.0.1:{free_port()}", f"127.0.0.1:{live.port}"])
        await nginx.start()
        try:
            yield nginx, live
        finally:
            nginx.stop()


async def test_every_request_reaches_the_live_instance_even_posts(proxied):
    nginx, live = proxied
    async with httpx.AsyncClient(base_url=nginx.url) as http:
        factory = Factory(live.app, http, runtime_of(live.app).clock)
        patient = await factory.patient()  # signs in through nginx: POSTs retried on a refusal
        for _ in range(6):
            assert (await http.get("/api/v1/me", headers=patient.headers)).status_code == 200
            credentials = {"email": patient.email, "password": patient.password}
            r = await http.post("/api/v1/auth/login", json=credentials)
            assert r.status_code == 200, r.text


async def test_websockets_upgrade_through_nginx_with_the_browser_origin(proxied):
    nginx, live = proxied
    async with httpx.AsyncClient(base_url=nginx.url) as http:
        patient = await Factory(live.app, http, runtime_of(live.app).clock).patient()
    # A browser on the site sends its origin, port included; the app compares it with Host.
    ws = await WSClient.connect(nginx.ws_url, patient.token, origin=nginx.url)
    await ws.send({"type": "ping", "ref": "p"})
    assert (await ws.expect("pong", ref="p"))["type"] == "pong"
    await ws.close()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(nginx.ws_url, origin="http://evil.example")
    assert refused.value.response.status_code == 403


async def test_request_ids_bodies_and_metrics(proxied):
    nginx, _live = proxied
    async with httpx.AsyncClient(base_url=nginx.url) as http:
        r = await http.get("/livez", headers={"X-Request-ID": "trace-42"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42"
        r = await http.get("/livez")
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])  # nginx's own, passed on
        r = await http.post("/api/v1/auth/register", content=b"x" * 70_000,
                            headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"  # the API's error shape, from nginx
        assert (await http.get("/metrics")).status_code == 404  # scraped on the instances only


async def test_static_files_are_compressed_and_api_json_is_not(proxied, tmp_path):
    nginx, live = proxied
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Televisit</title>")
    script = "export const greeting = 'hello';\n" * 200
    (dist / "assets" / "app-1234.js").write_text(script)
    spa_route(live.app).dist = dist
    async with httpx.AsyncClient(base_url=nginx.url) as http:
        r = await http.get("/assets/app-1234.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert r.text == script  # httpx decodes it
        r = await http.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and "content-encoding" not in r.headers


# -- Security headers where TLS ends ------------------------------------------------------------

HSTS = "max-age=31536000; includeSubDomains"


class TlsNginx(Nginx):
    """The rendered shipped file with its `listen` turned into the documented TLS one."""

    def __init__(self, workdir: Path, servers: list[str], cert: Path, key: Path) -> None:
        super().__init__(workdir, servers)
        self.cert, self.key = cert, key

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _write(self) -> None:
        super()._write()
        site = self.workdir / "televisit.conf"
        plain = f"listen 127.0.0.1:{self.port};"
        text = site.read_text()
        assert text.count(plain) == 1
        site.write_text(text.replace(plain, f"listen 127.0.0.1:{self.port} ssl;\n"
                                            f"    ssl_certificate {self.cert};\n"
                                            f"    ssl_certificate_key {self.key};"))


def spa_files(workdir: Path) -> Path:
    """A built web app, whose files the app serves with its own nosniff header."""
    dist = workdir / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Televisit</title>")
    return dist


async def answers_of_every_kind(http: httpx.AsyncClient) -> dict[str, httpx.Response]:
    """The app's JSON, the app's web page (nosniff already set), and nginx's own answers."""
    return {
        "app JSON": await http.get("/api/v1/openapi.json"),
        "app web page": await http.get("/"),
        "app 404": await http.get("/api/v1/nothing-here"),
        "nginx 404": await http.get("/metrics"),
        "nginx 413": await http.post("/api/v1/auth/register", content=b"x" * 70_000,
                                     headers={"content-type": "application/json"}),
    }


@pytest.fixture
async def proxied_tls(sqlite_template, tmp_path) -> AsyncIterator[tuple[TlsNginx, ssl.SSLContext]]:
    ca, cert, key = make_certificates(tmp_path)
    async with app_server(sqlite_template, tmp_path) as live:
        spa_route(live.app).dist = spa_files(tmp_path)
        nginx = TlsNginx(tmp_path / "nginx", [f"127.0.0.1:{live.port}"], cert, key)
        await nginx.start()
        try:
            yield nginx, ssl.create_default_context(cafile=str(ca))
        finally:
            nginx.stop()


async def test_every_answer_over_tls_carries_hsts_and_exactly_one_nosniff(proxied_tls):
    nginx, trust = proxied_tls
    async with httpx.AsyncClient(base_url=nginx.url, verify=trust) as http:
        answers = await answers_of_every_kind(http)
    assert [r.status_code for r in answers.values()] == [200, 200, 404, 404, 413]
    assert answers["app web page"].headers["content-security-policy"]  # the app's own headers pass
    for kind, r in answers.items():
        assert r.headers.get_list("strict-transport-security") == [HSTS], kind
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], kind


async def test_plain_http_answers_carry_nosniff_and_no_hsts(proxied, tmp_path):
    nginx, live = proxied
    spa_route(live.app).dist = spa_files(tmp_path)
    async with httpx.AsyncClient(base_url=nginx.url) as http:
        answers = await answers_of_every_kind(http)
    assert [r.status_code for r in answers.values()] == [200, 200, 404, 404, 413]
    for kind, r in answers.items():
        assert "strict-transport-security" not in r.headers, kind
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], kind
