"""Appointments started before the patch `messages-beside-the-plan` finish as they began:
each message awaited in line, each transition awaiting its activities as it decides. Kept
so those running cases, and their stored histories, replay (docs/messages-and-deploys.md).
New cases only pass through the steps here on their way to the version beside the plan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from promptly.workflows.appointment_calls import AppointmentCalls
from promptly.workflows.appointment_sends import reminder_lateness
from promptly.workflows.appointment_state import (
    CLIENT_LINKS,
    MESSAGE_RETRY,
    PREPAY_FLAG,
    REMINDER_LATE_AFTER,
    count,
)
from promptly.workflows.messages import deliver, to_client
from promptly.workflows.patches import CLOSE_SUPERSEDED_CALL_TASK, since
from promptly.workflows.staff_tasks import close_task, open_case_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain import metrics
    from promptly.domain.appointments import fees as appointment_fees
    from promptly.domain.appointments import follow_up
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        REMINDER_NOT_SENT_FLAG,
        AppointmentStatus,
        BillingOutcome,
        CallOutcome,
        CancelInput,
        ConfirmInput,
        Fee,
        RecordCallOutcomeInput,
        ReportDelayInput,
        RescheduleInput,
        WaiveFeeInput,
    )
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        Channel,
        RecipientRole,
        TimelineKind,
    )
    from promptly.domain.messages import Recipient
    from promptly.domain.tasks import TaskKind


class AppointmentInLine(AppointmentCalls):
    """The paths of cases from before messages ran beside the plan. Each planner step below
    picks its path first: a case since the patch goes to the step's version beside the plan
    (appointment_sends.py, appointment_calls.py). An update's handler picks the path of its
    transition itself (appointment.py)."""

    async def _send_confirmation(self) -> None:
        if self._current_rules:
            self._start_confirmation()
            return
        case = self.case
        give_up_at = appointment_rules.confirmation_give_up_at(case.planned_at, case.policy)
        sent = await self._send_to_client(
            self._confirmation_template(), deadline=give_up_at, step="confirmation"
        )
        if self.case.reschedules != case.reschedules:
            return  # rescheduled meanwhile: the new time gets its own confirmation
        self._update(confirmation_attempted=True, confirmation_sent=sent)
        if sent:
            return
        task = await open_case_task(
            f"confirmation-task/{case.reschedules}",
            "front-desk task: send the confirmation by hand",
            kind=TaskKind.SEND_CONFIRMATION_MANUALLY,
            assignee=RecipientRole.FRONT_DESK,
            title=f"Confirm {case.request.client.name} by hand",
            details=f"The {case.request.client.preferred_channel.value} confirmation could "
            f"not be sent; it must reach the client before "
            f"{case.confirmation_deadline.isoformat()}.",
            due_at=case.confirmation_deadline,
        )
        self._note(
            TimelineKind.TASK,
            SYSTEM,
            "Front desk asked to send the confirmation by hand",
            task_id=task.task_id,
            kind=TaskKind.SEND_CONFIRMATION_MANUALLY.value,
            due_at=case.confirmation_deadline.isoformat(),
        )
        self._flag("confirmation not sent")
        self._by_hand.opened(
            task.task_id, TaskKind.SEND_CONFIRMATION_MANUALLY, "confirmation not sent"
        )

    async def _notify_provider(self) -> None:
        if self._current_rules:
            self._start_provider_notice()
            return
        to = self._provider_to_notify()
        if to is not None:
            await self._send(
                "provider_booking", to, Channel.EMAIL, deadline=self.case.provider_ack_deadline
            )

    async def _send_reminder(self) -> None:
        if self._current_rules:
            if not self._reminder_waits_for_the_call():
                self._start_reminder()
            return
        reschedules = self.case.reschedules
        planned = self.case.reminder_at or workflow.now()
        sent = await self._send_to_client("reminder", deadline=self._reminder_window_end())
        if self.case.reschedules == reschedules:
            late = workflow.now() - planned > REMINDER_LATE_AFTER
            outcome = "late" if late else "on_time"
            count(metrics.REMINDERS, outcome=outcome if sent else "failed")
            if sent:
                reminder_lateness(workflow.now() - planned)
            self._update(reminder_sent=True)
            if not sent:
                self._flag(REMINDER_NOT_SENT_FLAG)

    async def _send_to_client(
        self, template: str, *, link_actions: list[str] | None = None, **options: Any
    ) -> bool:
        """`_send` to the client on their channel, with their links unless told otherwise."""
        client = self.case.request.client
        return await self._send(
            template,
            to_client(client),
            client.preferred_channel,
            link_actions=CLIENT_LINKS if link_actions is None else link_actions,
            **options,
        )

    async def _send(
        self,
        template: str,
        to: Recipient,
        channel: Channel,
        *,
        deadline: datetime,
        step: str | None = None,
        link_actions: list[str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> bool:
        """Send one message, retrying transient failures until `deadline`; True if it went out.

        Every outcome is a timeline entry; a failure is the caller's decision to handle.
        """
        delivery = await deliver(
            self._message(
                f"{step or template}/{self._send_round(template)}",
                template,
                to,
                channel,
                link_actions=link_actions,
                extra=extra,
            ),
            budget=max(deadline - workflow.now(), timedelta(minutes=1)),
            retry=MESSAGE_RETRY,
        )
        self._note(delivery.kind, SYSTEM, delivery.detail, **delivery.data)
        return delivery.sent

    def _send_round(self, template: str) -> int:
        """How many times this template was sent before: reschedules send it again."""
        return sum(
            1
            for entry in self._journal.timeline
            if entry.kind in (TimelineKind.MESSAGE, TimelineKind.MESSAGE_FAILED)
            and entry.data.get("template") == template
        )

    async def _follow_up_call(self) -> None:
        if self._current_rules:
            await self._follow_up_call_beside()
            return
        case = self.case
        if follow_up.follow_up_exhausted(case):
            await self._stop_calling(case)
            return
        if case.awaiting_call_outcome:
            self._note_unanswered_call(case.call_attempts)
            if since(CLOSE_SUPERSEDED_CALL_TASK):
                await self._close_call_task(
                    "no_outcome", f"superseded by call attempt {case.call_attempts + 1}", SYSTEM
                )
        attempt = case.call_attempts + 1
        now = workflow.now()
        self._case = follow_up.after_call_attempt(case, now)
        count(metrics.CALL_ATTEMPTS)
        await self._write_call_task(attempt, now)

    async def _close_call_task(self, outcome: str, note: str, actor: Actor) -> None:
        attempt = self.case.call_attempts
        if attempt == 0:
            return
        await close_task(
            self._call_task_key(attempt),
            outcome,
            note,
            actor,
            summary=f"close call task {attempt}: {outcome}",
        )

    async def _confirm_in_line(self, command: ConfirmInput, via: str) -> None:
        await self._close_call_task("confirmed", "client confirmed", command.actor)
        self._update(next_call_at=None, awaiting_call_outcome=False)
        self._set_status(AppointmentStatus.CONFIRMED, command.actor, f"Client confirmed{via}")

    async def _record_call_outcome_in_line(self, command: RecordCallOutcomeInput) -> None:
        attempt = self.case.call_attempts
        await self._close_call_task(command.outcome.value, command.note, command.actor)
        await self._decide_call_outcome(command, attempt)
        # In line, what the client asked for on the phone is left to staff.
        if command.outcome is CallOutcome.REACHED_CANCELLED:
            self._flag("client asked by phone to cancel")
        elif command.outcome is CallOutcome.REACHED_RESCHEDULED:
            self._flag("client asked by phone to reschedule")

    async def _cancel_in_line(self, command: CancelInput) -> None:
        decision = appointment_fees.cancellation(self.case, command.actor, workflow.now())
        self._update(
            next_call_at=None,
            free_reschedule=decision.free_reschedule,
            cancellations=self.case.cancellations + 1,
        )
        who = "Provider cancelled" if decision.free_reschedule else "Cancelled"
        self._set_status(decision.status, command.actor, f"{who}: {command.reason}")
        await self._record_billing(decision.billing, command.actor, command.reason)
        await self._send_to_client(
            "cancellation",
            deadline=workflow.now() + timedelta(hours=1),
            step=f"cancellation-{self.case.reschedules}",
            link_actions=["reschedule"] if decision.free_reschedule else [],
            extra={"outcome": decision.billing.value, "reason": command.reason},
        )

    async def _reschedule_in_line(self, command: RescheduleInput) -> None:
        now = workflow.now()
        old = self.case
        if old.status not in FINAL_APPOINTMENT_STATUSES and not old.free_reschedule:
            if appointment_fees.is_late_change(old.request.start, now, old.policy):
                await self._record_billing(
                    BillingOutcome.LATE_CANCEL,
                    command.actor,
                    "late reschedule",
                    fee=Fee.LATE_RESCHEDULE,
                )
        self._moved(old, appointment_rules.rescheduled(old, command.new_start, now), command.actor)

    async def _waive_fee_in_line(self, command: WaiveFeeInput) -> None:
        self._update(free_reschedule=True, free_reschedule_granted_at=workflow.now())
        await self._record_billing(BillingOutcome.WAIVED, command.actor, command.reason)
        self._unflag(PREPAY_FLAG)
        await self._send_to_client(
            "fee_waived",
            deadline=workflow.now() + timedelta(hours=1),
            step=f"fee-waived-{self.case.reschedules}",
            link_actions=["reschedule"],
            extra={"reason": command.reason},
        )

    async def _report_delay_in_line(self, command: ReportDelayInput, actor: Actor) -> None:
        minutes = self._note_provider_delay(command, actor)
        await self._send_to_client(
            "delay_notice",
            deadline=workflow.now() + timedelta(minutes=15),
            step=f"delay-{self.case.reschedules}-{minutes}",
            link_actions=["reschedule", "cancel"],
            extra={"estimate": self._delayed_start(minutes).isoformat(), "minutes": minutes},
        )

    async def _no_show(self) -> None:
        if self._current_rules:
            await self._no_show_beside()
            return
        self._set_status(
            AppointmentStatus.NO_SHOW,
            SYSTEM,
            "Not checked in 15 minutes after the start: no-show (counts as held)",
        )
        await self._record_billing(BillingOutcome.NO_SHOW, SYSTEM, "not checked in")
        count(metrics.NO_SHOWS)
        self._flag(PREPAY_FLAG)
        await self._send_to_client(
            "no_show_notice",
            deadline=workflow.now() + timedelta(hours=24),
            step=f"no-show-{self.case.reschedules}",
        )
