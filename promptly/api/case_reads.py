"""A case's GET, and the case a repeated start answers, read from PostgreSQL
(docs/status-reads.md).

Each workflow stores its `status` view (without the timeline) in its `cases` row every time it
saves, and every update stores the case before it answers (promptly/workflows/read_views.py).
So the row answers `GET /{plural}/{id}` (and the `case` of a repeated `POST /{plural}`) with
the same JSON as the `status` query, without waiting for a worker: under a burst a query
queues behind the workflow tasks ahead of it, and with no worker polling (a deploy) it does
not answer at all.

The workflow's `status` query is asked instead when the row has no view (the case is still
being booked, or it was last saved by a worker from before read views), when PostgreSQL does
not answer within 2 s (`services/case_views.READ_TIMEOUT`), or when the setting
`status_reads` is `workflow`. Two headers say which answered: `X-Promptly-View-Source`
(`record` or `workflow`) and, for a record, `X-Promptly-View-As-Of` (the workflow time the
view was written at).

The case's `ETag` is its view's `version`, which changes with every change of the case; an
update sent with `If-Match: <that ETag>` is refused (412) if the case changed since
(promptly/api/case_updates.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from promptly.config import Settings
from promptly.services.case_kinds import CaseKind
from promptly.services.case_views import read_case_view
from promptly.services.errors import header, temporal_errors

SOURCE_HEADER = "X-Promptly-View-Source"
AS_OF_HEADER = "X-Promptly-View-As-Of"
ETAG_HEADER = "ETag"
ETAG_DOC = header(
    "The case's `version` (it changes with every change of the case), quoted: send it back as "
    "`If-Match` on an update to refuse the update (412) if the case changed since"
)


def etag_of(view: Any) -> str | None:
    """The ETag of a case view (a model or its JSON): its `version`, quoted; None for a view
    stored before views had one."""
    version = view.get("version") if isinstance(view, dict) else getattr(view, "version", None)
    return f'"{version}"' if isinstance(version, str) and version else None


def set_etag(response: Response, view: BaseModel | dict[str, Any]) -> None:
    tag = etag_of(view)
    if tag is not None:
        response.headers[ETAG_HEADER] = tag


def view_headers(*, always: bool) -> dict[str, Any]:
    """The two headers in an OpenAPI `responses` entry; `always`: the source is always sent
    (a GET; a start's replayed answer has neither)."""
    return {
        SOURCE_HEADER: header(
            "Where the case was read: `record` (PostgreSQL) or `workflow` (its `status` query)",
            required=always,
            schema={"type": "string", "enum": ["record", "workflow"]},
        ),
        AS_OF_HEADER: header(
            "With `record`: the workflow time the view was written",
            schema={"type": "string", "format": "date-time"},
        ),
        ETAG_HEADER: ETAG_DOC,
    }


async def read_case(request: Request, response: Response, kind: CaseKind, case_id: str) -> Any:
    """The case's `status` view: from its PostgreSQL row, else from the workflow's query
    (services/case_views.py, which the link pages and the CLI read through too)."""
    settings: Settings = request.app.state.settings
    with temporal_errors(kind.not_found(case_id)):
        read = await read_case_view(
            request.app.state.client,
            request.app.state.pool,
            kind.viewed,
            kind.workflow_id(case_id),
            settings.status_reads,
        )
    response.headers[SOURCE_HEADER] = read.source
    if read.as_of is not None:
        response.headers[AS_OF_HEADER] = read.as_of.isoformat()
    set_etag(response, read.view)
    return read.view
