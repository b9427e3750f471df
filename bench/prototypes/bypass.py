"""Prototype: serve /api/v1/ws straight from the outermost ASGI callable, past FastAPI's routing
and middleware stack (which only matters for HTTP), so each socket holds a short coroutine chain."""
import sys

from starlette.websockets import WebSocket

import televisit.app as appmod
from televisit.signaling.endpoints import websocket_endpoint

_create_app = appmod.create_app
WS_PATH = appmod.API_PREFIX + "/ws"


def create_app(settings, **kwargs):
    app = _create_app(settings, **kwargs)

    async def asgi(scope, receive, send):
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            scope["app"] = app
            await websocket_endpoint(WebSocket(scope, receive, send))
            return
        await app(scope, receive, send)

    asgi.state = app.state
    return asgi


appmod.create_app = create_app
for name in ("__main__", "serve_variant"):  # serve_variant imported the name already
    if name in sys.modules and hasattr(sys.modules[name], "create_app"):
        sys.modules[name].create_app = create_app
