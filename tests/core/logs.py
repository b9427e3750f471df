"""Capturing what the real log handler writes, and reading its console and JSON lines."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import structlog

from televisit.core.config import Settings
from televisit.core.logging import configure_logging

KV = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\{.*?\}(?= \w+=|$)|\S+)")


@contextlib.contextmanager
def captured_logs(settings: Settings) -> Iterator[io.StringIO]:
    """Configure logging as `create_app` does, into a buffer; put everything back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    named = {n: logging.getLogger(n).level for n in ("televisit.sql", "uvicorn.error")}
    saved_structlog = structlog.get_config()
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in named.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**saved_structlog)


def console_lines(stream: io.StringIO, event: str) -> list[dict[str, str]]:
    """Parse the key=value pairs of the console lines for one event."""
    found = []
    for line in stream.getvalue().splitlines():
        if re.search(rf"\] {re.escape(event)}\s", line):
            found.append(dict(KV.findall(line)))
    return found


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
