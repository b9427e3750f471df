"""Keyset pagination, written once: opaque cursors, the "after this row" condition, the next page.

A list is ordered by a key of two columns, a sort column and the id (`(starts_at, id)`,
`(full_name, id)`, `(occurred_at DESC, id DESC)`). A cursor is base64url of the last row's key as a
small JSON list; a cursor a client altered is 400 `invalid_cursor`, never a database error.
The OpenAPI document says what a cursor looks like (base64url, at most CURSOR_MAX_LENGTH
characters), not what it holds: clients pass `next_cursor` back as it came.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import BindParameter, ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from televisit.core.errors import BadRequest
from televisit.core.text import Pattern

# The longest cursor this server issues is about 1,130 characters: a name of 200 characters of
# up to 4 bytes each in UTF-8, an id and the JSON around them, in base64.
CURSOR_MAX_LENGTH = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
_CURSOR = re.compile(r"[A-Za-z0-9_-]*")

INVALID_CURSOR = {"invalid_cursor": "the cursor is not one this server issued"}

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")]
# The pattern is checked when the cursor is read (400 `invalid_cursor`, like any other cursor
# this server did not issue), not by the parameter's validation (which would make it a 422).
Cursor = Annotated[Annotated[str, Pattern(CURSOR_PATTERN)] | None, Query(
    max_length=CURSOR_MAX_LENGTH,
    description="`next_cursor` of the previous page, passed back as it came (opaque base64url). "
                "One this server did not issue is 400 `invalid_cursor`.",
)]

Row = TypeVar("Row")
SortValue = TypeVar("SortValue", datetime, str)


def encode_cursor(*values: Any) -> str:
    # UTF-8 rather than \u escapes: a name of 200 characters then fits in CURSOR_MAX_LENGTH.
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values],
                     separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    if not _CURSOR.fullmatch(cursor):  # b64decode would skip the characters outside the alphabet
        raise _invalid()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        raise _invalid()
    return values


def _invalid() -> BadRequest:
    return BadRequest("The cursor is not valid.", code="invalid_cursor")


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _invalid() from None


def time_key(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The `(a time, id)` key a cursor carries (the time aware, in UTC)."""
    raw_at, raw_id = decode_cursor(cursor, 2)
    try:
        at = datetime.fromisoformat(raw_at)
        if at.tzinfo is None:
            raise ValueError(raw_at)
        at = at.astimezone(UTC)  # overflows at the ends of the calendar
    except (ValueError, OverflowError):
        raise _invalid() from None
    return at, _uuid(raw_id)


def text_key(cursor: str) -> tuple[str, uuid.UUID]:
    """The `(a text, id)` key a cursor carries (PostgreSQL refuses NUL in text: it is bad input)."""
    text, raw_id = decode_cursor(cursor, 2)
    if "\x00" in text:
        raise _invalid()
    return text, _uuid(raw_id)


def after_key(
    column: InstrumentedAttribute[SortValue], id_column: InstrumentedAttribute[uuid.UUID],
    key: tuple[SortValue | BindParameter[SortValue], uuid.UUID | BindParameter[uuid.UUID]], *,
    descending: bool = False,
) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in `(column, id)` order (both ascending, or both descending).
    The key's values, or parameters bound later (a statement built once and reused).

    Spelled as OR/AND rather than a row-value comparison: both backends use the index for it.
    """
    value, last_id = key
    if descending:
        return or_(column < value, and_(column == value, id_column < last_id))
    return or_(column > value, and_(column == value, id_column > last_id))


def page(rows: Sequence[Row], limit: int, key: Callable[[Row], tuple[Any, uuid.UUID]]
         ) -> tuple[list[Row], str | None]:
    """The first ``limit`` of ``rows`` (fetched with ``limit + 1``) and the cursor of the next page."""
    if len(rows) <= limit:
        return list(rows), None
    return list(rows[:limit]), encode_cursor(*key(rows[limit - 1]))
