"""How an appointment's messages go out: each one beside the plan, with a budget; one that
cannot go out becomes a flag and a front-desk task; a change cancels the sends it makes moot
(DESIGN.md §1, appointments 1–3; docs/messages-and-deploys.md). What the provider is told:
appointment_provider_sends.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from promptly.workflows.appointment_state import (
    ALERT_BUDGET,
    CLIENT_LINKS,
    MESSAGE_RETRY,
    VISIT_LINKS,
    WRONG_NUMBER_FLAG,
    AppointmentState,
)
from promptly.workflows.case_sends import client_message_task
from promptly.workflows.messages import MESSAGE_TIMEOUT, Delivery, to_client
from promptly.workflows.patches import (
    CLIENT_MESSAGES_AFTER_WRONG_NUMBER_IN_WRITING,
    MOOT_FAILURE_NOT_HANDED_ON,
)
from promptly.workflows.staff_tasks import close_task, open_task

with workflow.unsafe.imports_passed_through():
    from promptly.activities.messaging import MessagingActivities
    from promptly.domain import metrics, read_outs
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        Channel,
        RecipientRole,
        TimelineKind,
    )
    from promptly.domain.messages import Recipient, SendMessageRequest
    from promptly.domain.moot_messages import NEWS_AFTER_A_MOVE
    from promptly.domain.tasks import TaskKind


def reminder_lateness(late_by: timedelta) -> None:
    """How long after its planned time a reminder went out (the SDK records nothing while
    replaying)."""
    workflow.metric_meter().create_histogram_float(
        metrics.REMINDER_LATENESS, metrics.HELP[metrics.REMINDER_LATENESS], "s"
    ).record(max(late_by.total_seconds(), 0.0))


class AppointmentSends(AppointmentState):
    """Starting, cancelling and settling the appointment's messages, and its staff tasks."""

    def _start_send(
        self,
        group: str,
        template: str,
        to: Recipient,
        channel: Channel,
        *,
        budget: timedelta,
        if_failed: str,
        task_kind: TaskKind = TaskKind.DELIVER_MESSAGE_MANUALLY,
        task_due: datetime | None = None,
        on_sent: Callable[[], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        link_actions: list[str] | None = None,
        extra: dict[str, object] | None = None,
        purpose: str | None = None,
    ) -> None:
        """Start one message beside the plan; its outcome is recorded when it ends.

        A message that cannot go out sets the flag `if_failed` and gives the front desk a task
        to pass it on (due `task_due`, at once by default); a cancelled one is only noted.
        """
        rounds = self.case.reschedules
        started = self._sends.changes

        def made_moot() -> bool:
            """A change cancelled this send's group while its failure was being recorded:
            it found nothing to cancel, and nobody is to pass the message on."""
            return self._sends.moot_since(group, started) and workflow.patched(
                MOOT_FAILURE_NOT_HANDED_ON
            )

        async def settle(message: SendMessageRequest, delivery: Delivery) -> None:
            failed = not delivery.sent and not delivery.cancelled
            hand_on = failed and not made_moot()
            with self._journal.quietly():
                self._promises.delivered_by(group, delivery)
                self._note(delivery.kind, SYSTEM, delivery.detail, **delivery.data)
                if delivery.sent:
                    if on_sent is not None and self.case.reschedules == rounds:
                        on_sent()
                elif hand_on:
                    self._flag(if_failed)
                    if on_failed is not None and self.case.reschedules == rounds:
                        on_failed()
            if hand_on:
                key = await self._hand_to_front_desk(
                    message, delivery, if_failed, task_kind, task_due
                )
                if made_moot():
                    # Made moot while the task was being written, after the change closed
                    # the case's tasks: this one is closed here.
                    await self._close_task(
                        key, "superseded", "the appointment changed meanwhile", SYSTEM
                    )
            await self._save()

        self._sends.start(
            self._message(
                f"{purpose or group}/r{rounds}",
                template,
                to,
                channel,
                link_actions=link_actions,
                extra=extra,
            ),
            group=group,
            budget=budget,
            on_outcome=settle,
        )

    def _message(
        self,
        purpose: str,
        template: str,
        to: Recipient,
        channel: Channel,
        *,
        link_actions: list[str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> SendMessageRequest:
        """One of this case's messages, keyed by `purpose`; its template reads the case's
        context, plus `extra`."""
        return SendMessageRequest(
            idempotency_key=f"{self._workflow_id}/{purpose}",
            case_id=self._workflow_id,
            template=template,
            channel=channel,
            to=to,
            context={**self._message_context(), **(extra or {})},
            link_actions=link_actions or [],
        )

    def _number_known_wrong(
        self, patch: str = CLIENT_MESSAGES_AFTER_WRONG_NUMBER_IN_WRITING
    ) -> bool:
        """A phone client whose number a call found wrong, no call reaching them since (the
        flag clears then): the desk is not asked to read a message out to it. Its patch
        (the reminder asks its own) is asked last, only on that path."""
        case = self.case
        return (
            case.request.client.preferred_channel is Channel.PHONE
            and WRONG_NUMBER_FLAG in case.needs_attention
            and workflow.patched(patch)
        )

    def _start_to_client(
        self,
        group: str,
        template: str,
        *,
        budget: timedelta,
        link_actions: list[str] | None = None,
        if_failed: str | None = None,
        in_writing: bool | None = None,
        extra: dict[str, object] | None = None,
        **options: Any,
    ) -> None:
        """A message for the client, by the channel they prefer; a phone client whose number
        is known wrong (`in_writing`, asked here unless the caller did) gets it by email, or
        the desk passes it on by hand, its task saying the number is wrong."""
        client = self.case.request.client
        if in_writing is None:
            in_writing = self._number_known_wrong()
        if in_writing:
            what = f"the {template.replace('_', ' ')}"
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                read_outs.in_writing_note(what, client.phone, client.email),
            )
            extra = {**(extra or {}), "wrong_number": client.phone or ""}
        self._start_send(
            group,
            template,
            to_client(client),
            read_outs.client_channel(client.preferred_channel, number_wrong=in_writing),
            budget=budget,
            if_failed=if_failed or f"{template.replace('_', ' ')} not sent",
            link_actions=CLIENT_LINKS if link_actions is None else link_actions,
            extra=extra,
            **options,
        )

    async def _hand_to_front_desk(
        self,
        message: SendMessageRequest,
        delivery: Delivery,
        concern: str,
        kind: TaskKind,
        due: datetime | None,
    ) -> str:
        """A message that will not go out becomes a front-desk task to pass it on; the task
        done clears its flag `concern`. Returns the task's key."""
        what = message.template.replace("_", " ")
        confirmation = kind is TaskKind.SEND_CONFIRMATION_MANUALLY
        request = client_message_task(
            message,
            delivery,
            kind=kind,
            title=f"Confirm {self.case.request.client.name} by hand" if confirmation else None,
            due_at=due,
        )
        task = await open_task(request, f"front-desk task: pass on the {what}")
        self._by_hand.opened(task.task_id, kind, concern, request.idempotency_key)
        with self._journal.quietly():
            self._note(
                TimelineKind.TASK,
                SYSTEM,
                f"Front desk asked to pass on the {what} by hand",
                task_id=task.task_id,
                kind=kind.value,
                template=message.template,
                due_at=request.due_at.isoformat(),
            )
        return request.idempotency_key

    def _confirmation_template(self, in_writing: bool = False) -> str:
        """A client who prefers the phone gets the confirmation written to be read out (in
        writing, after a wrong number, the one to read)."""
        phone = self.case.request.client.preferred_channel is Channel.PHONE
        return "phone_confirmation" if phone and not in_writing else "confirmation"

    def _start_confirmation(self) -> None:
        case = self.case
        in_writing = self._number_known_wrong()
        # A phone client's confirmation is the desk's call, open once the send is out.
        phone = case.request.client.preferred_channel is Channel.PHONE and not in_writing
        self._update(confirmation_attempted=True, confirmation_call_open=phone)
        give_up_at = appointment_rules.confirmation_give_up_at(case.planned_at, case.policy)
        self._start_to_client(
            "confirmation",
            self._confirmation_template(in_writing),
            in_writing=in_writing,
            budget=give_up_at - workflow.now(),
            task_kind=TaskKind.SEND_CONFIRMATION_MANUALLY,
            task_due=case.confirmation_deadline,
            on_sent=lambda: self._update(confirmation_sent=True),
            # No call opened: what waited for it goes.
            on_failed=lambda: self._update(
                confirmation_call_open=False, reminder_held_until=None, call_held_until=None
            ),
            if_failed="confirmation not sent",
            link_actions=VISIT_LINKS,
        )

    async def _cancel_sends(self, groups: list[str] | None = None) -> None:
        """Cancel the sends a change made moot; returns once none of them can go out."""
        await self._sends.cancel(groups)

    async def _cancel_sends_for_the_old_visit(self) -> None:
        """A cancel or a reschedule: every send planned for the visit as it was is moot; a fee
        waiver already granted still is news to the client."""
        await self._sends.cancel_all_but(*NEWS_AFTER_A_MOVE)

    async def _close_task(self, key: str, outcome: str, note: str, actor: Actor) -> None:
        await close_task(key, outcome, note, actor, summary=f"close task: {outcome}")

    async def _alert_supervisor(self, key: str, title: str, reason: str) -> None:
        if self._current_rules:
            # Flagged at once; the alert goes beside the plan with a budget, and one that
            # cannot reach the supervisor becomes a front-desk task.
            self._flag(title.lower())
            self._start_send(
                f"alert:{key}",
                "supervisor_alert",
                Recipient(role=RecipientRole.SUPERVISOR, timezone=self._office_timezone),
                Channel.EMAIL,
                budget=ALERT_BUDGET,
                if_failed=f"supervisor not reached: {title.lower()}",
                extra={"reason_title": title, "reason": reason},
            )
            return
        try:
            await workflow.execute_activity_method(
                MessagingActivities.send_message,
                self._message(
                    f"alert/{key}/{self.case.reschedules}",
                    "supervisor_alert",
                    Recipient(role=RecipientRole.SUPERVISOR, timezone=self._office_timezone),
                    Channel.EMAIL,
                    extra={"reason_title": title, "reason": reason},
                ),
                start_to_close_timeout=MESSAGE_TIMEOUT,
                # A budget, and a refusal caught: an alert that cannot go out is a flag, never
                # a failed case (same commands as before for a case that got its alert out).
                schedule_to_close_timeout=ALERT_BUDGET,
                retry_policy=MESSAGE_RETRY,
                summary=f"supervisor alert: {title}",
            )
        except ActivityError as err:
            self._note_alert(
                TimelineKind.MESSAGE_FAILED, f"Supervisor alert failed: {title}: {err.cause or err}"
            )
            self._flag(f"supervisor not reached: {title.lower()}")
            self._flag(title.lower())
            return
        self._note_alert(TimelineKind.MESSAGE, f"Supervisor alerted: {title}", reason=reason)
        self._flag(title.lower())

    def _note_alert(self, kind: TimelineKind, detail: str, /, **data: object) -> None:
        """How an alert awaited in line went (cases from before the patch)."""
        self._note(
            kind,
            SYSTEM,
            detail,
            template="supervisor_alert",
            channel=Channel.EMAIL.value,
            recipient=RecipientRole.SUPERVISOR.value,
            **data,
        )
