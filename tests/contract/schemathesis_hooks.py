"""A schemathesis check that schemathesis.toml (at the checkout's root) loads for every run.

`positive_data_acceptance` is told (in schemathesis.toml) that a few operations may answer a
schema-valid request with 400 or 422, for rules JSON Schema cannot state. This check keeps that
narrow: such a refusal must carry one of the error codes the operation's response publishes under
`x-error-codes`. A `validation_error` there means the schema allows what the server refuses.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.generation.meta import REQUEST_SHAPE_PROBES, coverage_scenario


def _published(case: schemathesis.Case, status: int) -> dict[str, str]:
    responses: dict[str, Any] = case.operation.definition.raw.get("responses", {})
    codes: dict[str, str] = responses.get(str(status), {}).get("x-error-codes", {})
    return codes


def _error_code(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


@schemathesis.check
def documented_refusals(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A schema-valid request is refused (400, 422) only with an error code the operation publishes."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return None
    if coverage_scenario(case) in REQUEST_SHAPE_PROBES:  # not a request the schema describes
        return None
    published = _published(case, response.status_code)
    code = _error_code(response.content)
    if code not in published:
        raise AssertionError(
            f"A request the schema allows was refused with {response.status_code} `{code}`; "
            f"published refusals: {sorted(published) or 'none'}. The schema should state the rule "
            f"(or the server should accept the request)."
        )
    return None
