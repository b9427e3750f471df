"""Run Televisit like `televisit serve`, with uvicorn's WebSocket stack chosen on the command line.

bench/signaling.py uses it to compare stacks (`--variant`); with no option it is the same server
as `televisit serve`: the same app, DrainingServer and uvicorn configuration (one function builds
it for both, televisit.ops.server.server_config), changed only where an option says so.

    .venv/bin/python bench/serve_variant.py --port 8001 --ws wsproto --loop asyncio --deflate off
"""

from __future__ import annotations

import argparse
import runpy
from typing import Any

from televisit.app import create_app
from televisit.core.config import load_settings
from televisit.migrations import upgrade
from televisit.ops.server import DrainingServer, raise_open_files_limit, server_config
from televisit.runtime import runtime_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    # Each defaults to what `televisit serve` runs (server_config's defaults).
    parser.add_argument("--ws", choices=["websockets-sansio", "websockets", "wsproto"])
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", choices=["auto", "h11", "httptools"])
    parser.add_argument("--deflate", choices=["on", "off"], help="uvicorn's ws_per_message_deflate")
    parser.add_argument("--front", choices=["uvicorn", "granian", "picows"], default="uvicorn",
                        help="the server in front of the app (bench/fronts.py; default uvicorn, as shipped)")
    parser.add_argument("--preload", action="append", default=[],
                        help="run this Python file first (to measure a prototype of a change)")
    args = parser.parse_args()
    for path in args.preload:
        runpy.run_path(path, run_name="__preload__")

    settings = load_settings()
    if settings.env == "development":
        upgrade(settings.database_url)
    app = create_app(settings)
    variant: dict[str, Any] = {name: value for name, value in
                               (("ws", args.ws), ("loop", args.loop), ("http", args.http)) if value}
    if args.deflate is not None:
        variant["ws_per_message_deflate"] = args.deflate == "on"
    raise_open_files_limit(settings.limit_concurrency)
    if args.front != "uvicorn":
        import fronts  # beside this file
        import uvloop

        if args.front == "granian":
            uvloop.run(fronts.serve_granian(app, args.host, args.port))
        else:
            uvloop.run(fronts.serve_picows(app, args.host, args.port, max_frame=settings.ws_max_frame_bytes))
        return
    config = server_config(app, settings, host=args.host, port=args.port, **variant)
    DrainingServer(config, runtime_of(app), settings.drain_grace).run()


if __name__ == "__main__":
    main()
