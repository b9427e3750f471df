"""Schemas shared by every domain: the error body and its OpenAPI responses, and the bounds that
settings decide."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from televisit.core.config import Settings

_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]")


def _iso_text(value: object) -> object:
    """Refuse bare numbers: pydantic would read them as Unix timestamps, guessing s or ms."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE_TIME.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date and time with an offset, e.g. 2030-03-04T10:00:00+01:00")


def _in_utc(value: datetime) -> datetime:
    """Convert here, so a time with no UTC equivalent (year 1 or 9999) is a 422, not a DB error."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the supported range") from None


# An instant from a client: ISO 8601 text with an offset, normalised to UTC.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]


def json_integer(value: object) -> object:
    """What JSON Schema calls an integer: a number without a fraction (`3.0` too), never a string or
    a boolean (pydantic's lax mode would take `"3"` and `false`). A `BeforeValidator`, placed after
    the bounds (`Annotated[int, Field(ge=0), BeforeValidator(json_integer)]`) so that the schema
    still states them."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value



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
    410: "Gone: the link expired or was withdrawn",
    413: "Body too large",
    422: "Invalid input",
    429: "Throttled; see Retry-After",
    503: "Busy (every password-hashing slot taken); see Retry-After",
}

# Refusals several operations share (see `errors`).
INVALID_RANGE = {"invalid_range": "`from` is not before `to`"}

ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def errors(
    *codes: int, refusals: Mapping[int, Mapping[str, str]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, all with the contract's error body.

    `refusals` names, per status, the error codes with which the operation refuses a request that
    its schema allows, for a rule JSON Schema cannot state (in the future, not a common password,
    a cursor this server issued). They are published as `x-error-codes` ({code: meaning}) and in
    the description; any other refusal of a schema-valid request is a bug in the schema.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        response: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if refusals and code in refusals:
            named = refusals[code]
            response["description"] += "; also, for a request the schema allows: " + "; ".join(
                f"`{name}`: {meaning}" for name, meaning in named.items())
            response["x-error-codes"] = dict(named)
        responses[code] = response
    return responses


def common_errors(operation: dict[str, Any]) -> set[int]:
    """The error statuses any operation of this shape can answer, whatever its route declares:
    a JSON body can be malformed (400), too large (413) or invalid (422); parameters can be
    invalid (422); a secured operation can be refused a dead or missing token (401)."""
    codes: set[int] = set()
    if "requestBody" in operation:
        codes |= {400, 413, 422}
    if operation.get("parameters"):
        codes.add(422)
    if operation.get("security"):
        codes.add(401)
    return codes


def add_common_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the common error responses on every operation of an OpenAPI document, in place."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorBody" not in schemas:
        generated = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas["ErrorBody"] = generated
    error_content = {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in common_errors(operation):
                responses.setdefault(
                    str(code), {"description": _DESCRIPTIONS[code], "content": error_content}
                )
            operation["responses"] = dict(sorted(responses.items()))
    return document


def document_common_errors(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap FastAPI's `app.openapi` so its document declares the common errors (idempotent)."""

    def openapi() -> dict[str, Any]:
        return add_common_errors(generate())

    return openapi


_SETTING_PREFIX = "TELEVISIT_"


@dataclass(frozen=True, slots=True)
class SettingBound:
    """Annotation for a JSON Schema bound that a setting decides (`maxLength` of a message, the
    `minimum` and `maximum` of a visit's length): the schema carries the setting's default and
    names its variable under `x-settings`; a running server's document carries its own value
    (`document_settings`). Validation stays with the code that reads the setting."""

    keyword: str
    setting: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema[self.keyword] = Settings.model_fields[self.setting].default
        schema.setdefault("x-settings", {})[self.keyword] = _SETTING_PREFIX + self.setting.upper()
        return schema


def _apply_settings(node: Any, settings: Settings) -> None:
    if isinstance(node, dict):
        for keyword, variable in node.get("x-settings", {}).items():
            node[keyword] = getattr(settings, variable.removeprefix(_SETTING_PREFIX).lower())
        for value in node.values():
            _apply_settings(value, settings)
    elif isinstance(node, list):
        for value in node:
            _apply_settings(value, settings)


def document_settings(
    generate: Callable[[], dict[str, Any]], settings: Settings
) -> Callable[[], dict[str, Any]]:
    """Wrap FastAPI's `app.openapi` so that its bounds are this server's settings (idempotent)."""

    def openapi() -> dict[str, Any]:
        document = generate()
        _apply_settings(document, settings)
        return document

    return openapi
