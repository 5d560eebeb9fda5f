"""Completing a staff task (`staff_tasks`) with the outcome that drives its case (a call's
outcome runs `record_call_outcome`, a provider's decision `waive_fee`, ...). The HTTP API
(`api/tasks.py`) and the CLI (`promptly tasks`) share it.

Refusals are `ServiceError`s (status and reason): the API answers them as they are, the CLI
prints the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from psycopg_pool import AsyncConnectionPool
from pydantic import AwareDatetime, Field, StringConstraints
from temporalio.client import Client

from promptly.config import Settings
from promptly.domain import read_outs
from promptly.domain.appointments.models import (
    AppointmentView,
    CallOutcome,
    ConfirmInput,
    CorrectPhoneInput,
    ExcuseNoShowInput,
    FeeStandsInput,
    RecordCallOutcomeInput,
    WaiveFeeInput,
)
from promptly.domain.appointments.rules import call_outcome_problems
from promptly.domain.common import Actor, Model, Phone, Reason
from promptly.domain.examples import NEW_START, examples
from promptly.domain.read_outs import ReadOutClosedInput, ReadOutOutcome
from promptly.domain.tasks import PassedOnInput, TaskKind
from promptly.services import told_answers
from promptly.services.delivery_receipts import record_read_out
from promptly.services.errors import ServiceError, invalid_input, temporal_errors
from promptly.services.task_list import StaffTask, load_task
from promptly.services.updates import QUERY_TIMEOUT, bounded_update, run_update
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.case import JournaledCase


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


@dataclass(frozen=True)
class Completing:
    """One task being completed: what a rule's `drive` acts on."""

    client: Client
    pool: AsyncConnectionPool
    task: StaffTask
    done: TaskCompletion
    actor: Actor
    settings: Settings
    update_id: str | None  # from the completion's idempotency key

    def appointment(self) -> Any:
        if not self.task.case_id.startswith("appointment-"):
            raise ServiceError(
                409, f"task {self.task.id} belongs to {self.task.case_id}, not an appointment"
            )
        return self.client.get_workflow_handle_for(AppointmentWorkflow.run, self.task.case_id)

    async def update_appointment(self, update: Any, argument: Model) -> Any:
        """Run `update` on the task's appointment: the case's status after it."""
        return await run_update(
            self.appointment(),
            "appointment",
            update,
            argument,
            self.settings.api_update_timeout,
            self.update_id,
        )


# Runs the update a completion means; returns the case's status, or None if it is not told.
Drive = Callable[[Completing], Awaitable[Any]]


@dataclass(frozen=True)
class TaskRule:
    """How a task of one kind is completed: its outcomes and what each tells the case."""

    outcomes: tuple[str, ...]
    drive: Drive
    closes_itself: bool  # the workflow closes the task row itself


async def _record_call(job: Completing) -> Any:
    outcome = CallOutcome(job.done.outcome)
    argument = RecordCallOutcomeInput(
        outcome=outcome, note=job.done.note, new_start=job.done.new_start, actor=job.actor
    )
    if problems := call_outcome_problems(argument):
        raise invalid_input(problems)  # bad input, before the case is asked anything
    with temporal_errors(f"no case {job.task.case_id}"):
        view: AppointmentView = await job.appointment().query(
            AppointmentWorkflow.status, rpc_timeout=QUERY_TIMEOUT
        )
    attempt = job.task.data.get("attempt")
    if attempt is not None and attempt != view.call_attempts:
        raise ServiceError(
            409,
            f"task {job.task.id} is call attempt {attempt}, superseded by attempt "
            f"{view.call_attempts}; record the outcome on the newest call task",
        )
    return await job.update_appointment(AppointmentWorkflow.record_call_outcome, argument)


async def _confirm(job: Completing) -> Any:
    """The client confirmed to the desk on the phone."""
    return await job.update_appointment(AppointmentWorkflow.confirm, ConfirmInput(actor=job.actor))


async def _passed_on(job: Completing) -> None:
    """A message passed on by hand: the case notes it and clears the message's flag. A case
    that has closed meanwhile has nothing left to clear."""
    command = PassedOnInput(task_id=job.task.id, actor=job.actor, note=job.done.note)
    await _tell_case_if_running(job, JournaledCase.passed_on, command, "passed-on")


async def _tell_case_if_running(job: Completing, update: Any, command: Any, step: str) -> None:
    """Send the task's case `update`, as this completion's `step` (its own update id under the
    completion's); a case that has closed (or is gone) has nothing left to hear."""
    update_id = f"{job.update_id}/{step}" if job.update_id else None
    try:
        with temporal_errors(f"no case {job.task.case_id}"):
            await bounded_update(
                job.client.get_workflow_handle(job.task.case_id),
                update,
                command,
                job.settings.api_update_timeout,
                update_id,
            )
    except ServiceError as err:
        if err.status != 404:  # 404: the case closed (or is gone)
            raise


async def _confirmation(job: Completing) -> Any:
    # Passed on first: a confirmation closes the case's confirmation tasks as moot, and a
    # task closed as moot no longer answers the flag.
    await _passed_on(job)
    return None if job.done.outcome == "sent" else await _confirm(job)


