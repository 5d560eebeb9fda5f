"""Case histories for compliance over HTTP: the same exports as `promptly history`.

`GET /history/cases/{case}` renders one case (running or archived: Temporal's `status`
query plus PostgreSQL, or PostgreSQL alone) as JSON, Markdown or HTML; `GET
/history/clients/{client_id}` lists every case and message of a client. They hold client
data in clear text, so only the compliance and admin roles may read them, and each read is
logged with the key that made it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from psycopg_pool import AsyncConnectionPool

from promptly.api.auth import Caller, require
from promptly.config import ApiRole, Settings
from promptly.domain.text_patterns import BUSINESS_ID, CASE_REFERENCE
from promptly.services.errors import CASE_RESPONSES, ServiceError, invalid_input
from promptly.services.history import CaseAmbiguous, CaseNotFound, load_case, load_client
from promptly.services.history_models import CaseExport, ClientExport, Format
from promptly.services.history_render import render_case, render_client_markdown

AUDIT = frozenset({ApiRole.COMPLIANCE})

log = logging.getLogger("promptly.api.history")
router = APIRouter(tags=["history"])

_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The history: JSON by default, Markdown or HTML with `format`",
        "content": {"text/markdown": {}, "text/html": {}},
    }
}


@router.get(
    "/history/cases/{case}",
    response_model=CaseExport,
    responses={**CASE_RESPONSES, **_FORMATS},
)
async def export_case_history(
    request: Request,
    case: Annotated[
        str,
        Path(
            pattern=CASE_REFERENCE.regex,
            description="workflow id (appointment-A-1001) or business id (A-1001)",
        ),
    ],
    caller: Annotated[Caller, require(AUDIT)],
    fmt: Annotated[Format, Query(alias="format", description="json, md or html")] = Format.JSON,
) -> Response | CaseExport:
    """A case's complete history in the office's timezone: every status change, message
    (with the text sent), call, task, client reply and decision, each with its actor and reason."""
    settings: Settings = request.app.state.settings
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        async with pool.connection() as conn:
            found = await load_case(conn, case, settings.office_timezone, request.app.state.client)
    except CaseNotFound as err:
        raise ServiceError(404, str(err)) from err
    except CaseAmbiguous as err:
        raise ServiceError(409, str(err)) from err
    log.info("history of %s read by %s (%s)", found.case_id, caller.name, fmt.value)
    if fmt is Format.JSON:
        return found
    text = render_case(found, fmt)
    if fmt is Format.HTML:
        return HTMLResponse(text)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get(
    "/history/clients/{client_id}",
    response_model=ClientExport,
    responses={**CASE_RESPONSES, **_FORMATS},
)
async def export_client_history(
    request: Request,
    client_id: Annotated[str, Path(pattern=BUSINESS_ID.regex)],
    caller: Annotated[Caller, require(AUDIT)],
    fmt: Annotated[Format, Query(alias="format", description="json or md")] = Format.JSON,
) -> Response | ClientExport:
    """Every case (appointments, complaints, inquiries, surveys) and every message of one client."""
    if fmt is Format.HTML:
        raise invalid_input([("format", "html is for case histories; use json or md")])
    settings: Settings = request.app.state.settings
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        async with pool.connection() as conn:
            found = await load_client(conn, client_id, settings.office_timezone)
    except CaseNotFound as err:
        raise ServiceError(404, str(err)) from err
    log.info("history of client %s read by %s (%s)", client_id, caller.name, fmt.value)
    if fmt is Format.JSON:
        return found
    return PlainTextResponse(
        render_client_markdown(found), media_type="text/markdown; charset=utf-8"
    )
