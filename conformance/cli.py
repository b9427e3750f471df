"""`python -m conformance URL --admin-email E --admin-password P [...]`: exit 0 only if every check passed."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence

from conformance.checks import ALL
from conformance.contract import Contract, ContractError
from conformance.runner import Options, run, selected, summary

EXIT_FAILED = 1
EXIT_USAGE = 2


def parser(prog: str = "python -m conformance") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Check a Televisit-compatible backend against the contract (openapi.json, "
                    "asyncapi.json, docs/realtime.md), black-box, over HTTP and WebSocket.")
    p.add_argument("url", nargs="?", help="base URL of the server, e.g. http://127.0.0.1:8000")
    admin = p.add_argument_group("admin account (creates the test accounts through the admin API)")
    admin.add_argument("--admin-email", default=os.environ.get("CONFORMANCE_ADMIN_EMAIL"),
                       help="(env CONFORMANCE_ADMIN_EMAIL)")
    admin.add_argument("--admin-password", default=os.environ.get("CONFORMANCE_ADMIN_PASSWORD"),
                       help="(env CONFORMANCE_ADMIN_PASSWORD, which keeps it out of the process list)")
    admin.add_argument("--admin-totp-secret", default=os.environ.get("CONFORMANCE_ADMIN_TOTP_SECRET"),
                       help="base32 TOTP secret, if the admin signs in with a second factor "
                            "(env CONFORMANCE_ADMIN_TOTP_SECRET)")
    contract = p.add_argument_group("contract")
    contract.add_argument("--openapi", help="path or URL of openapi.json (default: the repository's)")
    contract.add_argument("--asyncapi", help="path or URL of asyncapi.json (default: the repository's)")
    server = p.add_argument_group(
        "how the server was started (checks that need a value are skipped without it)")
    server.add_argument("--room-unused-timeout", type=float, metavar="SECONDS",
                        help="the server's room unused timeout (keep it short, e.g. 3)")
    server.add_argument("--room-empty-timeout", type=float, metavar="SECONDS",
                        help="the server's room empty timeout (keep it short, e.g. 3)")
    server.add_argument("--ws-auth-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="the server's WebSocket auth timeout (default: the contract's 5)")
    run_group = p.add_argument_group("running")
    run_group.add_argument("--only", action="append", default=[], metavar="PATTERN",
                           help="run only checks whose name matches (shell pattern, e.g. 'chat.*'); "
                                "repeatable")
    run_group.add_argument("--jobs", type=int, default=4, help="checks run side by side (default 4)")
    run_group.add_argument("--check-timeout", type=float, default=60.0, metavar="SECONDS",
                           help="a check still running after this fails (default 60)")
    run_group.add_argument("--email-domain", default="example.org",
                           help="domain of the test accounts' emails (default example.org)")
    run_group.add_argument("--list", action="store_true", help="list the checks and exit")
    return p


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m conformance") -> int:
    """Run the kit; the exit code: 0 every check passed (or was skipped), 1 one failed, 2 bad usage."""
    args = parser(prog).parse_args(argv)
    checks = selected(ALL, args.only)
    if args.list:
        for check in checks:
            print(f"{check.name:24} {check.about}")
        return 0
    missing = [flag for flag, value in (("URL", args.url), ("--admin-email", args.admin_email),
                                        ("--admin-password", args.admin_password)) if not value]
    if missing:
        parser(prog).error(f"missing {', '.join(missing)}")
    if not checks:
        parser(prog).error(f"no check matches {args.only}")
    options = Options(
        base_url=args.url.rstrip("/"), admin_email=args.admin_email, admin_password=args.admin_password,
        admin_totp_secret=args.admin_totp_secret, openapi=args.openapi, asyncapi=args.asyncapi,
        room_unused_timeout=args.room_unused_timeout, room_empty_timeout=args.room_empty_timeout,
        ws_auth_timeout=args.ws_auth_timeout, jobs=args.jobs,
        check_timeout=args.check_timeout, email_domain=args.email_domain,
    )
    try:
        contract = Contract.load(options.openapi, options.asyncapi)
    except ContractError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    results = asyncio.run(run(options, checks, contract=contract, out=lambda line: print(line, flush=True)))
    print(summary(results, time.monotonic() - started))
    return EXIT_FAILED if any(r.status == "FAIL" for r in results) else 0
