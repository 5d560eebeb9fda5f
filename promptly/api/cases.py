"""Every case kind's start and status routes, made from the case-kind registry
(promptly/services/case_kinds.py): `POST /{plural}` starts the case idempotently by its
business id, `GET /{plural}/{id}` answers its status (promptly/api/case_reads.py).

The update routes are made in promptly/api/case_updates.py; the list routes are written per
kind (their filters differ) on promptly/api/case_lists.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, create_model
from temporalio.client import Client

from promptly.api.auth import BOOK, READ, Caller, require
from promptly.api.case_reads import read_case, view_headers
from promptly.api.case_updates import add_update_routes, case_id_path
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.domain.common import Model
from promptly.services.case_kinds import CaseKind
from promptly.services.case_starts import create_case
from promptly.services.errors import AUTH_RESPONSES, CASE_RESPONSES, ErrorBody, header


async def start_case(
    request: Request, response: Response, kind: CaseKind, body: Model, caller: Caller
) -> dict[str, Any]:
    """`create_case`, then 201 with Location for a new case, 200 with its status if the same
    request had started it already, read as the case's GET reads it (its stored view, else
    the workflow's query), so a repeat needs no worker. Answers the fields of the kind's
    `…Created` model. The case's first timeline entry names the caller's actor."""
    client: Client = request.app.state.client
    created = await create_case(
        client, request.app.state.settings, kind, body, caller.actor, request.app.state.pool
    )
    case_id = getattr(body, kind.id_field)
    url = str(request.app.url_path_for(f"get_{kind.noun}", **{kind.id_field: case_id}))
    answer = {
        kind.id_field: case_id,
        "workflow_id": kind.workflow_id(case_id),
        "status_url": url,
        "created": created,
        "case": None,
    }
    if created:
        response.headers["Location"] = url
    else:
        response.status_code = 200
        answer["case"] = await read_case(request, response, kind, case_id)
    return answer


# --- the start and status routes ------------------------------------------------------------

# A repeated start's case is read as the GET reads it; a replayed answer has no such headers.
_VIEW_READ = {"headers": view_headers(always=False)}


@dataclass(frozen=True)
class StartRoute:
    """How a kind's start route reads: `book_appointment`, what a repeat means, its doc."""

    name: str  # the endpoint's name and OpenAPI operation id
    doc: str  # the route's description
    same: str  # a repeat with the same body: "The same booking existed already"
    different: str  # the same id with another body: "The id is booked with different details"


def case_router(kind: CaseKind, start: StartRoute, status_doc: str) -> APIRouter:
    """The kind's routes: its start and status (here) and one POST per update
    (api/case_updates.py); the kind's module adds its list, whose filters are its own."""
    router = APIRouter(tags=[kind.plural])
    add_case_routes(router, kind, start, status_doc)
    add_update_routes(router, kind)
    return router


def add_case_routes(
    router: APIRouter, kind: CaseKind, start: StartRoute, status_doc: str
) -> type[BaseModel]:
    """`POST /{plural}` (idempotent start: 201, or 200 with the case for the same request
    again, 409 for another under the same id) and `GET /{plural}/{id}` (the case's status);
    answers the start's model, `{Noun}Created`."""
    created = _created_model(kind, start.same)

    async def start_endpoint(request: Request, response: Response, body: Any, caller: Any) -> Any:
        return created(**await start_case(request, response, kind, body, caller))

    router.add_api_route(
        f"/{kind.plural}",
        _with_parameters(
            start_endpoint,
            start.name,
            start.doc,
            ("response", Response),
            ("body", kind.request_model),
            ("caller", Annotated[Caller, require(BOOK)]),
        ),
        methods=["POST"],
        status_code=201,
        response_model=created,
        dependencies=[IDEMPOTENCY_KEY],
        responses={
            **AUTH_RESPONSES,
            201: {"headers": {"Location": header("The new case's `status_url`", required=True)}},
            200: {"model": created, "description": start.same, **_VIEW_READ},
            409: {"model": ErrorBody, "description": start.different},
        },
    )

    async def status_endpoint(request: Request, response: Response, caller: Any, **ids: str) -> Any:
        return await read_case(request, response, kind, ids[kind.id_field])

    router.add_api_route(
        f"/{kind.plural}/{{{kind.id_field}}}",
        _with_parameters(
            status_endpoint,
            f"get_{kind.noun}",
            status_doc,
            ("response", Response),
            (kind.id_field, Annotated[str, case_id_path(kind)]),
            ("caller", Annotated[Caller, require(READ)]),
        ),
        methods=["GET"],
        response_model=kind.view_model,
        responses={**CASE_RESPONSES, 200: {"headers": view_headers(always=True)}},
        name=f"get_{kind.noun}",
    )
    return created


def _created_model(kind: CaseKind, same: str) -> type[BaseModel]:
    title = kind.noun.capitalize()
    model: type[BaseModel] = create_model(
        f"{title}Created",
        **{kind.id_field: (str, ...)},  # type: ignore[call-overload]
        workflow_id=(str, ...),
        status_url=(str, ...),
        created=(bool, Field(description=f"false: {same[0].lower()}{same[1:]}")),
        case=(
            kind.view_model | None,
            Field(default=None, description="the existing case's status (when `created` is false)"),
        ),
    )
    return model


def _with_parameters(
    endpoint: Callable[..., Awaitable[Any]], name: str, doc: str, *parameters: tuple[str, Any]
) -> Callable[..., Awaitable[Any]]:
    """The endpoint as FastAPI reads it: `request` and these typed keyword parameters."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", keyword, annotation=Request)]
        + [inspect.Parameter(each, keyword, annotation=kind) for each, kind in parameters]
    )
    endpoint.__name__ = name
    endpoint.__doc__ = doc
    return endpoint
