"""Schemas shared by every domain: the error body and its OpenAPI responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorInfo


_DESCRIPTIONS = {
    400: "Bad input (malformed JSON, bad cursor)",
    401: "Not signed in, or the token is dead",
    403: "Your role may not do this",
    404: "Not found, or not yours",
    409: "Conflicts with the current state",
    413: "Body too large",
    422: "Invalid input",
    429: "Throttled; see Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, all with the contract's error body."""
    return {c: {"model": ErrorBody, "description": _DESCRIPTIONS[c]} for c in codes}
