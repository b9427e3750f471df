"""One page of Debian's Firefox ESR, driven over WebDriver BiDi by tests/e2e/firefox/driver.mjs
(puppeteer-core; Playwright cannot drive a stock Firefox), as a subprocess talking one JSON line
per command. Elements are found by accessible name, as in the Chromium tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tests.fixtures.services import service_missing

FIREFOX = "/usr/bin/firefox-esr"
DRIVER_DIR = Path(__file__).resolve().parent / "firefox"


def aria(name: str, role: str | None = None) -> str:
    """A Puppeteer selector for the element with this accessible name (and role)."""
    # Both quoted (Puppeteer's parser silently drops an unquoted role), and "…" left as it is.
    def quote(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    return f"::-p-aria([name={quote(name)}][role={quote(role)}])" if role else f"::-p-aria({name})"


def text(words: str) -> str:
    return f"::-p-text({words})"


class FirefoxError(AssertionError):
    pass


class FirefoxPage:
    def __init__(self, proc: asyncio.subprocess.Process, base_url: str, version: str) -> None:
        self.proc, self.base_url, self.version = proc, base_url, version

    async def send(self, cmd: str, **args: Any) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if not line:
            raise FirefoxError(f"the Firefox driver exited ({cmd} {args})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise FirefoxError(f"Firefox: {cmd} {args}: {answer['error']}")
        return answer["value"]

    async def goto(self, path: str) -> None:
        await self.send("goto", url=self.base_url + path)

    async def click(self, selector: str) -> None:
        await self.send("click", selector=selector)

    async def fill(self, selector: str, value: str) -> None:
        await self.send("fill", selector=selector, text=value)

    async def press(self, selector: str, key: str) -> None:
        await self.send("press", selector=selector, key=key)

    async def wait(self, selector: str, timeout: float = 15) -> None:
        await self.send("wait", selector=selector, timeout=int(timeout * 1000))

    async def evaluate(self, function: str) -> Any:
        """Call a JavaScript (async) function in the page, like Playwright's page.evaluate."""
        return await self.send("eval", expression=f"({function})()")

    async def poll(self, function: str, check: Callable[[Any], bool], what: str,
                   timeout: float = 15) -> Any:
        """Evaluate until `check(value)` holds, or fail saying `what` was not seen."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(function)
            if check(value):
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise FirefoxError(f"Firefox never showed {what}: last {value!r}")
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> None:
        await self.send("screenshot", path=str(path))

    async def problems(self) -> list[str]:
        return list(await self.send("problems"))


def _prepare() -> str:
    """Node, Firefox ESR and the driver's pinned packages (package-lock.json, installed once;
    puppeteer-core never downloads a browser). A missing one is a missing service: a skip on a
    developer's machine, a failure in CI. Returns the path of node."""
    if not Path(FIREFOX).exists():
        service_missing("Firefox ESR", FileNotFoundError(f"{FIREFOX} (apt-get install firefox-esr)"))
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        service_missing("Node.js", FileNotFoundError("node or npm is not on PATH"))
    assert node is not None and npm is not None
    if not (DRIVER_DIR / "node_modules" / ".package-lock.json").is_file():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S603
                       cwd=DRIVER_DIR, check=True)
    return node


@contextlib.asynccontextmanager
async def firefox_page(base_url: str, *, init_script: str = "") -> AsyncIterator[FirefoxPage]:
    """A headless Firefox ESR page (1280 by 800) with a fake camera and microphone, closed afterwards."""
    node = _prepare()
    options = {"executablePath": FIREFOX, "initScript": init_script,
               "viewport": {"width": 1280, "height": 800}}
    proc = await asyncio.create_subprocess_exec(
        node, str(DRIVER_DIR / "driver.mjs"), json.dumps(options), cwd=DRIVER_DIR,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=2**24,
        start_new_session=True)  # its own process group: node and the Firefox it started
    try:
        assert proc.stdout
        first = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not first:
            exit_code = await proc.wait()
            service_missing("Firefox ESR", RuntimeError(f"it did not start (driver exit {exit_code})"))
        yield FirefoxPage(proc, base_url, json.loads(first)["value"])
    finally:
        if proc.returncode is None:
            if proc.stdin:
                proc.stdin.close()  # the driver closes Firefox when its input ends
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)  # this driver's group only
                await proc.wait()
