"""How each kind of staff task is completed (services/staff_tasks.py completes it): its
outcomes, and what each tells its case (a call's outcome runs `record_call_outcome`, a
provider's decision `waive_fee` or `fee_stands`, a message read out by phone records its
receipt, the right number found runs `correct_phone`, ...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool
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
from promptly.domain.common import Actor, Model
from promptly.domain.read_outs import ReadOutClosedInput, ReadOutOutcome
from promptly.domain.tasks import PassedOnInput, TaskKind
from promptly.services import told_answers
from promptly.services.delivery_receipts import record_read_out
from promptly.services.errors import ErrorCode, ServiceError, invalid_input, temporal_errors
from promptly.services.task_list import StaffTask
from promptly.services.updates import QUERY_TIMEOUT, bounded_update, run_update
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.case import JournaledCase

if TYPE_CHECKING:  # staff_tasks imports this module
    from promptly.services.staff_tasks import TaskCompletion


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


async def _tell_case_if_running(
    job: Completing, update: Any, command: Any, step: str, *, ended_too: bool = False
) -> None:
    """Send the task's case `update`, as this completion's `step` (its own update id under the
    completion's); a case that has closed (or is gone) has nothing left to hear, nor, with
    `ended_too`, one that has ended (refused `already_ended`: cancelled, its visit over)."""
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
        ended = ended_too and err.code is ErrorCode.ALREADY_ENDED
        if err.status != 404 and not ended:  # 404: the case closed (or is gone)
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
    A case that has closed or ended meanwhile waits for nothing."""
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
    await _tell_case_if_running(
        job, AppointmentWorkflow.read_out_closed, command, "read-out", ended_too=True
    )


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
