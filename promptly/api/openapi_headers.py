"""Response headers in the OpenAPI document, as the API sends them.

A route declares the headers it sets itself (services/errors.py `header()`): `Location` on
a start's 201, `X-Promptly-View-Source` and `X-Promptly-View-As-Of` on a case's status read,
the calendar feed's `ETag`. The middlewares' headers are added to the document here, to
every operation by the rule the middleware itself applies, so the two cannot drift apart:

- `X-Request-Id` on every answer (security.RequestId);
- on every keyed POST (idempotency.IdempotentPosts: every POST outside its unkeyed
  prefixes), `Idempotent-Replayed: true` on the answers it stores and replays, and a 409
  with `Retry-After` while the first request with the same key still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from promptly.api.idempotency import REPLAYED_HEADER, STORED_STATUSES, UNKEYED_PREFIXES
from promptly.api.security import REQUEST_ID_HEADER
from promptly.services.errors import header
from promptly.services.idempotency import IDEMPOTENCY_HEADER

Schema = dict[str, Any]

_STILL_RUNNING = f"the first request with this {IDEMPOTENCY_HEADER} is still running: retry shortly"
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


REQUEST_ID = header("This request's id in the API's log (an error's `request_id`)", required=True)
REPLAYED = header(
    f"`true`: the stored first answer to this {IDEMPOTENCY_HEADER}, replayed; nothing changed",
    schema={"type": "string", "enum": ["true"]},
)
RETRY_AFTER = header(
    f"Seconds to wait before repeating: while the first request with this "
    f"{IDEMPOTENCY_HEADER} is still running, or the case is still being opened",
    schema={"type": "integer", "minimum": 0},
)


def _keyed(method: str, path: str) -> bool:
    return method == "post" and not path.startswith(UNKEYED_PREFIXES)


def _stored(status: str) -> bool:
    return status.isdigit() and int(status) in STORED_STATUSES


def with_middleware_headers(document: Schema) -> Schema:
    """`document` (an OpenAPI document of the app) with the middlewares' headers declared."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            responses: dict[str, Schema] = operation.setdefault("responses", {})
            if _keyed(method, path):
                conflict = responses.setdefault("409", {"content": _ERROR_CONTENT})
                described = conflict.get("description")
                conflict["description"] = (
                    f"{described}; or {_STILL_RUNNING}" if described else _STILL_RUNNING
                )
                conflict.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
                for status, response in responses.items():
                    if _stored(status):
                        response.setdefault("headers", {})[REPLAYED_HEADER] = REPLAYED
            for response in responses.values():
                response.setdefault("headers", {})[REQUEST_ID_HEADER] = REQUEST_ID
    return document


def declare_middleware_headers(app: FastAPI) -> None:
    """Make `app`'s OpenAPI document (`/openapi.json`, `/docs`) declare the middlewares'
    headers; built once, on first use, as FastAPI builds it."""
    build: Callable[[], Schema] = app.openapi

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = with_middleware_headers(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
