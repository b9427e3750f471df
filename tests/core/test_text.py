"""The patterns the OpenAPI document publishes say exactly what the server's text validators do:
every code point is checked with a JSON Schema validator (ECMA-262 patterns, as clients read
them) against the Python rule the server runs."""

from __future__ import annotations

import sys
from collections.abc import Callable

import jsonschema_rs
import pytest

from televisit.auth.schemas import LOGIN_EMAIL_PATTERN, _login_email
from televisit.core.text import (
    NAME_PATTERN,
    PRINTABLE_PATTERN,
    SINGLE_LINE_PATTERN,
    TEXT_PATTERN,
    not_blank,
    printable,
    single_line,
)

CODE_POINTS = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def accepts(rule: Callable[[str], str], text: str) -> bool:
    try:
        rule(text)
    except ValueError:
        return False
    return True


def both(first: Callable[[str], str], second: Callable[[str], str]) -> Callable[[str], str]:
    return lambda text: second(first(text))


RULES = [
    (PRINTABLE_PATTERN, printable),
    (SINGLE_LINE_PATTERN, single_line),
    (TEXT_PATTERN, both(printable, not_blank)),  # a message's body
    (NAME_PATTERN, both(single_line, not_blank)),  # a person's name
    (LOGIN_EMAIL_PATTERN, _login_email),
]


@pytest.mark.parametrize(("pattern", "rule"), RULES,
                         ids=["printable", "single-line", "text", "name", "login-email"])
def test_pattern_and_validator_agree_on_every_character(pattern, rule):
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    disagree = [
        f"U+{ord(c):04X}" for c in CODE_POINTS
        if any(validator.is_valid(text) != accepts(rule, text) for text in (c, f"a{c}b", f" {c} "))
    ]
    assert disagree == []


@pytest.mark.parametrize("text", ["line\n", "\nline", "a\u2028", " \u3000 ", "\t", "", "a\n\x00"])
def test_edges_of_the_anchors_and_whitespace(text):
    for pattern, rule in RULES:
        valid = jsonschema_rs.validator_for({"type": "string", "pattern": pattern}).is_valid(text)
        assert valid == accepts(rule, text), (pattern, text)