async def _message_call(job: Completing) -> Any:
    """The call's outcome is the message's receipt (a client not reached gets it another
    way); a client who confirmed on the call confirms the visit, and what a client told the
    desk answers the question read out to them (told_answers.py)."""
    outcome = ReadOutOutcome(job.done.outcome)
    confirmed = outcome is ReadOutOutcome.REACHED_CONFIRMED
    if confirmed and not job.task.case_id.startswith("appointment-"):
        raise invalid_input([("outcome", "reached_confirmed is for appointment calls")])
    # Answered before the receipt: a case no longer asking refuses (409) and the task stays
    # open, to be completed without the answer.
    answered = await told_answers.answer_told(job)
    pleaded = await _plea(job, outcome)
    message_id = job.task.data.get("message_id")
    if isinstance(message_id, int):
        await record_read_out(job.client, job.pool, job.settings, message_id, outcome)
        # Before a confirmation given on the call: the case knows the call reached the client.
        await _tell_the_case(job, message_id, outcome)
    return await _confirm(job) if confirmed else (pleaded or answered)


async def _plea(job: Completing, outcome: ReadOutOutcome) -> Any:
    """The client asked on the call for a fee to be waived: the plea goes to the provider's
    decision (`excuse_no_show`), heard by the desk. None when there is no plea."""
    plea = job.done.plea
    if plea is None:
        return None
    if outcome not in read_outs.REACHED:
        raise invalid_input([("plea", "only a client reached (outcome reached) can make one")])
    command = ExcuseNoShowInput(reason=plea, actor=job.actor)
    update_id = f"{job.update_id}/plea" if job.update_id else None
    return await run_update(
        job.appointment(),
        "appointment",
        AppointmentWorkflow.excuse_no_show,
        command,
        job.settings.api_update_timeout,
        update_id,
    )


async def _tell_the_case(job: Completing, message_id: int, outcome: ReadOutOutcome) -> None:
    """An appointment waiting for this call's outcome (`read_outs.CASE_WAITS_FOR`) hears it.
    A case that has closed meanwhile waits for nothing."""
    if not job.task.case_id.startswith("appointment-"):
        return
    async with job.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT idempotency_key, template FROM messages WHERE id = %s", (message_id,)
        )
        row = await cursor.fetchone()
    if row is None or row[1] not in read_outs.CASE_WAITS_FOR:
        return
    command = ReadOutClosedInput(message_key=row[0], outcome=outcome, actor=job.actor)
    await _tell_case_if_running(job, AppointmentWorkflow.read_out_closed, command, "read-out")


async def _provider_decision(job: Completing) -> Any:
    note = job.done.note.strip()
    if job.done.outcome == "fee_stands":  # the client is told, with the note as the reason
        reason = note or "the excuse does not lift the fee"
        stands = FeeStandsInput(reason=reason, actor=job.actor)
        return await job.update_appointment(AppointmentWorkflow.fee_stands, stands)
    reason = note or "force majeure (excuse accepted)"
    return await job.update_appointment(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason=reason, actor=job.actor)
    )


# A message to a phone client is a call task too (the phone channel): the desk reads it out.
# Completing it records the message's receipt; it tells the case only when the client
# confirmed there and then.
MESSAGE_CALL = TaskRule(
    outcomes=tuple(outcome.value for outcome in ReadOutOutcome),
    drive=_message_call,
    closes_itself=False,
)


async def _done_by_staff(job: Completing) -> Any:
    """A client's reply read and handled: the task is the record. The task to find a client's
    right number, handled with the number found, gives it to the case (`correct_phone`)."""
    if job.done.phone is None:
        return None
    command = CorrectPhoneInput(phone=job.done.phone, note=job.done.note, actor=job.actor)
    return await job.update_appointment(AppointmentWorkflow.correct_phone, command)


def _finds_the_number(task: StaffTask) -> bool:
    """The desk's task to find the right number of a client a call found wrong."""
    return (
        task.kind == TaskKind.CLIENT_REPLY.value
        and task.data.get("error_code") == CallOutcome.WRONG_NUMBER.value
    )


# Task kind → how completing it drives the case. Adding a kind is one entry.
TASK_RULES: dict[str, TaskRule] = {
    TaskKind.CALL_CLIENT.value: TaskRule(
        outcomes=tuple(outcome.value for outcome in CallOutcome),
        drive=_record_call,
        closes_itself=True,
    ),
    TaskKind.SEND_CONFIRMATION_MANUALLY.value: TaskRule(
        outcomes=("sent", "confirmed"), drive=_confirmation, closes_itself=False
    ),
    TaskKind.PROVIDER_DECISION.value: TaskRule(
        outcomes=("waive_fee", "fee_stands"), drive=_provider_decision, closes_itself=False
    ),
    TaskKind.CLIENT_REPLY.value: TaskRule(
        outcomes=("handled",), drive=_done_by_staff, closes_itself=False
    ),
    # A message that could not go out, passed on by phone or in person (the note says how);
    # the case also closes these when they become moot.
    TaskKind.DELIVER_MESSAGE_MANUALLY.value: TaskRule(
        outcomes=("passed_on",), drive=_passed_on, closes_itself=False
    ),
    TaskKind.RESEND_STAFF_MESSAGE.value: TaskRule(
        outcomes=("passed_on",), drive=_passed_on, closes_itself=False
    ),
}


def rule_for(task: StaffTask) -> TaskRule | None:
    if task.kind == TaskKind.CALL_CLIENT.value and "attempt" not in task.data:
        return MESSAGE_CALL  # a message read out by phone, not a follow-up attempt
    return TASK_RULES.get(task.kind)


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
