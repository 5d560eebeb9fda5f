"""Completing a staff task (`staff_tasks`) with the outcome that drives its case (a call's
outcome runs `record_call_outcome`, a provider's decision `waive_fee`, ...: each kind's rule
is in services/task_rules.py). The HTTP API (`api/tasks.py`) and the CLI (`promptly tasks`)
share it.

Refusals are `ServiceError`s (status and reason): the API answers them as they are, the CLI
prints the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from psycopg_pool import AsyncConnectionPool
from pydantic import AwareDatetime, Field, StringConstraints
from temporalio.client import Client

from promptly.config import Settings
from promptly.domain.appointments.models import CallOutcome
from promptly.domain.common import Actor, Model, Phone, Reason
from promptly.domain.examples import NEW_START, examples
from promptly.domain.tasks import TaskKind
from promptly.services import told_answers
from promptly.services.errors import ServiceError, invalid_input
from promptly.services.task_list import StaffTask, load_task
from promptly.services.task_rules import MESSAGE_CALL, Completing, TaskRule, rule_for


class TaskCompletion(Model):
    model_config = examples(
        {"outcome": "reached_confirmed", "note": "will come"},
        {"outcome": "reached_rescheduled", "note": "asked for Thursday", "new_start": NEW_START},
        {"outcome": "reached", "score": 9, "note": "very helpful, thank you"},
        {"outcome": "waive_fee", "note": "force majeure: public transport strike"},
        {"outcome": "reached", "plea": "my child was taken to hospital this morning"},
        {"outcome": "handled", "phone": "+48600100300", "note": "the client's daughter gave it"},
    )

    outcome: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    note: Annotated[str, StringConstraints(max_length=2000)] = ""
    new_start: AwareDatetime | None = Field(
        default=None,
        description="reached_rescheduled: the new time agreed with the client, required with "
        "it (422 naming new_start without it)",
    )
    score: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description="reached: the 0–10 answer a phone client gave when the desk read them a "
        "survey or a complaint's follow-up (the note is their comment)",
    )
    satisfied: bool | None = Field(
        default=None,
        description="reached: whether a phone customer accepts the complaint's proposed "
        "resolution read out to them, their verdict (the note is their comment)",
    )
    plea: Reason | None = Field(
        default=None,
        description="reached, reached_confirmed on a call reading out a message: the client "
        "asks for the fee of a late cancellation, a late reschedule or a no-show to be waived, "
        "and says why. It goes to the provider's decision as `excuse_no_show` does (a task "
        "and an email; added to the decision when one is open); a case with no fee to waive, "
        "or whose provider has decided, refuses it (409) and the task stays open",
    )
    phone: Phone | None = Field(
        default=None,
        description="handled, on the task to find a client's right number: the number found "
        "(E.164); the case calls, reads out and texts it from now on (staff only)",
    )
    actor: Actor | None = Field(default=None, description="default: the API key's identity")


async def complete_task(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    task_id: int,
    completion: TaskCompletion,
    actor: Actor,
    update_id: str | None = None,
) -> tuple[StaffTask, Any]:
    """Complete the task with its outcome; returns the closed task and the case's status
    after the update the outcome drove (None when the outcome tells the case nothing).
    `update_id` (from an idempotency key) makes a repeat the same update."""
    async with _one_completion_at_a_time(pool, task_id) as began:
        task, rule = await _task_to_complete(pool, task_id, completion)
        job = Completing(client, pool, task, completion, actor, settings, update_id)
        view = await rule.drive(job)
        if not rule.closes_itself:
            # The update the outcome drove may have closed this very task as moot (a
            # confirmation's call, once the client confirmed on it): the call's own outcome
            # is what the task records.
            async with pool.connection() as conn:
                await conn.execute(
                    """UPDATE staff_tasks
                          SET status = 'done', outcome = %s, note = %s, closed_by = %s,
                              closed_at = now()
                        WHERE id = %s AND (status = 'open' OR closed_at >= %s)""",
                    (completion.outcome, completion.note, actor.signature(), task_id, began),
                )
        closed = await load_task(pool, task_id)
        assert closed is not None  # tasks are never deleted
        return closed, view


@asynccontextmanager
async def _one_completion_at_a_time(
    pool: AsyncConnectionPool, task_id: int
) -> AsyncIterator[datetime]:
    """A double click must not record a call twice: one completion of a task at a time.
    Yields the database's time the completion began (what it closes from then on is its own)."""
    key = f"promptly:staff_task:{task_id}"
    async with pool.connection() as lock:
        locked = await (
            await lock.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)), now()", (key,)
            )
        ).fetchone()
        await lock.commit()
        if not locked or not locked[0]:
            raise ServiceError(
                409,
                f"task {task_id} is being completed right now by someone else: read how it "
                f"ended in a moment (GET /tasks/{task_id}, promptly tasks show {task_id})",
            )
        try:
            yield locked[1]
        finally:
            await lock.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
            await lock.commit()


async def _task_to_complete(
    pool: AsyncConnectionPool, task_id: int, completion: TaskCompletion
) -> tuple[StaffTask, TaskRule]:
    """The open task and its rule, if `completion` is one of its outcomes."""
    task = await load_task(pool, task_id)
    if task is None:
        raise ServiceError(404, f"no task {task_id}")
    if task.status != "open":
        raise ServiceError(
            409, f"task {task_id} is already {task.status} ({task.outcome}, {task.closed_by})"
        )
    rule = rule_for(task)
    if rule is None:
        raise ServiceError(409, f"tasks of kind {task.kind} are closed by their case, not by hand")
    if completion.outcome not in rule.outcomes:
        raise invalid_input(
            [("outcome", f"for a {task.kind} task: one of {', '.join(rule.outcomes)}")]
        )
    if rule is not MESSAGE_CALL and (refused := told_answers.refusal(None, completion)):
        raise invalid_input(refused)  # it read no message out: no question was asked
    if rule is not MESSAGE_CALL and completion.plea is not None:
        raise invalid_input(
            [("plea", "a plea comes with a call reading out a message (outcome reached)")]
        )
    if completion.phone is not None and not _finds_the_number(task):
        raise invalid_input(
            [("phone", "only on the task to find a client's right number (after a wrong number)")]
        )
    return task, rule


def _finds_the_number(task: StaffTask) -> bool:
    """The desk's task to find the right number of a client a call found wrong."""
    return (
        task.kind == TaskKind.CLIENT_REPLY.value
        and task.data.get("error_code") == CallOutcome.WRONG_NUMBER.value
    )
