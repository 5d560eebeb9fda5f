"""The staff task list (`staff_tasks`): one task, or the tasks a filter picks, read from
PostgreSQL for the HTTP API (`GET /tasks`) and the CLI (`promptly tasks list`). Each task says
its case's status now, and whether that case has ended: a client's reply filed under a case
that ended before anyone read it stays open, and reads so."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from promptly.domain.common import CaseKind
from promptly.domain.demo import DEMO_CASE_ID_LIKE
from promptly.domain.retention import ENDED_STATUSES
from promptly.domain.tasks import TaskKind
from promptly.domain.text_patterns import ID_BODY


class StaffTask(BaseModel):
    id: int
    case_id: str = Field(description="the workflow id of the case, e.g. appointment-A-1001")
    kind: str
    assignee: str
    title: str
    details: str
    due_at: datetime
    data: dict[str, Any]
    status: str = Field(description="open or done")
    outcome: str | None
    note: str | None
    closed_by: str | None
    created_at: datetime
    closed_at: datetime | None
    case_status: str | None = Field(
        default=None,
        description="its case's status now (None: no case row, e.g. a reply that matched no case)",
    )
    case_ended: bool = Field(
        default=False,
        description="its case has ended: an open task here is still to do (a client's reply "
        "nobody has read is never closed by the case's end), the case will not close it",
    )
    visit_start: datetime | None = Field(
        default=None,
        description="an appointment's task: the visit's start as the case stands now (moved "
        "by a reschedule); None for other cases' tasks",
    )


_TASK_COLUMNS = (
    "t.id, t.case_id, t.kind, t.assignee, t.title, t.details, t.due_at, t.data, t.status, "
    "t.outcome, t.note, t.closed_by, t.created_at, t.closed_at, c.status AS case_status, "
    "coalesce(c.status = ANY(%(ended)s), false) AS case_ended, "
    "CASE WHEN c.kind = 'appointment' THEN c.starts_at END AS visit_start"
)
_TASKS = "staff_tasks t LEFT JOIN cases c ON c.case_id = t.case_id"


async def load_task(pool: AsyncConnectionPool, task_id: int) -> StaffTask | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_TASK_COLUMNS} FROM {_TASKS} WHERE t.id = %(id)s",
            {"id": task_id, "ended": ENDED_STATUSES},
        )
        row = await cur.fetchone()
    return StaffTask.model_validate(row) if row else None


_CASE_ID = re.compile(rf"^({'|'.join(kind.value for kind in CaseKind)})-{ID_BODY}$")


def case_filter(value: str) -> str:
    """A task list's case: its workflow id; a business id alone names no kind."""
    if not _CASE_ID.match(value):
        raise ValueError(
            f"{value!r} is not a case's workflow id: the kind, a dash, then its id, e.g. "
            f"appointment-{value}"
        )
    return value


async def find_tasks(
    pool: AsyncConnectionPool,
    *,
    assignee: str | None = None,
    kind: TaskKind | None = None,
    status: str = "open",
    case_id: str | None = None,
    provider_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    after: tuple[datetime, int] | None = None,
    include_demo: bool = False,
    visit_before: datetime | None = None,
) -> list[StaffTask]:
    """Tasks soonest due first, then by id; `status` open, done or all. `provider_id`: the
    tasks whose data names that provider (a no-show excuse's decision): they all go to the
    role `provider`, and each provider is to see their own, not every provider's. `after` (a
    task's `due_at` and `id`): only the tasks listed after that one, the next page.
    `visit_before`: only appointments' tasks whose visit starts before then."""
    after_at, after_id = after if after is not None else (None, None)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_TASK_COLUMNS} FROM {_TASKS}
                 WHERE (%(assignee)s::text IS NULL OR t.assignee = %(assignee)s)
                   AND (%(kind)s::text IS NULL OR t.kind = %(kind)s)
                   AND (%(status)s::text IS NULL OR t.status = %(status)s)
                   AND (%(case_id)s::text IS NULL OR t.case_id = %(case_id)s)
                   AND (%(provider_id)s::text IS NULL
                        OR t.data ->> 'provider_id' = %(provider_id)s)
                   AND (%(with_demo)s OR %(case_id)s::text IS NOT NULL
                        OR t.case_id NOT LIKE %(demo)s)
                   AND (%(visit_before)s::timestamptz IS NULL
                        OR (c.kind = 'appointment' AND c.starts_at < %(visit_before)s))
                   AND (%(after_at)s::timestamptz IS NULL
                        OR (t.due_at, t.id) > (%(after_at)s, %(after_id)s::bigint))
                 ORDER BY t.due_at, t.id
                 LIMIT %(limit)s OFFSET %(offset)s""",
            {
                "assignee": assignee,
                "kind": kind.value if kind else None,
                "status": None if status == "all" else status,
                "case_id": case_id,
                "provider_id": provider_id,
                # Demo cases stay out of the inbox unless asked for (or named).
                "with_demo": include_demo,
                "demo": DEMO_CASE_ID_LIKE,
                "ended": ENDED_STATUSES,
                "limit": limit,
                "offset": offset,
                "after_at": after_at,
                "after_id": after_id,
                "visit_before": visit_before,
            },
        )
        rows = await cur.fetchall()
    return [StaffTask.model_validate(row) for row in rows]
