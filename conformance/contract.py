"""The two contract documents, and the validators every answer and frame goes through.

`openapi.json` (OpenAPI 3.1: its schemas are JSON Schema 2020-12) says what each operation may
answer, by status; `asyncapi.json` (AsyncAPI 3.0) has a JSON Schema per frame and the union
`ServerFrame`. Both are validated with `jsonschema`, `$ref`s resolved inside their own document.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_URI = "urn:televisit:openapi"
ASYNCAPI_URI = "urn:televisit:asyncapi"
MAX_REPORTED = 3  # schema errors reported per answer: the first few say enough


class ContractError(Exception):
    """A contract document could not be loaded or is not what the kit expects."""


def _date_time(value: object) -> bool:
    """RFC 3339 date-time with an offset (the contract: ISO 8601 with an offset, in UTC)."""
    if not isinstance(value, str):
        return True
    return "T" in value.upper() and datetime.fromisoformat(value).tzinfo is not None


def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return str(uuid.UUID(value)) == value.lower()


def format_checker() -> FormatChecker:
    """The formats the contract uses, checked without optional packages (rfc3339-validator)."""
    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_date_time)
    checker.checks("uuid", raises=ValueError)(_uuid)
    return checker


def load_document(source: str) -> dict[str, Any]:
    """A contract document from a path or an http(s) URL."""
    try:
        if source.startswith(("http://", "https://")):
            response = httpx.get(source, timeout=15, follow_redirects=True)
            response.raise_for_status()
            document = response.json()
        else:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError, httpx.HTTPError) as exc:
        raise ContractError(f"cannot read {source}: {exc}") from None
    if not isinstance(document, dict):
        raise ContractError(f"{source} is not a JSON object")
    return document


def default_source(name: str) -> str:
    """`name` at the repository root (the kit's parent folder), else in the working directory."""
    for folder in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (folder / name).is_file():
            return str(folder / name)
    raise ContractError(f"{name} not found next to the kit or in the working directory; pass its path or URL")


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _describe(errors: list[Any], where: str) -> list[str]:
    ordered = sorted(errors, key=lambda e: (len(e.absolute_path), str(list(e.absolute_path))))
    return [f"{where}: {e.json_path}: {e.message[:200]}" for e in ordered[:MAX_REPORTED]]


class _Schemas:
    """Validators for schemas addressed by JSON pointer inside one document (refs resolve there)."""

    def __init__(self, document: dict[str, Any], uri: str) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(uri, resource)
        self.uri = uri
        self.formats = format_checker()
        self._cache: dict[str, Draft202012Validator] = {}

    def errors(self, pointer: str, instance: Any) -> list[Any]:
        validator = self._cache.get(pointer)
        if validator is None:
            validator = Draft202012Validator({"$ref": self.uri + pointer}, registry=self.registry,
                                             format_checker=self.formats)
            self._cache[pointer] = validator
        return list(validator.iter_errors(instance))


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class RestContract:
    """What `openapi.json` allows each operation to answer."""

    def __init__(self, document: dict[str, Any]) -> None:
        if not str(document.get("openapi", "")).startswith("3.1"):
            raise ContractError("openapi.json must be OpenAPI 3.1 (its schemas are JSON Schema 2020-12)")
        self.document = document
        self.schemas = _Schemas(document, OPENAPI_URI)
        operations = []
        for template, item in document.get("paths", {}).items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            for method, operation in item.items():
                if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                    operations.append(Operation(method.upper(), template, re.compile(f"^{regex}$"),
                                                operation.get("responses", {})))
        # A literal path wins over a templated one (`/auth/login` before `/auth/{x}`).
        self.operations = sorted(operations, key=lambda o: o.template.count("{"))

    def operation(self, method: str, path: str) -> Operation | None:
        return next((o for o in self.operations if o.method == method and o.pattern.match(path)), None)

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
        """Every way this answer breaks the contract (empty when it keeps it)."""
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path} is not an operation of openapi.json"]
        key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in operation.responses),
                   None)
        if key is None:
            return [f"{operation.name} answered {status}, a status openapi.json does not list for it "
                    f"({', '.join(operation.responses)})"]
        content = operation.responses[key].get("content") or {}
        if not content:
            return [f"{operation.name} {status}: a body where openapi.json has none"] if body.strip() else []
        media = content_type.split(";")[0].strip().lower()
        documented = {k.split(";")[0].strip().lower(): k for k in content}
        if media not in documented:
            return [f"{operation.name} {status}: content type {content_type!r}, openapi.json says "
                    f"{', '.join(content)}"]
        if not (media == "application/json" or media.endswith("+json")):
            return []
        try:
            instance = json.loads(body)
        except ValueError:
            return [f"{operation.name} {status}: the body is not JSON: {body[:80]!r}"]
        pointer = _pointer("paths", operation.template, operation.method.lower(), "responses", key,
                           "content", documented[media], "schema")
        if "schema" not in content[documented[media]]:
            return []
        return _describe(self.schemas.errors(pointer, instance), f"{operation.name} {status}")


