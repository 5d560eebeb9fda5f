"""The staff task list (`staff_tasks`): one task, or the tasks a filter picks, read from
PostgreSQL for the HTTP API (`GET /tasks`) and the CLI (`promptly tasks list`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from promptly.domain.common import CaseKind
from promptly.domain.demo import DEMO_CASE_ID_LIKE
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


_TASK_COLUMNS = (
    "id, case_id, kind, assignee, title, details, due_at, data, status, outcome, note, "
    "closed_by, created_at, closed_at"
)


async def load_task(pool: AsyncConnectionPool, task_id: int) -> StaffTask | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_TASK_COLUMNS} FROM staff_tasks WHERE id = %s", (task_id,))
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
    include_demo: bool = False,
) -> list[StaffTask]:
    """Tasks soonest due first; `status` open, done or all. `provider_id`: the tasks whose
    data names that provider (a no-show excuse's decision): they all go to the role
    `provider`, and each provider is to see their own, not every provider's."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_TASK_COLUMNS} FROM staff_tasks
                 WHERE (%(assignee)s::text IS NULL OR assignee = %(assignee)s)
                   AND (%(kind)s::text IS NULL OR kind = %(kind)s)
                   AND (%(status)s::text IS NULL OR status = %(status)s)
                   AND (%(case_id)s::text IS NULL OR case_id = %(case_id)s)
                   AND (%(provider_id)s::text IS NULL
                        OR data ->> 'provider_id' = %(provider_id)s)
                   AND (%(with_demo)s OR %(case_id)s::text IS NOT NULL
                        OR case_id NOT LIKE %(demo)s)
                 ORDER BY due_at, id
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
                "limit": limit,
                "offset": offset,
            },
        )
        rows = await cur.fetchall()
    return [StaffTask.model_validate(row) for row in rows]
