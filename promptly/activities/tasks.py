"""Staff tasks: calls the front desk must make, confirmations to send by hand."""

from __future__ import annotations

import json

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from promptly.domain.common import SYSTEM
from promptly.domain.tasks import (
    AddToTaskRequest,
    CloseCaseTasksRequest,
    CloseTaskRequest,
    CreateTaskRequest,
    TaskRef,
    details_with,
)

# A read-out: the phone channel's call to read out one of the case's messages (its
# `message_id`), of the templates `%(templates)s`.
_READ_OUT_OF_TEMPLATES = """(kind = 'call_client' AND data ? 'message_id'
    AND (data->>'message_id')::bigint IN (
        SELECT id FROM messages
         WHERE case_id = staff_tasks.case_id AND template = ANY(%(templates)s::text[])))"""


async def supersede_read_outs(
    conn: AsyncConnection, read_out: TaskRef, case_id: str, phone: str, template: str
) -> int:
    """A newer message of the same template to the same number makes the calls still open
    to read out the older ones moot: the desk reads out the latest news only."""
    cursor = await conn.execute(
        f"""UPDATE staff_tasks
              SET status = 'done', outcome = 'superseded',
                  note = %(note)s, closed_by = %(by)s, closed_at = now()
            WHERE case_id = %(case)s AND status = 'open' AND id <> %(task)s
              AND data->>'phone' = %(phone)s AND {_READ_OUT_OF_TEMPLATES}""",
        {
            "note": f"a newer {template.replace('_', ' ')} replaced it (task {read_out.task_id})",
            "by": SYSTEM.signature(),
            "case": case_id,
            "task": read_out.task_id,
            "phone": phone,
            "templates": [template],
        },
    )
    return cursor.rowcount


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
    async def add_to_task(self, request: AddToTaskRequest) -> bool:
        """Add a line to the open task's details (replacing the older lines it `replaces`);
        False when it is closed (or gone). A retry finds the line there and adds nothing."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """SELECT details FROM staff_tasks
                    WHERE idempotency_key = %s AND status = 'open' FOR UPDATE""",
                (request.idempotency_key,),
            )
            row = await cursor.fetchone()
            if row is None:
                return False
            details = details_with(row[0], request.addition, request.replaces)
            if details != row[0]:
                await conn.execute(
                    "UPDATE staff_tasks SET details = %s WHERE idempotency_key = %s",
                    (details, request.idempotency_key),
                )
            return True

    @activity.defn
    async def close_case_tasks(self, request: CloseCaseTasksRequest) -> int:
        """Close the case's open tasks (of `kinds` and the read-outs of `read_outs`, or all)
        with why they no longer matter; returns how many were still open. A retry finds them
        closed and changes nothing."""
        kinds = [kind.value for kind in request.kinds]
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                f"""UPDATE staff_tasks
                      SET status = 'done', outcome = %(outcome)s, note = %(note)s,
                          closed_by = %(by)s, closed_at = now()
                    WHERE case_id = %(case)s AND status = 'open'
                      AND ((cardinality(%(kinds)s::text[]) = 0
                            AND cardinality(%(templates)s::text[]) = 0)
                           OR kind = ANY(%(kinds)s::text[])
                           OR {_READ_OUT_OF_TEMPLATES})
                      AND (%(only)s::text IS NULL OR data->>'error_code' = %(only)s::text)
                      AND (%(keep)s::text IS NULL
                           OR data->>'error_code' IS DISTINCT FROM %(keep)s::text)""",
                {
                    "outcome": request.outcome,
                    "note": request.note,
                    "by": request.closed_by.signature(),
                    "case": request.case_id,
                    "kinds": kinds,
                    "templates": request.read_outs,
                    "only": request.error_code,
                    "keep": request.keep_error_code,
                },
            )
            return cursor.rowcount
