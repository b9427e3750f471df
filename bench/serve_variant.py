"""Run Televisit like `televisit serve`, with uvicorn's WebSocket stack chosen on the command line.

bench/signaling.py uses it to compare stacks (`--variant`); with no option it is the same server
as `televisit serve` (same app, same DrainingServer, same uvicorn settings as src/televisit/cli.py).

    .venv/bin/python bench/serve_variant.py --port 8001 --ws wsproto --loop asyncio --deflate off
"""

from __future__ import annotations

import argparse
import runpy

import uvicorn

from televisit.app import create_app
from televisit.core.config import load_settings
from televisit.migrations import upgrade
from televisit.ops.server import DrainingServer
from televisit.runtime import runtime_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", default="websockets-sansio",
                        choices=["websockets-sansio", "websockets", "wsproto"])
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--deflate", default="on", choices=["on", "off"],
                        help="uvicorn's ws_per_message_deflate (uvicorn's default: on).")
    parser.add_argument("--preload", action="append", default=[],
                        help="run this Python file first (to measure a prototype of a change)")
    args = parser.parse_args()
    for path in args.preload:
        runpy.run_path(path, run_name="__preload__")

    settings = load_settings()
    if settings.env == "development":
        upgrade(settings.database_url)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        ws=args.ws,
        loop=args.loop,
        http=args.http,
        ws_per_message_deflate=args.deflate == "on",
        ws_max_size=settings.ws_max_frame_bytes,
        timeout_graceful_shutdown=max(1, int(settings.drain_grace)),
    )
    DrainingServer(config, runtime_of(app), settings.drain_grace).run()


if __name__ == "__main__":
    main()
