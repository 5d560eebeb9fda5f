"""The phone follow-up (DESIGN.md §1, appointment 3): a silent client is called by the front
desk, attempt after attempt within the rule's window; each call is a task, each outcome an
update, and the next attempt closes the task its predecessor left open. A wrong number and the
right one after it: appointment_wrong_number.py.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from promptly.workflows.appointment_state import (
    UNCONFIRMED_ALERT,
    WRONG_NUMBER_FLAG,
    count,
)
from promptly.workflows.appointment_wrong_number import AppointmentWrongNumber
from promptly.workflows.patches import (
    HELD_ATTEMPT_LEAVES_NO_HOLD,
    LAST_CALL_CLOSED_WHEN_UNCONFIRMED,
    PHONE_AGREED_TIME_NOT_READ_OUT,
    PHONE_RESCHEDULE_CONFIRMED,
)
from promptly.workflows.staff_tasks import open_case_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain import metrics, read_outs
    from promptly.domain.appointments import follow_up
    from promptly.domain.appointments.models import (
        AppointmentCase,
        AppointmentStatus,
        CallOutcome,
        CancelInput,
        RecordCallOutcomeInput,
        RescheduleInput,
    )
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        Channel,
        PromiseKind,
        RecipientRole,
        TimelineKind,
    )
    from promptly.domain.readable_time import readable
    from promptly.domain.tasks import TaskKind


REACHED = frozenset(
    {
        CallOutcome.REACHED_CONFIRMED,
        CallOutcome.REACHED_CANCELLED,
        CallOutcome.REACHED_RESCHEDULED,
    }
)


class AppointmentCalls(AppointmentWrongNumber):
    """The next call attempt and what a call's outcome decides."""

    # Who took the call on which the client agreed a new time, while it is being moved to.
    _agreed_by: Actor | None = None
    # The new time agreed on the call is its confirmation: nothing is read out after it.
    _told_on_the_call = False

    async def _follow_up_call_beside(self) -> None:
        """The next call attempt: decided on the current case, then the task is written."""
        case = self.case
        if follow_up.follow_up_exhausted(case):
            self._promises.broken(PromiseKind.FOLLOW_UP, f"no call made ({case.follow_up_rule})")
            await self._stop_calling(case)
            return
        if self._call_waits_for_the_confirmation_call() or self._reminder_call_is_the_attempt():
            return
        superseded = case.awaiting_call_outcome
        attempt = case.call_attempts + 1
        now = workflow.now()
        self._case = follow_up.after_call_attempt(case, now)
        if case.call_held_until is not None and workflow.patched(HELD_ATTEMPT_LEAVES_NO_HOLD):
            # The hold this attempt waited on ended as it went (the case read above had it).
            self._case = self._case.model_copy(update={"call_held_until": None})
        self._journal.changed()
        self._promises.met(PromiseKind.FOLLOW_UP, cause_if_late=case.follow_up_rule)
        if superseded:
            self._note_unanswered_call(case.call_attempts)
        count(metrics.CALL_ATTEMPTS)
        if superseded:
            await self._close_task(
                self._call_task_key(attempt - 1),
                "no_outcome",
                f"superseded by call attempt {attempt}",
                SYSTEM,
            )
        await self._write_call_task(attempt, now)
        current = self.case
        if not (current.awaiting_call_outcome and current.call_attempts == attempt):
            # The case moved on while the task was written (confirmed, cancelled, answered):
            # whoever changed it may have found no task to close yet.
            await self._close_task(
                self._call_task_key(attempt),
                current.status.value.lower(),
                f"the appointment is {current.status.value}",
                SYSTEM,
            )

    async def _record_call_outcome_beside(self, command: RecordCallOutcomeInput) -> None:
        attempt = self.case.call_attempts
        await self._decide_call_outcome(command, attempt)
        outcome = command.outcome
        if outcome is CallOutcome.REACHED_CANCELLED:
            # What the client said on the phone is done, with the fee rule of the moment; the
            # call task closes with the case's other tasks.
            reason = command.note or "client asked by phone to cancel"
            await self._cancel_beside(CancelInput(reason=reason, actor=command.actor))
            return
        if outcome is CallOutcome.REACHED_RESCHEDULED and command.new_start is not None:
            if workflow.patched(PHONE_RESCHEDULE_CONFIRMED):
                self._agreed_by = command.actor  # confirmed as it moves (_moved)
            await self._reschedule_beside(
                RescheduleInput(new_start=command.new_start, actor=command.actor)
            )
            if self._agreed_by is not None:
                self._agreed_by = None
                self._promises.not_applicable(
                    PromiseKind.FOLLOW_UP, "client agreed the new time by phone"
                )
            if self._told_on_the_call:
                self._told_on_the_call = False
                self._promises.met(PromiseKind.CONFIRMATION, actor=command.actor)
            return
        await self._close_task(
            self._call_task_key(attempt), outcome.value, command.note, command.actor
        )
        if outcome is CallOutcome.REACHED_CONFIRMED:
            await self._confirmation_follow_ups_moot("confirmed", command.actor)

    def _moved(self, old: AppointmentCase, moved: AppointmentCase, actor: Actor) -> None:
        """A new time the client agreed with the desk on the phone is confirmed as the visit
        moves, before the reschedule's first await: the planner, which may run meanwhile,
        plans no call for it and tells the client the new time without asking to confirm."""
        super()._moved(old, moved, actor)
        if self._agreed_by is None:
            return
        self._update(next_call_at=None, awaiting_call_outcome=False)
        self._set_status(
            AppointmentStatus.CONFIRMED,
            self._agreed_by,
            "Client agreed the new time by phone: confirmed, no follow-up calls",
        )
        # A phone client heard the new time on this call: a second call to read it out would
        # only repeat it. A charged move is still read out: the fee is news the call did not
        # necessarily give.
        if (
            moved.request.client.preferred_channel is Channel.PHONE
            and not moved.last_move_charged
            and workflow.patched(PHONE_AGREED_TIME_NOT_READ_OUT)
        ):
            self._told_on_the_call = True
            self._update(confirmation_attempted=True, confirmation_sent=True)
            self._note(
                TimelineKind.DECISION,
                self._agreed_by,
                "The new time was agreed on the call: no call to read it out again",
            )

    async def _stop_calling(self, case: AppointmentCase) -> None:
        """Every attempt made, no confirmation: the client is unconfirmed, the supervisor told.
        A last call nobody recorded counts as unanswered, as an earlier one does when the next
        attempt comes."""
        self._update(next_call_at=None, awaiting_call_outcome=False)
        last_unanswered = case.awaiting_call_outcome and workflow.patched(
            LAST_CALL_CLOSED_WHEN_UNCONFIRMED
        )
        if last_unanswered:
            self._note_unanswered_call(case.call_attempts)
        self._set_status(
            AppointmentStatus.UNCONFIRMED,
            SYSTEM,
            f"No confirmation after {case.call_attempts} call attempt(s)",
        )
        if last_unanswered:
            await self._close_task(
                self._call_task_key(case.call_attempts),
                "no_outcome",
                "no confirmation after the last call attempt",
                SYSTEM,
            )
        await self._alert_supervisor(
            "unconfirmed",
            UNCONFIRMED_ALERT,
            f"{case.request.client.name} did not confirm; "
            f"{case.call_attempts} call attempt(s) made.",
        )

    async def _write_call_task(self, attempt: int, now: datetime) -> None:
        """The front desk's task for call attempt `attempt`, and its line in the timeline."""
        case = self.case
        max_attempts = case.max_call_attempts
        client = case.request.client
        # The title in office time, as the desk's list is; the details in the client's time,
        # which is what the desk says on the phone.
        office_time = readable(case.request.start, self._office_timezone)
        visit = read_outs.visit_for_the_desk(
            case.request.start, client.timezone, self._office_timezone
        )
        task = await open_case_task(
            self._call_task(attempt),
            f"call attempt {attempt} of {max_attempts}",
            kind=TaskKind.CALL_CLIENT,
            assignee=RecipientRole.FRONT_DESK,
            title=f"Call {client.name} about the visit on {office_time} "
            f"(attempt {attempt} of {max_attempts})",
            details=f"{case.request.service} on {visit} at {case.request.location} is not "
            f"confirmed. {read_outs.client_language(client.locale)} "
            f"{self._how_to_reach()}{self._cancelling_now(now)}",
            due_at=follow_up.attempt_due(case, now) or now,
            data={"attempt": attempt, "phone": case.request.client.phone},
        )
        self._note(
            TimelineKind.MESSAGE,
            SYSTEM,
            f"Call task for the front desk: attempt {attempt} of {max_attempts}",
            template="call_task",
            channel=Channel.PHONE.value,
            task_id=task.task_id,
            attempt=attempt,
        )

    def _how_to_reach(self) -> str:
        client = self.case.request.client
        if client.phone:
            return f"Phone: {client.phone}."
        return f"No phone on file: write to {client.email} or find a number."

    def _cancelling_now(self, now: datetime) -> str:
        """What the desk must say before the client cancels on this call."""
        request = self.case.request
        return read_outs.changing_now(
            request.start,
            now,
            self.case.policy,
            request.price,
            request.client.timezone,
            self._office_timezone,
        )

    async def _decide_call_outcome(self, command: RecordCallOutcomeInput, attempt: int) -> None:
        """What the caller reports of call attempt `attempt`, on either path: counted, noted,
        awaited no more; any answer ends the calls; a confirmation or a wrong number settles
        the status (the supervisor is told of a wrong number)."""
        outcome = command.outcome
        count(metrics.CALL_OUTCOMES, outcome=outcome.value)
        self._update(awaiting_call_outcome=False)
        self._note(
            TimelineKind.ACTION,
            command.actor,
            f"Call attempt {attempt}: {outcome.value}"
            + (f" ({command.note})" if command.note else ""),
            outcome=outcome.value,
            attempt=attempt,
            note=command.note,
        )
        if outcome is not CallOutcome.NO_ANSWER:
            self._update(next_call_at=None)
        if outcome in REACHED:
            # The desk got through on the number: a wrong-number alert asks nothing now.
            self._unflag(WRONG_NUMBER_FLAG)
        if outcome is CallOutcome.REACHED_CONFIRMED:
            self._set_status(
                AppointmentStatus.CONFIRMED, command.actor, "Client confirmed by phone"
            )
        elif outcome is CallOutcome.WRONG_NUMBER:
            await self._wrong_number(command.actor, attempt)

    def _note_unanswered_call(self, attempt: int) -> None:
        """The next attempt is due (or none is left) and attempt `attempt` has no outcome: it
        counts as none."""
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"No outcome recorded for call attempt {attempt}: treated as no answer",
        )
