"""The interactive API docs (Swagger UI) at ``/api/v1/docs``, served entirely from this origin.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script: blank
without internet, a third-party request from a self-hosted medical product, and a CSP that would
need 'unsafe-inline'. Here the assets come from the ``swagger-ui-bundle-v2`` package (pinned in
uv.lock) and the start-up code is a file of ours, so the page's CSP names this origin only.
Mounted only when the settings enable the docs (``TELEVISIT_API_DOCS``; off in production).
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parent / "docs_static"

# Swagger UI renders with React through the DOM (no inline <script> or <style>), draws its icons
# from data: URIs, and reaches the network only for the OpenAPI document and "Try it out" calls.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
<link rel="stylesheet" href="{docs}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{docs}/swagger-ui-bundle.js"></script>
<script src="{docs}/swagger-init.js"></script>
</body>
</html>
"""


def swagger_ui_dir() -> Path:
    """The Swagger UI distribution inside the installed package (its folder is named by version)."""
    vendor = Path(str(files("swagger_ui_bundle").joinpath("vendor")))
    found = sorted(vendor.glob("swagger-ui-*/swagger-ui-bundle.js"))
    if not found:
        raise RuntimeError(f"Swagger UI is missing from {vendor}: reinstall swagger-ui-bundle-v2")
    return found[-1].parent


def asset_files() -> dict[str, tuple[Path, str]]:
    """Every file the page references: name under the docs URL -> (file, media type)."""
    swagger = swagger_ui_dir()
    return {
        "swagger-ui-bundle.js": (swagger / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        "swagger-ui.css": (swagger / "swagger-ui.css", "text/css; charset=utf-8"),
        "favicon-32x32.png": (swagger / "favicon-32x32.png", "image/png"),
        "swagger-init.js": (STATIC / "swagger-init.js", "text/javascript; charset=utf-8"),
    }


def _asset_route(path: str, file: Path, media_type: str) -> Route:
    async def asset(_request: Request) -> Response:
        return FileResponse(file, media_type=media_type, headers=SECURITY_HEADERS)

    return Route(path, asset, methods=["GET", "HEAD"], include_in_schema=False)


def mount_api_docs(app: FastAPI, docs_url: str) -> None:
    """Add the docs page and its assets, if the app publishes its OpenAPI document at all.

    The app passes ``openapi_url=None`` when the docs are off; then nothing is mounted and these
    paths are the API's ordinary 404.
    """
    if app.openapi_url is None:
        return
    page = PAGE.format(title=html.escape(app.title), docs=html.escape(docs_url),
                       openapi=html.escape(app.openapi_url))

    async def docs_page(_request: Request) -> Response:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    app.router.routes.append(Route(docs_url, docs_page, methods=["GET", "HEAD"], include_in_schema=False))
    for name, (file, media_type) in asset_files().items():
        app.router.routes.append(_asset_route(f"{docs_url}/{name}", file, media_type))
