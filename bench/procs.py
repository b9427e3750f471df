"""What the benchmarks share for the servers they start: how to run and configure `televisit`, a free
port, waiting for one to listen, and stopping a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until something accepts on 127.0.0.1:port; fails at once if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def televisit_argv() -> list[str]:
    script = Path(sys.executable).parent / "televisit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from televisit.cli import main; main()"]


def televisit_env(tmp: Path, **settings: str) -> dict[str, str]:
    """A development instance on its own SQLite file, quiet logs, no drain wait; ``settings`` are
    more TELEVISIT_* variables, named without the prefix."""
    env = dict(os.environ)
    env.update({
        "TELEVISIT_ENV": "development",
        "TELEVISIT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
        "TELEVISIT_LOG_SQL": "false",
        "TELEVISIT_LOG_LEVEL": "WARNING",
        "TELEVISIT_DRAIN_GRACE": "0",
        # Development writes its emails to a folder: keep them out of the working tree.
        "TELEVISIT_MAIL_DEV_DIR": f"{tmp}/mailbox",
    })
    env.update({f"TELEVISIT_{name.upper()}": value for name, value in settings.items()})
    return env


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
