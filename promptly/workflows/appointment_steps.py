"""The appointment's steps and transitions, each decided on the current case first and
only then awaiting its activities, so an update landing meanwhile composes with it
(DESIGN.md §1, appointments 2–6, 9). The delays are appointment_delays.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

from promptly.workflows.appointment_delays import AppointmentDelays
from promptly.workflows.appointment_state import (
    ACK_MISSING_ALERT,
    PREPAY_FLAG,
    WRONG_NUMBER_FLAG,
    count,
)
from promptly.workflows.patches import (
    PASSED_STEPS_SKIPPED,
    PROVIDER_TOLD_OF_CANCELLATION,
    RESCHEDULE_NOTES_CALL_PLAN,
    WRONG_NUMBER_OUTLIVES_A_MOVE,
    on_baseline,
)
from promptly.workflows.search_attributes import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
)
from promptly.workflows.survey import SurveyWorkflow

with workflow.unsafe.imports_passed_through():
    from promptly.domain import metrics, promises
    from promptly.domain.appointments import fees as appointment_fees
    from promptly.domain.appointments import passed_steps
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        REMINDER_NOT_SENT_FLAG,
        AppointmentCase,
        AppointmentStatus,
        BillingOutcome,
        CallOutcome,
        CancelInput,
        Fee,
        RescheduleInput,
    )
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        ActorKind,
        PromiseKind,
        TimelineKind,
    )
    from promptly.domain.readable_time import readable
    from promptly.domain.surveys.models import SurveyRequest, survey_workflow_id
    from promptly.domain.tasks import TaskKind
    from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT

# Calls still planned to read a phone client the news of the visit: the confirmation's and the
# reminder's (which asks for the confirmation; cases from before the reminder waited for the
# confirmation's call had both open at once) are moot once the client confirmed; the delay
# notices too once the visit took place or passed. Activity input only: no patch.
CONFIRMATION_READ_OUTS = ("phone_confirmation", "confirmation", "reminder")
BEFORE_THE_VISIT_READ_OUTS = (*CONFIRMATION_READ_OUTS, "delay_notice")


class AppointmentSteps(AppointmentDelays):
    """The no-show, completion, the survey, cancel and reschedule."""

    def _skipped_as_passed(self, step: appointment_rules.Step) -> bool:
        """A step the case comes to after its moment passed (a worker down across it, a
        backlog) is not run: no reminder for a visit that has begun, no call asking the client
        to confirm it (passed_steps.py). The timeline says why, the step's promise is broken
        and a missed reminder or confirmation is flagged, as one that could not go out is.
        True when the step was skipped."""
        now = workflow.now()
        case = self.case
        if passed_steps.passed(case, step, now) is None or not workflow.patched(
            PASSED_STEPS_SKIPPED
        ):
            return False
        note = passed_steps.skipped_note(case, step, now, self._office_timezone)
        if step is appointment_rules.Step.REMINDER:
            self._update(reminder_skipped=True, reminder_held_until=None)
            self._promises.broken(PromiseKind.REMINDER, note)
            self._flag(REMINDER_NOT_SENT_FLAG)
            count(metrics.REMINDERS, outcome="skipped")
        elif step is appointment_rules.Step.CONFIRMATION:
            self._update(confirmation_attempted=True)
            self._promises.broken(PromiseKind.CONFIRMATION, note)
            self._flag("confirmation not sent")
        elif step is appointment_rules.Step.FOLLOW_UP_CALL:
            self._update(next_call_at=None, call_held_until=None)
            self._promises.broken(PromiseKind.FOLLOW_UP, note)
        self._note(TimelineKind.DECISION, SYSTEM, note, step=step.value, skipped=True)
        return True

    async def _no_show_beside(self) -> None:
        self._update(next_call_at=None, awaiting_call_outcome=False)
        self._set_status(
            AppointmentStatus.NO_SHOW,
            SYSTEM,
            # The moment that applied (delays move it; the policy sets it), not "15 minutes".
            f"Not checked in by {appointment_rules.no_show_moment(self.case).isoformat()}:"
            " no-show (counts as held)",
        )
        self._promises.met(PromiseKind.NO_SHOW)
        record = self._decide_billing(BillingOutcome.NO_SHOW, SYSTEM, "not checked in")
        count(metrics.NO_SHOWS)
        self._flag(PREPAY_FLAG)
        self._start_to_client("no_show", "no_show_notice", budget=timedelta(hours=24))
        await self._confirmation_follow_ups_moot("no_show", SYSTEM, client_answered=False)
        await self._write_billing(record)

    async def _alert_ack_missing(self) -> None:
        """The provider has not acknowledged by the deadline: the supervisor is told. Beside
        the plan that is decided before the alert starts; in line, once it was sent."""
        if self._current_rules:
            self._update(ack_alert_sent=True)
            self._promises.broken(PromiseKind.PROVIDER_ACK, "not acknowledged", self._provider)
        await self._alert_supervisor(
            "provider_ack_missing",
            ACK_MISSING_ALERT,
            f"{self.case.request.provider.name} has not acknowledged the booking "
            f"by {readable(self.case.provider_ack_deadline, self._office_timezone)}.",
        )
        if not self._current_rules:
            self._update(ack_alert_sent=True)

    async def _complete(self, actor: Actor, detail: str) -> None:
        self._set_status(AppointmentStatus.COMPLETED, actor, detail)
        if not self._current_rules:
            await self._record_billing(BillingOutcome.HELD, actor, detail)
            await self._start_survey_in_line()
            return
        record = self._decide_billing(BillingOutcome.HELD, actor, detail)
        if not on_baseline():
            await self._write_billing(record)
            await self._start_survey_in_line()
            return
        if self.case.survey_started:
            await self._write_billing(record)
            return
        # Everything decided first, so the one save of the case carries it; then the billing
        # record and the survey's start go out together.
        self._note_survey()
        await asyncio.gather(self._write_billing(record), self._start_survey())

    @property
    def _survey_id(self) -> str:
        return survey_workflow_id(self._workflow_id)

    def _note_survey(self) -> None:
        self._update(survey_started=True)
        self._note(TimelineKind.DECISION, SYSTEM, "Survey scheduled", survey_id=self._survey_id)

    async def _start_survey_in_line(self) -> None:
        """Cases from before the baseline: the survey is noted once its child has started."""
        if self.case.survey_started:
            return
        await self._start_survey()
        self._note_survey()

    async def _start_survey(self) -> None:
        """The satisfaction survey, an abandoned child: it outlives the appointment."""
        request = self.case.request
        await workflow.start_child_workflow(
            SurveyWorkflow.run,
            SurveyRequest(
                appointment_case_id=self._workflow_id,
                appointment_id=request.appointment_id,
                client=request.client,
                service=request.service,
                visit_ended_at=max(request.end, workflow.now()),
                send_after=self.case.policy.survey_after_end,
                reminder_after=self.case.policy.survey_reminder_after,
                closes_after=self.case.policy.survey_closes_after,
                office_timezone=self._office_timezone,
                quiet_hours=self.case.policy.quiet_hours,
                client_number_wrong=self._number_known_wrong(),
            ),
            id=self._survey_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            static_summary=f"survey after {request.service} · client {request.client.id}",
            # Found with the client's other cases (`ClientId = "C-17"`) in the UI.
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CLIENT_ID, request.client.id)]
            ),
        )

    async def _confirmation_follow_ups_moot(
        self, outcome: str, actor: Actor, *, client_answered: bool = True
    ) -> None:
        """The client confirmed, came or the visit passed: calls and hand confirmations no
        longer matter; an alert that the client is unconfirmed does only if they answered."""
        if self.case.confirmation_call_open:
            # The confirmation's call closes with the others: what waited for it goes.
            self._update(
                confirmation_call_open=False, reminder_held_until=None, call_held_until=None
            )
        if client_answered:
            await self._cancel_sends(["alert:unconfirmed", "alert:wrong_number"])
        if self.case.call_attempts:
            await self._close_task(
                self._call_task_key(self.case.call_attempts), outcome, f"client {outcome}", actor
            )
        confirmed = self.case.status is AppointmentStatus.CONFIRMED
        await self._close_tasks(
            outcome,
            f"client {outcome}",
            actor,
            kinds=[TaskKind.SEND_CONFIRMATION_MANUALLY],
            read_outs=CONFIRMATION_READ_OUTS if confirmed else BEFORE_THE_VISIT_READ_OUTS,
            flags_stay=not client_answered,
        )
        if self.case.delay_on_call is not None:
            # The call that carried the provider's delay closed with the others: a confirmed
            # client is still told of it.
            self._update(delay_on_call=None)
            if confirmed:
                self._delay_notice_after_the_call()

    async def _cancel_beside(self, command: CancelInput) -> None:
        decision = appointment_fees.cancellation(
            self.case, command.actor, workflow.now(), honour_provider_changes=True
        )
        self._update(
            next_call_at=None,
            awaiting_call_outcome=False,
            free_reschedule=decision.free_reschedule,
            free_reschedule_granted_at=workflow.now() if decision.free_reschedule else None,
            cancellations=self.case.cancellations + 1,
        )
        who = "Provider cancelled" if decision.free_reschedule else "Cancelled"
        self._set_status(decision.status, command.actor, f"{who}: {command.reason}")
        # A fixed word: the ledger is read across every case, and a reason may say why the
        # client cannot come (an illness); it stays in this case's timeline, which the
        # retention purge removes. Workflow state only: no command changes, no patch.
        self._promises.close("cancelled")
        record = self._decide_billing(decision.billing, command.actor, command.reason)
        # Nothing planned for the booked visit may reach anyone after this update returns.
        await self._cancel_sends_for_the_old_visit()
        # Closed by whoever cancelled: the desk sees who took the call that did it.
        await self._close_tasks(
            "cancelled", f"appointment cancelled: {command.reason}", command.actor
        )
        self._start_to_client(
            "cancellation",
            "cancellation",
            budget=timedelta(hours=1),
            link_actions=["reschedule"] if decision.free_reschedule else [],
            extra={"outcome": decision.billing.value, "reason": command.reason},
        )
        # The provider hears of a cancellation they did not make: the slot is free, and
        # whether the visit is still charged.
        if command.actor.kind is not ActorKind.PROVIDER and workflow.patched(
            PROVIDER_TOLD_OF_CANCELLATION
        ):
            self._start_provider_news(
                "provider_cancellation",
                {
                    "outcome": decision.billing.value,
                    "reason": command.reason,
                    "cancelled_by": command.actor.kind.value,
                },
            )
        await self._write_billing(record)

    def _moved(self, old: AppointmentCase, moved: AppointmentCase, actor: Actor) -> None:
        """The visit moves to a new time: booked again there, found there in the UI."""
        self._case = moved
        self._journal.changed()
        start = moved.request.start
        self._note(
            TimelineKind.STATUS,
            actor,
            f"Rescheduled from {old.request.start.isoformat()} to {start.isoformat()}",
            status=AppointmentStatus.BOOKED.value,
            previous=old.status.value,
            start=start.isoformat(),
            previous_start=old.request.start.isoformat(),
        )
        if moved.follow_up_rule is not None and workflow.patched(RESCHEDULE_NOTES_CALL_PLAN):
            self._note_call_plan()  # the calls were planned afresh for the new time
        workflow.upsert_search_attributes(
            [
                APPOINTMENT_STATUS.value_set(AppointmentStatus.BOOKED.value),
                APPOINTMENT_START.value_set(start),
            ]
        )

    async def _reschedule_beside(self, command: RescheduleInput) -> None:
        now = workflow.now()
        old = self.case
        late = appointment_fees.reschedule_charged(old, command.actor, now)
        # A number known wrong stays wrong at the new time: its flag stays, so the new time
        # is not read out to it either; nor is it called, and the desk keeps its task to find
        # the right number.
        in_writing = self._number_known_wrong()
        held_up = WRONG_NUMBER_FLAG in old.needs_attention and workflow.patched(
            WRONG_NUMBER_OUTLIVES_A_MOVE
        )
        wrong = [WRONG_NUMBER_FLAG] if in_writing or held_up else []
        no_calls: dict[str, object] = {"next_call_at": None} if held_up else {}
        self._moved(
            old,
            appointment_rules.rescheduled(old, command.new_start, now).model_copy(
                update={
                    "reschedule_fee_pending": late or old.reschedule_fee_pending,
                    "last_move_charged": late,
                    "needs_attention": wrong,
                    **no_calls,
                }
            ),
            command.actor,
        )
        if held_up:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                f"The number on file ({old.request.client.phone}) is wrong: no follow-up call "
                "at the new time until the front desk records the right number",
            )
        self._promises.make(promises.rescheduled_promises(self.case, now))
        # The new time is billed afresh: the late fee is recorded, not carried into the case.
        record = (
            self._decide_billing(
                BillingOutcome.LATE_CANCEL,
                command.actor,
                "late reschedule",
                in_case=False,
                fee=Fee.LATE_RESCHEDULE,
            )
            if late
            else None
        )
        await self._cancel_sends_for_the_old_visit()
        await self._close_tasks(
            "rescheduled",
            f"moved to {command.new_start.isoformat()}",
            command.actor,
            keep_error_code=CallOutcome.WRONG_NUMBER.value if held_up else None,
        )
        if record is not None:
            await self._write_billing(record)