class FrameContract:
    """What `asyncapi.json` allows the server to send on the WebSocket."""

    def __init__(self, document: dict[str, Any]) -> None:
        if not str(document.get("asyncapi", "")).startswith("3."):
            raise ContractError("asyncapi.json must be AsyncAPI 3")
        schemas = document.get("components", {}).get("schemas", {})
        union = schemas.get("ServerFrame")
        if not isinstance(union, dict):
            raise ContractError("asyncapi.json has no components.schemas.ServerFrame")
        self.schemas = _Schemas(document, ASYNCAPI_URI)
        # AsyncAPI 3 writes the discriminator as the property name; OpenAPI-style objects carry a
        # mapping. Either way each member's `type` const says which frame it is.
        discriminator = union.get("discriminator")
        mapping = discriminator.get("mapping") if isinstance(discriminator, dict) else None
        mapping = mapping or self._mapping(union, schemas)
        self.by_type: dict[str, str] = {t: "#" + ref.split("#", 1)[1] for t, ref in mapping.items()}
        self.error_codes = set(document.get("x-error-codes", {}))
        self.close_codes = {int(code) for code in document.get("x-close-codes", {})}
        channels = list(document.get("channels", {}).values())
        self.address = channels[0].get("address", "/api/v1/ws") if channels else "/api/v1/ws"

    @staticmethod
    def _mapping(union: dict[str, Any], schemas: dict[str, Any]) -> dict[str, str]:
        """`type` → schema ref, from each member's `type` const when no discriminator mapping is given."""
        mapping = {}
        for member in union.get("oneOf", []):
            ref = member.get("$ref", "")
            const = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}).get("type", {}).get("const")
            if const:
                mapping[const] = ref
        return mapping

    def check(self, frame: Any) -> list[str]:
        """Every way this server frame breaks the contract (its own schema, then the union)."""
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind not in self.by_type:
            return [f"server frame of unknown type {kind!r}: {json.dumps(frame)[:120]}"]
        where = f"{kind} frame"
        problems = _describe(self.schemas.errors(self.by_type[kind], frame), where)
        if not problems:
            problems = _describe(self.schemas.errors("#/components/schemas/ServerFrame", frame),
                                 f"{where} (as ServerFrame)")
        if kind == "error" and not problems and frame.get("code") not in self.error_codes:
            problems.append(f"error frame code {frame.get('code')!r} is not in x-error-codes")
        return problems


@dataclass(frozen=True)
class Contract:
    rest: RestContract
    frames: FrameContract

    @classmethod
    def load(cls, openapi: str | None = None, asyncapi: str | None = None) -> Contract:
        return cls(RestContract(load_document(openapi or default_source("openapi.json"))),
                   FrameContract(load_document(asyncapi or default_source("asyncapi.json"))))
