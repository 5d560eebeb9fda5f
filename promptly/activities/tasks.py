"""Staff tasks: calls the front desk must make, confirmations to send by hand."""

from __future__ import annotations

import json

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from promptly.domain.tasks import (
    CloseCaseTasksRequest,
    CloseTaskRequest,
    CreateTaskRequest,
    TaskRef,
)


async def insert_task(conn: AsyncConnection, request: CreateTaskRequest) -> TaskRef:
    """Create the task once per idempotency key; a retry returns the existing one."""
    await conn.execute(
        """INSERT INTO staff_tasks
               (idempotency_key, case_id, kind, assignee, title, details, due_at, data)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (idempotency_key) DO NOTHING""",
        (
            request.idempotency_key,
            request.case_id,
            request.kind.value,
            request.assignee.value,
            request.title,
            request.details,
            request.due_at,
            json.dumps(request.data),
        ),
    )
    cursor = await conn.execute(
        "SELECT id FROM staff_tasks WHERE idempotency_key = %s", (request.idempotency_key,)
    )
    row = await cursor.fetchone()
    assert row is not None  # inserted or already there, in this transaction
    return TaskRef(task_id=row[0], idempotency_key=request.idempotency_key)


class TaskActivities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @activity.defn
    async def create_task(self, request: CreateTaskRequest) -> TaskRef:
        async with self._pool.connection() as conn:
            return await insert_task(conn, request)

    @activity.defn
    async def close_task(self, request: CloseTaskRequest) -> None:
        """Mark the task done with its outcome; closing a closed task changes nothing."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """UPDATE staff_tasks
                      SET status = 'done', outcome = %s, note = %s, closed_by = %s,
                          closed_at = now()
                    WHERE idempotency_key = %s AND status = 'open'""",
                (
                    request.outcome,
                    request.note,
                    request.closed_by.signature(),
                    request.idempotency_key,
                ),
            )

    @activity.defn
    async def close_case_tasks(self, request: CloseCaseTasksRequest) -> int:
        """Close the case's open tasks (of `kinds`, or all) with why they no longer matter;
        returns how many were still open. A retry finds them closed and changes nothing."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """UPDATE staff_tasks
                      SET status = 'done', outcome = %s, note = %s, closed_by = %s,
                          closed_at = now()
                    WHERE case_id = %s AND status = 'open'
                      AND (cardinality(%s::text[]) = 0 OR kind = ANY(%s::text[]))""",
                (
                    request.outcome,
                    request.note,
                    request.closed_by.signature(),
                    request.case_id,
                    [kind.value for kind in request.kinds],
                    [kind.value for kind in request.kinds],
                ),
            )
            return cursor.rowcount
