"""A case's `status` view for the client link pages and the CLI's status commands, read from
PostgreSQL like the API's GET (docs/status-reads.md), with the workflow's query as fallback.

The `status` query waits for a worker: under a burst it queues behind every workflow task
ahead of it, and with no worker polling it is not answered at all. Each save of an
appointment, complaint or inquiry stores its view in the case's `cases` row (timeline rows
beside it), and every update stores the case before it answers (patch `record-before-answer`),
so a read that starts after an update returned is never older than that update's answer.

The query is asked instead when the row has no view (the first save of a new case has not
run; a survey, which stores no view; a row last written by a worker from before read views),
when the stored view no longer fits the model, when PostgreSQL does not answer within
READ_TIMEOUT, or when the setting `status_reads` is `workflow`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal, get_type_hints

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from promptly.domain.common import CaseKind
from promptly.services.updates import QUERY_TIMEOUT

log = logging.getLogger("promptly.services.case_views")

# The columns of a `cases` row that a visit's links are signed from (`visit_link_context`).
VISIT_LINK_COLUMNS = "starts_at, (view->>'reschedules')::int AS reschedules"


def visit_link_context(row: Mapping[str, Any]) -> dict[str, object]:
    """The message context a visit's links are signed from (domain/links.py): its start and
    how often it had moved, from its stored row, so the links are spent once it moves."""
    context: dict[str, object] = {}
    if row.get("starts_at") is not None:
        context["start"] = row["starts_at"].isoformat()
    if row.get("reschedules") is not None:
        context["reschedules"] = row["reschedules"]
    return context


# A read waits this long for PostgreSQL before it asks the workflow instead.
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
class ViewedKind:
    """A case kind as its view is read: its `cases` rows (`kind`), else the `status` query of
    `workflow`, whose return type is the view's model."""

    workflow: type
    noun: str  # the kind's `cases.kind` value (domain.common.CaseKind)

    @property
    def kind(self) -> CaseKind:
        return CaseKind(self.noun)

    @property
    def run(self) -> Any:
        return self.workflow.run  # type: ignore[attr-defined]

    @property
    def status_query(self) -> Any:
        return self.workflow.status  # type: ignore[attr-defined]

    @cached_property
    def view_model(self) -> type[BaseModel]:
        view: type[BaseModel] = get_type_hints(self.status_query)["return"]
        return view


@dataclass(frozen=True)
class CaseRead:
    """A case's view and where it came from: `record` (PostgreSQL, written at `as_of`
    workflow time) or `workflow` (the `status` query)."""

    view: Any  # the kind's view model
    source: Literal["record", "workflow"]
    as_of: datetime | None = None


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
    pool: AsyncConnectionPool, view_model: type[BaseModel], workflow_id: str, kind: CaseKind
) -> CaseRead | None:
    """The case's view as its workflow last stored it; None if there is none (yet), or if the
    current model cannot read it (written before a field was added)."""
    timeout = READ_TIMEOUT.total_seconds()
    async with pool.connection(timeout=timeout) as conn, conn.transaction():
        await conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        cursor = await conn.execute(_STORED_VIEW, (workflow_id, kind.value))
        row = await cursor.fetchone()
    if row is None:
        return None
    view, as_of, timeline = row
    try:
        model = view_model.model_validate({**view, "timeline": [_entry(e) for e in timeline]})
    except ValidationError as err:
        log.warning("stored view of %s unreadable, asking the workflow: %s", workflow_id, err)
        return None
    return CaseRead(view=model, source="record", as_of=as_of)


async def read_case_view(
    client: Client,
    pool: AsyncConnectionPool | None,
    viewed: ViewedKind,
    workflow_id: str,
    status_reads: Literal["record", "workflow"] = "record",
) -> CaseRead:
    """The case's `status` view: from its PostgreSQL row, else from the workflow's query
    (whose errors, e.g. a missing workflow, propagate as the query's own). No `pool`, or
    `status_reads="workflow"`: the query only."""
    if pool is not None and status_reads == "record":
        try:
            stored = await stored_view(pool, viewed.view_model, workflow_id, viewed.kind)
        except (psycopg.Error, PoolTimeout) as err:
            log.warning("PostgreSQL read of %s failed, asking the workflow: %s", workflow_id, err)
            stored = None
        if stored is not None:
            return stored
    handle = client.get_workflow_handle_for(viewed.run, workflow_id)
    view = await handle.query(viewed.status_query, rpc_timeout=QUERY_TIMEOUT)
    return CaseRead(view=view, source="workflow")


def one_connection(database_url: str) -> AsyncConnectionPool:
    """A pool of one connection for a one-off command (the CLI) to read through; open it with
    `async with`."""
    return AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=1,
        open=False,
        check=AsyncConnectionPool.check_connection,
    )
