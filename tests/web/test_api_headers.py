"""Every API answer, whichever layer wrote it, says `Cache-Control: no-store` and `nosniff` (once);
HSTS goes on every answer when configured. The web app's own caching stays as it was."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from televisit.web.spa import spa_route

HSTS_YEAR = {"hsts_seconds": 31536000}


def assert_api_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert response.headers.get_list("cache-control") == ["no-store"], where
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], where


async def answers_of_every_kind(app, client, factory) -> dict[str, httpx.Response]:
    async def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/test-explode", explode, methods=["GET"])
    doctor = await factory.doctor()
    return {
        "me": await client.get("/api/v1/me", headers=doctor.headers),
        "login": await client.post("/api/v1/auth/login",
                                 json={"email": doctor.email, "password": doctor.password}),
        "logout": await client.post("/api/v1/auth/logout", headers=doctor.headers),
        "400 malformed": await client.post("/api/v1/auth/login", content=b"{nope",
                                           headers={"content-type": "application/json"}),
        "401": await client.get("/api/v1/me"),
        "404": await client.get("/api/v1/nothing-here"),
        "404 /api": await client.get("/api"),
        "405": await client.get("/api/v1/auth/login"),
        "413 (middleware)": await client.post("/api/v1/auth/login", content=b"x" * 70_000,
                                              headers={"content-type": "application/json"}),
        "422": await client.post("/api/v1/auth/login", json={"email": "not-an-email"}),
        "500 (middleware)": await client.get("/api/v1/test-explode"),
        "openapi": await client.get("/api/v1/openapi.json"),
    }


async def test_every_api_answer_is_not_stored_and_not_sniffed(app, client, factory):
    answers = await answers_of_every_kind(app, client, factory)
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {"me": 200, "login": 200, "logout": 204, "400 malformed": 400, "401": 401,
                        "404": 404, "404 /api": 404, "405": 405, "413 (middleware)": 413, "422": 422,
                        "500 (middleware)": 500, "openapi": 200}
    for response in answers.values():
        assert_api_headers(response)
        assert "strict-transport-security" not in response.headers  # off unless configured


@pytest.mark.parametrize("settings_overrides", [HSTS_YEAR])
async def test_hsts_when_configured_goes_on_every_answer(app, client, tmp_path: Path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Televisit</title>")
    (dist / "assets" / "app-1.js").write_text("export {}")
    spa_route(app).dist = dist
    answers = [await client.get(path) for path in ("/api/v1/me", "/", "/assets/app-1.js", "/livez")]
    for response in answers:
        assert response.headers.get_list("strict-transport-security") == [
            "max-age=31536000; includeSubDomains"], response.request.url
    # Outside /api/ the web app keeps its own caching: hashed assets for a year.
    assert answers[2].headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_api_headers(answers[0])
