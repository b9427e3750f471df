"""The development mailbox: what the app would have emailed, readable in the browser.

Development only (404 in production), outside the API (not in openapi.json), and read-only: it
lists the `.eml` and `.html` files the dev transport wrote to `TELEVISIT_MAIL_DEV_DIR`.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from televisit.core.config import Settings
from televisit.core.deps import SettingsDep
from televisit.core.errors import NotFound
from televisit.mail.render import environment

router = APIRouter(prefix="/dev/mailbox", include_in_schema=False)

NAME = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{32}$")
# The message's own HTML is ours and escaped; still, nothing it holds may load or run anything.
VIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


@dataclass(frozen=True)
class Letter:
    name: str
    subject: str
    to: str
    date: str


def _folder(settings: Settings) -> Path:
    if settings.env != "development":
        raise NotFound()
    return Path(settings.mail_dev_dir)


def _letters(folder: Path) -> list[Letter]:
    letters = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:200]:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        letters.append(Letter(name=path.stem, subject=str(parsed["Subject"] or ""),
                              to=str(parsed["To"] or ""),
                              date=str(parsed["Date"] or "")))
    return letters


@router.get("")
async def mailbox(settings: SettingsDep) -> HTMLResponse:
    folder = _folder(settings)
    letters = await asyncio.to_thread(_letters, folder) if folder.is_dir() else []
    page = environment().get_template("_mailbox.html").render(letters=letters, folder=str(folder.resolve()))
    return HTMLResponse(page, headers={"Content-Security-Policy": VIEW_CSP, "Cache-Control": "no-store"})


@router.get("/{name}.{kind}")
async def letter(name: str, kind: str, settings: SettingsDep) -> Response:
    """One message: `.html` as the recipient would see it, `.eml` as it went out (with attachments)."""
    folder = _folder(settings)
    if not NAME.match(name) or kind not in ("html", "eml"):
        raise NotFound()
    path = folder / f"{name}.{kind}"
    if not path.is_file():
        raise NotFound()
    body = await asyncio.to_thread(path.read_bytes)
    media_type = "text/html; charset=utf-8" if kind == "html" else "text/plain; charset=utf-8"
    return Response(body, media_type=media_type,
                    headers={"Content-Security-Policy": VIEW_CSP, "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})
