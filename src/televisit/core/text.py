"""Text fields people type: no control characters (PostgreSQL cannot even store NUL)."""

from __future__ import annotations

import re

# C0 controls other than tab, newline and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(value: str) -> str:
    """A pydantic AfterValidator: refuse text with control characters."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def single_line(value: str) -> str:
    """A pydantic AfterValidator for names: no control characters at all, not even line breaks."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


def strip_controls(value: str) -> str:
    """For text we keep but do not validate (e.g. a User-Agent header)."""
    return _CONTROL.sub("", value)
