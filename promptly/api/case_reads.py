"""A case's GET, answered from PostgreSQL (docs/status-reads.md).

Each workflow stores its `status` view (without the timeline) in its `cases` row every time it
saves, and every update stores the case before it answers (promptly/workflows/read_views.py).
So the row answers `GET /{plural}/{id}` with the same JSON as the `status` query, without
waiting for a worker: under a burst a query queues behind the workflow tasks ahead of it, and
with no worker polling it does not answer at all.

The workflow's `status` query is asked instead when the row has no view (the case is still
being booked, or it was last saved by a worker from before read views), when PostgreSQL does
not answer within READ_TIMEOUT, or when the setting `status_reads` is `workflow`. Two headers
say which answered: `X-Promptly-View-Source` (`record` or `workflow`) and, for a record,
`X-Promptly-View-As-Of` (the workflow time the view was written at).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from fastapi import Request, Response
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from promptly.config import Settings
from promptly.services.case_kinds import CaseKind
from promptly.services.errors import temporal_errors
from promptly.services.updates import QUERY_TIMEOUT

log = logging.getLogger("promptly.api")

SOURCE_HEADER = "X-Promptly-View-Source"
AS_OF_HEADER = "X-Promptly-View-As-Of"
# A GET waits this long for PostgreSQL before it asks the workflow instead.
READ_TIMEOUT = timedelta(seconds=2)

# One statement, so the view and its timeline rows come from one snapshot: the row's view was
# written in the transaction that stored the rows up to view_timeline_to.
_STORED_VIEW = """
SELECT c.view, c.view_as_of,
       COALESCE((SELECT json_agg(json_build_object(
                            'at', t.at, 'kind', t.kind, 'actor_kind', t.actor_kind,
                            'actor_id', t.actor_id, 'actor_via', t.actor_via,
                            'detail', t.detail, 'data', t.data) ORDER BY t.seq)
                   FROM timeline_events t
                  WHERE t.case_id = c.case_id
                    AND t.seq >= c.view_timeline_from AND t.seq < c.view_timeline_to),
                '[]'::json)
  FROM cases c
 WHERE c.case_id = %s AND c.kind = %s AND c.view IS NOT NULL
"""


@dataclass(frozen=True)
class StoredView:
    view: Any  # the kind's view model
    as_of: datetime


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    actor: dict[str, Any] = {"kind": row["actor_kind"], "id": row["actor_id"]}
    if row["actor_via"] is not None:
        actor["via"] = row["actor_via"]
    return {
        "at": row["at"],
        "kind": row["kind"],
        "actor": actor,
        "detail": row["detail"],
        "data": row["data"],
    }


async def stored_view(
    pool: AsyncConnectionPool, view_model: type[BaseModel], case_id: str, kind: str
) -> StoredView | None:
    """The case's view as its workflow last stored it; None if there is none (yet).

    `case_id` is the workflow id, `kind` the `cases.kind` value. A stored view the current
    model cannot read (written before a field was added) counts as none."""
    timeout = READ_TIMEOUT.total_seconds()
    async with pool.connection(timeout=timeout) as conn, conn.transaction():
        await conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        cursor = await conn.execute(_STORED_VIEW, (case_id, kind))
        row = await cursor.fetchone()
    if row is None:
        return None
    view, as_of, timeline = row
    try:
        model = view_model.model_validate({**view, "timeline": [_entry(e) for e in timeline]})
    except ValidationError as err:
        log.warning("stored view of %s unreadable, asking the workflow: %s", case_id, err)
        return None
    return StoredView(view=model, as_of=as_of)


async def read_case(request: Request, response: Response, kind: CaseKind, case_id: str) -> Any:
    """The case's `status` view: from its PostgreSQL row, else from the workflow's query."""
    settings: Settings = request.app.state.settings
    if settings.status_reads == "record":
        try:
            stored = await stored_view(
                request.app.state.pool, kind.view_model, kind.workflow_id(case_id), kind.noun
            )
        except (psycopg.Error, PoolTimeout) as err:
            log.warning("PostgreSQL read of %s failed, asking the workflow: %s", case_id, err)
            stored = None
        if stored is not None:
            response.headers[SOURCE_HEADER] = "record"
            response.headers[AS_OF_HEADER] = stored.as_of.isoformat()
            return stored.view
    view = await case_status(request.app.state.client, kind, case_id)
    response.headers[SOURCE_HEADER] = "workflow"
    return view


async def case_status(client: Client, kind: CaseKind, case_id: str) -> Any:
    with temporal_errors(kind.not_found(case_id)):
        return await kind.handle(client, case_id).query(
            kind.status_query, rpc_timeout=QUERY_TIMEOUT
        )
