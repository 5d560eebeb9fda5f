"""The case lists: `GET /{plural}` from Temporal visibility (search attributes), one page at a
time, with a next-page token signed and bound to its query so clients cannot forge one."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, create_model
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from promptly.api.auth import READ, Caller, require
from promptly.config import Settings
from promptly.domain import keys
from promptly.domain.keys import Keyring
from promptly.services.case_kinds import NEEDS_ATTENTION_QUERY, CaseKind
from promptly.services.errors import (
    CASE_RESPONSES,
    ErrorCode,
    ServiceError,
    invalid_input,
    temporal_errors,
)
from promptly.services.setup import refused_for_missing_attributes
from promptly.workflows.search_attributes import NEEDS_ATTENTION

LIST_TIMEOUT = timedelta(seconds=10)


def paging(
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> tuple[int, str | None]:
    """The paging parameters of every list."""
    return page_size, page_token


PAGING = Depends(paging)


def where(*clauses: str | None) -> str:
    """The visibility query of the clauses given (None: that filter is not set)."""
    return " AND ".join(clause for clause in clauses if clause is not None)


def equals(attribute: str, value: str | None) -> str | None:
    return None if value is None else f"{attribute} = {literal(value)}"


def between(attribute: str, start: datetime | None, end: datetime | None) -> list[str | None]:
    """`attribute` from `start` (inclusive) to `end` (exclusive), either open; an `end` not
    after `start` is bad input (as for /promises), not an empty list."""
    if start is not None and end is not None and end <= start:
        raise invalid_input([("to", "must be after from")])
    return [
        None if start is None else f"{attribute} >= {literal(start)}",
        None if end is None else f"{attribute} < {literal(end)}",
    ]


def literal(value: str | datetime) -> str:
    """A visibility-query literal; refuses characters that could change the query."""
    if isinstance(value, datetime):
        return f'"{value.astimezone(UTC).isoformat()}"'
    if any(char in value for char in "\"'\\\n\r"):
        raise ServiceError(422, "invalid filter", fields=[("filter", "quotes are not allowed")])
    return f'"{value}"'


def _token_mac(keyring: Keyring, key_id: str, query: str, raw: bytes, now: datetime) -> bytes:
    key = keyring.key(key_id, now)
    if key is None:
        return b""
    message = query.encode() + b"\0" + raw
    return hmac.new(key, message, "sha256").digest()[:12]


def encode_token(keyring: Keyring, query: str, raw: bytes | None) -> str | None:
    """Temporal's next-page token, signed and bound to its query: clients cannot forge one.

    Layout: key id (4 bytes) | MAC (12) | Temporal's token. The key is the page-token key
    (promptly/domain/keys.py), so no other token of ours passes for one."""
    if not raw:
        return None
    key_id, _ = keyring.mac(b"")
    mac = _token_mac(keyring, key_id, query, raw, datetime.now(UTC))
    return base64.urlsafe_b64encode(bytes.fromhex(key_id) + mac + raw).decode().rstrip("=")


def decode_token(keyring: Keyring, query: str, token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        decoded = base64.b64decode(
            token.encode("ascii") + b"=" * (-len(token) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        decoded = b""
    key_id, mac, raw = decoded[:4].hex(), decoded[4:16], decoded[16:]
    expected = _token_mac(keyring, key_id, query, raw, datetime.now(UTC)) if raw else b""
    if not expected or not hmac.compare_digest(mac, expected):
        raise ServiceError(
            422,
            "invalid page_token",
            fields=[("page_token", "not a next_page_token of this same list")],
        )
    return raw


async def list_page(
    request: Request, query: str, page_size: int, page_token: str | None
) -> tuple[list[WorkflowExecution], str | None]:
    """One page of a visibility query, and the token of the next page (None at the end)."""
    settings: Settings = request.app.state.settings
    keyring = settings.keyring(keys.PAGE_TOKENS)
    raw_token = decode_token(keyring, query, page_token)  # a forged token goes no further
    client: Client = request.app.state.client
    iterator = client.list_workflows(
        query, page_size=page_size, next_page_token=raw_token, rpc_timeout=LIST_TIMEOUT
    )
    try:
        with temporal_errors("no such list"):
            await iterator.fetch_next_page()
    except ServiceError as err:
        cause = err.__cause__
        if isinstance(cause, RPCError) and cause.status is RPCStatusCode.INVALID_ARGUMENT:
            missing = await refused_for_missing_attributes(client)
            if missing is not None:
                raise ServiceError(
                    503,
                    missing,
                    code=ErrorCode.SEARCH_ATTRIBUTES_MISSING,
                    internal=cause.message,
                ) from cause
            raise ServiceError(
                422,
                "invalid list request",
                fields=[("page_token" if page_token else "filter", "Temporal refused it")],
                internal=cause.message,
            ) from cause
        raise
    return list(iterator.current_page or []), encode_token(keyring, query, iterator.next_page_token)


class Listing:
    """A kind's `GET /{plural}`: its `{Noun}Summary` and `{Noun}Page` models, one page of it
    and the route.

    A summary holds the ids, the status URL, whether the case runs, when it started (named
    `started_as`) and the kind's `listed` search attributes (typed as their keys)."""

    def __init__(
        self, kind: CaseKind, started_as: str, example: dict[str, Any] | None = None
    ) -> None:
        """`example`: one summary, shown as the page's example in the OpenAPI document."""
        self.kind = kind
        self.started_as = started_as
        self.attributes = kind.listed
        title = kind.noun.capitalize()
        fields: dict[str, Any] = {kind.id_field: (str, ...), "workflow_id": (str, ...)}
        for name, key in kind.listed.items():
            fields[name] = (key.value_type | None, ...)
        fields.update(
            running=(bool, ...),
            needs_attention=(
                list[str],
                Field(description="what staff must do about the case (empty: nothing)"),
            ),
            **{started_as: (datetime | None, ...)},
            status_url=(str, ...),
        )
        self.summary: type[BaseModel] = create_model(f"{title}Summary", **fields)
        # (An example's null would be dropped from the document: the token is a made-up one.)
        page_example: dict[str, Any] = {
            "examples": [{"items": [example], "next_page_token": "c2FtcGxlLXRva2Vu"}]
        }
        self.page_model: type[BaseModel] = create_model(
            f"{title}Page",
            __config__=ConfigDict(json_schema_extra=page_example if example else None),
            items=(list[self.summary], ...),  # type: ignore[name-defined]
            next_page_token=(
                str | None,
                Field(description="pass as page_token for the next page"),
            ),
        )

    async def page(
        self, request: Request, page_size: int, page_token: str | None, *filters: str | None
    ) -> BaseModel:
        """One page of the kind's cases that pass `filters` (None: that filter is not set).

        The workflow type is the class's name (`@workflow.defn` names none)."""
        kind = self.kind
        query = where(f"WorkflowType = '{kind.workflow.__name__}'", *filters)
        executions, next_token = await list_page(request, query, page_size, page_token)
        items = []
        for execution in executions:
            case_id = kind.case_id(execution.id)
            values = execution.typed_search_attributes
            url = request.app.url_path_for(f"get_{kind.noun}", **{kind.id_field: case_id})
            items.append(
                {
                    kind.id_field: case_id,
                    "workflow_id": execution.id,
                    **{name: values.get(key) for name, key in self.attributes.items()},
                    "running": execution.status is WorkflowExecutionStatus.RUNNING,
                    "needs_attention": values.get(NEEDS_ATTENTION) or [],
                    self.started_as: execution.start_time,
                    "status_url": str(url),
                }
            )
        return self.page_model(items=items, next_page_token=next_token)

    def add_route(
        self, router: APIRouter, filters: Callable[..., list[str | None]], doc: str
    ) -> None:
        """`GET /{plural}` (operation `list_{plural}`) on `router`: `filters` declares the
        kind's own query parameters, as a FastAPI dependency, and answers their visibility
        clauses (None: that filter is not set); the key check and the paging are every list's.
        """

        # A default rather than `Annotated[..., Depends(filters)]`: annotations are strings
        # here, which FastAPI resolves in this module, where `filters` is no name.
        filtered = Depends(filters)

        async def list_cases(
            request: Request,
            caller: Annotated[Caller, require(READ)],
            clauses: list[str | None] = filtered,
            page: tuple[int, str | None] = PAGING,
            needs_attention: Annotated[
                bool, Query(description="only running cases that need staff attention")
            ] = False,
        ) -> BaseModel:
            page_size, page_token = page
            attention = NEEDS_ATTENTION_QUERY if needs_attention else None
            return await self.page(request, page_size, page_token, *clauses, attention)

        router.add_api_route(
            f"/{self.kind.plural}",
            list_cases,
            methods=["GET"],
            name=f"list_{self.kind.plural}",
            description=doc,
            response_model=self.page_model,
            responses=CASE_RESPONSES,
        )
