"""Rolling restart under load: nginx in front of `televisit serve` instances, each restarted in turn.

Steady HTTP load (sign-ins, appointment lists and reads, REST chat posts, bookings and
cancellations) and doctor/patient pairs chatting over WebSockets, all through a private nginx
running deploy/nginx/televisit.conf, while every instance is restarted the way a load balancer
does it (SIGTERM, readiness fails, out of nginx, drain, exit, new process, ready, back in).
Prints a JSON summary; targets: 0 failed requests, 0 lost and 0 duplicated chat messages,
reconnect p95 <= 2 s. Exit status 1 when a target is missed.

    .venv/bin/python bench/rolling_restart.py                          # ~3 minutes
    .venv/bin/python bench/rolling_restart.py --pairs 50 --restarts 5 --duration 600 --rps 40
    .venv/bin/python bench/rolling_restart.py --pairs 200 --rps 200 --database-restart --media

Needs PostgreSQL (TELEVISIT_TEST_PG_URL, default postgres@127.0.0.1:5432; a fresh database is
created and dropped), Redis (TELEVISIT_TEST_REDIS_URL, default 127.0.0.1:6379) and nginx
(Debian: nginx-light). The orchestration lives in tests/fixtures/rolling.py, shared with the
short version in tests/ops/test_rolling_restart.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fixtures

from tests.fixtures.cluster import REDIS_URL
from tests.fixtures.databases import create_pg_database, drop_pg_database
from tests.fixtures.private_services import private_postgres
from tests.fixtures.rolling import RollingConfig, run_rolling_restart, targets_missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20, help="doctor/patient pairs chatting over WebSockets")
    parser.add_argument("--restarts", type=int, default=3, help="times each instance is restarted")
    parser.add_argument("--duration", type=float, default=180,
                        help="seconds of load, restarts spread over it")
    parser.add_argument("--rps", type=float, default=20, help="HTTP requests per second through nginx")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--chat-interval", type=float, default=1.0, help="seconds between messages, per side")
    parser.add_argument("--drain-grace", type=float, default=10,
                        help="TELEVISIT_DRAIN_GRACE of the instances")
    parser.add_argument("--probe-interval", type=float, default=1.0, help="the balancer's /readyz period")
    parser.add_argument("--min-ready", type=float, default=3.0,
                        help="seconds a new instance serves before the next is stopped")
    parser.add_argument("--no-balancer", action="store_true",
                        help="never take an instance out of nginx: rely on refused connections and retries")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the database")
    parser.add_argument("--database-restart", action="store_true",
                        help="run on a private PostgreSQL and restart it (stop -m fast, 1 s down, start) "
                             "between the first and second instance restarts")
    parser.add_argument("--media", action="store_true",
                        help="a video call in two headless Chromium browsers through nginx during the "
                             "restarts: largest gap between presented frames per side (target <= 200 ms)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.database_restart:
            pg = stack.enter_context(private_postgres())
            return run(args, pg.url, pg.restart)
        database_url = create_pg_database("televisit_bench")
        if not args.keep:
            stack.callback(drop_pg_database, database_url)
        return run(args, database_url, None)


def run(args: argparse.Namespace, database_url: str,
        restart_database: Callable[[], Awaitable[float]] | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="televisit-rolling-"))
    cfg = RollingConfig(database_url=database_url, redis_url=REDIS_URL, workdir=workdir,
                        instances=args.instances, pairs=args.pairs, restarts=args.restarts,
                        duration=args.duration, rps=args.rps, chat_interval=args.chat_interval,
                        drain_grace=args.drain_grace, probe_interval=args.probe_interval,
                        balancer_probes=not args.no_balancer, min_ready=args.min_ready,
                        restart_database=restart_database, media=args.media)
    summary = asyncio.run(run_rolling_restart(cfg))
    missed = targets_missed(summary)
    summary["targets_missed"] = missed
    print(json.dumps(summary, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
