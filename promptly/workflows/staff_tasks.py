"""A case's staff tasks from workflow code: each one opened or closed by one activity call.

Every case kind opens tasks (a call to make, a message to pass on by hand, a decision for the
provider) and closes them when the case moves past them. Idempotency keys make a retried
write one task; closing a closed task changes nothing. Each caller names its command
(`summary`), which is what the UI shows in the case's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from promptly.activities.tasks import TaskActivities
    from promptly.domain.common import Actor, RecipientRole
    from promptly.domain.tasks import (
        AddToTaskRequest,
        CloseCaseTasksRequest,
        CloseTaskRequest,
        CreateTaskRequest,
        TaskKind,
        TaskRef,
    )
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT


async def open_task(request: CreateTaskRequest, summary: str) -> TaskRef:
    """Open a staff task (its idempotency key makes a retried write one task)."""
    return await workflow.execute_activity_method(
        TaskActivities.create_task,
        request,
        start_to_close_timeout=RECORD_TIMEOUT,
        summary=summary,
    )


def task_key(purpose: str) -> str:
    """The key of this case's task for `purpose` (`call/2`): the workflow id and the purpose,
    so a retried or replayed step writes one task and a later step can close it."""
    return f"{workflow.info().workflow_id}/{purpose}"


async def open_case_task(
    purpose: str,
    summary: str,
    *,
    kind: TaskKind,
    assignee: RecipientRole,
    title: str,
    details: str,
    due_at: datetime,
    data: dict[str, Any] | None = None,
) -> TaskRef:
    """Open this case's staff task for `purpose`, keyed `task_key(purpose)`."""
    return await open_task(
        CreateTaskRequest(
            idempotency_key=task_key(purpose),
            case_id=workflow.info().workflow_id,
            kind=kind,
            assignee=assignee,
            title=title,
            details=details,
            due_at=due_at,
            data=data or {},
        ),
        summary,
    )


async def close_task(key: str, outcome: str, note: str, closed_by: Actor, *, summary: str) -> None:
    """Close the task opened with idempotency key `key`, if it is still open."""
    await workflow.execute_activity_method(
        TaskActivities.close_task,
        CloseTaskRequest(idempotency_key=key, outcome=outcome, note=note, closed_by=closed_by),
        start_to_close_timeout=RECORD_TIMEOUT,
        summary=summary,
    )


async def add_to_task(
    key: str, addition: str, *, summary: str, replaces: str | None = None
) -> bool:
    """Add a line to the details of the task opened with idempotency key `key`, if it is
    still open (False when it is not); the older lines starting with `replaces` go."""
    return await workflow.execute_activity_method(
        TaskActivities.add_to_task,
        AddToTaskRequest(idempotency_key=key, addition=addition, replaces=replaces),
        start_to_close_timeout=RECORD_TIMEOUT,
        summary=summary,
    )


async def close_case_tasks(
    case_id: str,
    outcome: str,
    note: str,
    closed_by: Actor,
    *,
    kinds: list[TaskKind],
    read_outs: list[str],
    summary: str,
    error_code: str | None = None,
    keep_error_code: str | None = None,
) -> None:
    """Close the case's open tasks of `kinds` and the calls to read out its messages of the
    templates `read_outs` (all of its tasks when both are empty)."""
    await workflow.execute_activity_method(
        TaskActivities.close_case_tasks,
        CloseCaseTasksRequest(
            case_id=case_id,
            outcome=outcome,
            note=note,
            closed_by=closed_by,
            kinds=kinds,
            read_outs=read_outs,
            error_code=error_code,
            keep_error_code=keep_error_code,
        ),
        start_to_close_timeout=RECORD_TIMEOUT,
        summary=summary,
    )
