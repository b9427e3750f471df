"""Text fields people type: no control characters (PostgreSQL cannot even store NUL).

Each rule is also a JSON Schema pattern that the OpenAPI document publishes, so that a client
checks text before sending it. The patterns use only what ECMA-262 (JSON Schema's dialect) and
Python's `re` read alike (`\\uXXXX` escapes in classes; no `\\s`, whose members differ between
them); tests/core/test_text.py checks every code point against the validators here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# C0 controls other than tab, newline and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_C0_BUT_LINES = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F"
_C0 = r"\u0000-\u001F\u007F"
# Python's whitespace (`str.isspace`, what `str.strip()` drops), spelled out.
_SPACE = r"\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
PRINTABLE_PATTERN = rf"^[^{_C0_BUT_LINES}]*$"
SINGLE_LINE_PATTERN = rf"^[^{_C0}]*$"
# The same, with some character that `str.strip()` keeps.
TEXT_PATTERN = rf"^[^{_C0_BUT_LINES}]*[^{_C0_BUT_LINES}{_SPACE}][^{_C0_BUT_LINES}]*$"
NAME_PATTERN = rf"^[^{_C0}]*[^{_C0}{_SPACE}][^{_C0}]*$"
NO_NUL_PATTERN = r"^[^\u0000]*$"


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


def not_blank(value: str) -> str:
    """A pydantic AfterValidator: refuse text that is only whitespace."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def strip_controls(value: str) -> str:
    """For text we keep but do not validate (e.g. a User-Agent header)."""
    return _CONTROL.sub("", value)


@dataclass(frozen=True, slots=True)
class Pattern:
    """Annotation that publishes, as the field's JSON Schema `pattern`, the rule its validators
    enforce (they stay the ones that refuse: their messages say what is wrong in words)."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema
