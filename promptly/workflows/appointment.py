"""One appointment, from booking to the end of the visit (DESIGN.md §1, appointments 1–6, 9).

The workflow decides; activities act. All timing comes from `policy`: the loop asks
`appointment_rules.next_step` what is due next, sleeps until then unless an update changes the case,
and asks again. That is how every timer follows the current state of the case.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

from promptly.workflows import WORKFLOW_TASK_TIMEOUT
from promptly.workflows.messages import MESSAGE_TIMEOUT, Delivery, Sends, deliver, to_client
from promptly.workflows.promises import PromiseBook
from promptly.workflows.survey import SurveyWorkflow

with workflow.unsafe.imports_passed_through():
    from promptly.activities.messaging import MessagingActivities
    from promptly.activities.records import PolicyActivities, RecordsActivities
    from promptly.activities.tasks import TaskActivities
    from promptly.domain import calendar_event, errors, metrics, promises
    from promptly.domain.appointments import follow_up
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        AcknowledgeInput,
        AppointmentCase,
        AppointmentContinuation,
        AppointmentRequest,
        AppointmentStatus,
        AppointmentView,
        BillingOutcome,
        BillingRecord,
        CallOutcome,
        CancelInput,
        CheckInInput,
        ClientStandingRequest,
        CompleteInput,
        ConfirmInput,
        ExcuseNoShowInput,
        RecordCallOutcomeInput,
        ReportDelayInput,
        RescheduleInput,
        WaiveFeeInput,
    )
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        ActorKind,
        CaseKind,
        CaseSnapshot,
        Channel,
        PromiseKind,
        RecipientRole,
        TimelineEntry,
        TimelineKind,
    )
    from promptly.domain.messages import Recipient, SendMessageRequest
    from promptly.domain.surveys.models import SurveyRequest
    from promptly.domain.tasks import (
        CloseCaseTasksRequest,
        CloseTaskRequest,
        CreateTaskRequest,
        TaskKind,
    )
    from promptly.workflows.read_views import read_view, record_before_answer

APPOINTMENT_STATUS = SearchAttributeKey.for_keyword("AppointmentStatus")
CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")
PROVIDER_ID = SearchAttributeKey.for_keyword("ProviderId")
APPOINTMENT_START = SearchAttributeKey.for_datetime("AppointmentStart")

PREPAY_FLAG = "next visit must be booked and paid anew"

CLIENT_LINKS = ["confirm", "cancel", "reschedule"]
# The confirmation and the reminder also let the client say they run late (no-show policy).
VISIT_LINKS = [*CLIENT_LINKS, "late"]
PROVIDER_LINKS = ["acknowledge"]
# A reminder that went out this long after its planned time counts as late (metrics).
REMINDER_LATE_AFTER = timedelta(hours=1)
# Patch: the next call attempt closes the previous call task, left without an outcome, as
# `no_outcome` (before it, the superseded task stayed open in the front desk's list).
CLOSE_SUPERSEDED_CALL_TASK = "close-superseded-call-task"
# Patch: messages run beside the plan (started, supervised, cancelled when moot), every
# transition is decided before its awaits, and an ended case closes its staff tasks. Cases
# started before it keep awaiting their messages in line until they end.
BESIDE_THE_PLAN = "messages-beside-the-plan"
# Patch: a booking reads the client record first; after an unwaived no-show it is prepaid.
PREPAYMENT_AFTER_NO_SHOW = "prepayment-after-no-show"
# A supervisor alert tries this long before the front desk is asked to pass it on.
ALERT_BUDGET = timedelta(hours=2)
RECORD_TIMEOUT = timedelta(seconds=30)
# Transient channel failures back off up to this interval while the deadline allows.
MESSAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    non_retryable_error_types=[errors.INVALID_RECIPIENT, errors.UNKNOWN_TEMPLATE],
)


def _count(name: str, **labels: str) -> None:
    """A business counter; the SDK records nothing while replaying, so once per event."""
    workflow.metric_meter().create_counter(name, metrics.HELP.get(name)).add(1, labels or None)


@workflow.defn
class AppointmentWorkflow:
    @workflow.init
    def __init__(self, request: AppointmentRequest | AppointmentContinuation) -> None:
        self._case: AppointmentCase | None = None
        self._timeline: list[TimelineEntry] = []
        self._stored_entries = 0
        if isinstance(request, AppointmentContinuation):
            self._case = request.case
            self._timeline = list(request.timeline)
            self._stored_entries = request.stored_entries
        self._reschedules_at_start = self._case.reschedules if self._case else 0
        self._changes = 0
        self._saved_changes = -1
        # Changes that need no new plan (a send's outcome): they do not wake the planner, so
        # its timer is not cancelled and re-armed for nothing.
        self._quiet_changes = 0
        self._save_lock = asyncio.Lock()
        # Handlers await activities; one at a time keeps their writes in order.
        self._lock = asyncio.Lock()
        self._sends = Sends()
        # Decided once, in the first workflow task: a case replaying a history from before
        # the patch keeps the old command sequence for its whole run.
        self._beside = workflow.patched(BESIDE_THE_PLAN)
        self._promises = PromiseBook.opened(
            request.promises if isinstance(request, AppointmentContinuation) else ()
        )

    # --- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: AppointmentRequest | AppointmentContinuation) -> AppointmentView:
        if isinstance(request, AppointmentRequest):
            await self._book(request)
        while True:
            await self._save()
            # Sends in flight finish in this run first (each settling wakes this loop).
            if self._should_continue_as_new() and not self._sends.in_flight():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._sends.drain()
                await self._save()
                workflow.continue_as_new(
                    AppointmentContinuation(
                        case=self.case,
                        timeline=self._timeline,
                        stored_entries=self._stored_entries,
                        promises=self._promises.records(),
                    )
                )
            due = appointment_rules.next_step(self.case)
            if await self._changed_before(due.at):
                continue
            if due.step is appointment_rules.Step.CLOSE:
                break
            await self._run_step(due.step)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._beside:
            await self._sends.drain()
            await self._close_tasks(
                "case_closed", f"the case ended {self.case.status.value}", SYSTEM
            )
            await workflow.wait_condition(workflow.all_handlers_finished)
        self._promises.close(f"the case ended {self.case.status.value}")
        await self._save()
        return self._view()

    async def _book(self, request: AppointmentRequest) -> None:
        rules = await workflow.execute_local_activity_method(
            PolicyActivities.current_appointment_policy,
            start_to_close_timeout=timedelta(seconds=10),
        )
        # Booked when Temporal accepted the start, not when a busy worker first ran it
        # (`start_time` is the first workflow task: a worker outage made bookings look late).
        info = workflow.info()
        booked_at = info.workflow_start_time if self._beside else info.start_time
        try:
            appointment_rules.check_booking(request, booked_at)
        except appointment_rules.BookingRejected as err:
            raise ApplicationError(
                str(err), type=errors.INVALID_BOOKING, non_retryable=True
            ) from err
        case = appointment_rules.new_case(
            request, booked_at, rules, calls_before_free_cancellation=self._beside
        )
        if self._beside and workflow.patched(PREPAYMENT_AFTER_NO_SHOW):
            # Read by the workflow, not passed in by the caller: every way of booking (API,
            # CLI, a detractor follow-up) gets the rule, and the read is in the history.
            standing = await workflow.execute_activity_method(
                RecordsActivities.client_standing,
                ClientStandingRequest(client_id=request.client.id),
                start_to_close_timeout=RECORD_TIMEOUT,
                summary="client record: prepayment after a no-show",
            )
            case = case.model_copy(update={"prepayment_required": standing.prepayment_required})
        # Set once complete: a status query never shows a booking without its prepayment rule.
        self._case = case
        self._promises.make(promises.appointment_promises(case, booked_at))
        workflow.upsert_search_attributes(
            [
                APPOINTMENT_STATUS.value_set(self._case.status.value),
                CLIENT_ID.value_set(request.client.id),
                PROVIDER_ID.value_set(request.provider.id),
                APPOINTMENT_START.value_set(request.start),
            ]
        )
        self._note(
            TimelineKind.STATUS,
            SYSTEM,
            f"Booked {request.service}",
            status=AppointmentStatus.BOOKED.value,
            start=request.start.isoformat(),
        )
        if self._case.prepayment_required:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                "Prepayment required: the client's last no-show was not waived",
                prepayment_required=True,
            )
        if self._case.follow_up_rule is not None:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                follow_up.decision_text(
                    self._case.follow_up_rule,
                    self._case.response_deadline,
                    self._case.max_call_attempts,
                    follow_up.free_cancellation_line(request.start, rules),
                ),
                rule=self._case.follow_up_rule,
                response_deadline=self._case.response_deadline.isoformat(),
                call_attempts=self._case.max_call_attempts,
            )

    def _should_continue_as_new(self) -> bool:
        """Long-lived cases start a fresh history after many reschedules (bounded histories)."""
        changes = self.case.reschedules - self._reschedules_at_start
        return changes >= self.case.policy.continue_after_reschedules or (
            workflow.info().is_continue_as_new_suggested()
        )

    async def _changed_before(self, moment: datetime) -> bool:
        """Sleep until `moment`; True if an update changed the case first."""
        next_step = self._describe_wait(moment)
        delay = moment - workflow.now()
        if delay <= timedelta(0):
            return False
        seen = self._changes - self._quiet_changes
        try:
            await workflow.wait_condition(
                lambda: self._changes - self._quiet_changes != seen or self._may_continue(),
                timeout=delay,
                timeout_summary=next_step,
            )
        except TimeoutError:
            return False
        return True

    def _may_continue(self) -> bool:
        """Continue-as-new was put off for sends in flight, and they have all ended."""
        return self._beside and not self._sends.in_flight() and self._should_continue_as_new()

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        before = self._changes
        yield
        self._quiet_changes += self._changes - before

    async def _run_step(self, step: appointment_rules.Step) -> None:
        if self._beside:
            await self._run_step_beside(step)
            return
        if step is appointment_rules.Step.CONFIRMATION:
            await self._send_confirmation()
        elif step is appointment_rules.Step.PROVIDER_NOTICE:
            await self._notify_provider()
        elif step is appointment_rules.Step.PROVIDER_ACK_ALERT:
            await self._alert_supervisor(
                "provider_ack_missing",
                "Provider has not acknowledged",
                f"{self.case.request.provider.name} has not acknowledged the booking "
                f"by {self.case.provider_ack_deadline.isoformat()}.",
            )
            self._update(ack_alert_sent=True)
        elif step is appointment_rules.Step.REMINDER:
            reschedules = self.case.reschedules
            planned = self.case.reminder_at or workflow.now()
            sent = await self._send_to_client("reminder", deadline=self._reminder_window_end())
            if self.case.reschedules == reschedules:
                late = workflow.now() - planned > REMINDER_LATE_AFTER
                outcome = "late" if late else "on_time"
                _count(metrics.REMINDERS, outcome=outcome if sent else "failed")
                self._update(reminder_sent=True)
                if not sent:
                    self._flag("reminder not sent")
        elif step is appointment_rules.Step.FOLLOW_UP_CALL:
            await self._follow_up_call()
        elif step is appointment_rules.Step.NO_SHOW:
            await self._no_show()
        elif step is appointment_rules.Step.AUTO_COMPLETE:
            await self._complete(
                SYSTEM, "Checked in, nobody completed the visit: closed by the system"
            )

    async def _run_step_beside(self, step: appointment_rules.Step) -> None:
        """Each step decides on the current case first; its messages start beside the plan."""
        if step is appointment_rules.Step.CONFIRMATION:
            self._start_confirmation()
        elif step is appointment_rules.Step.PROVIDER_NOTICE:
            self._start_provider_notice()
        elif step is appointment_rules.Step.PROVIDER_ACK_ALERT:
            self._update(ack_alert_sent=True)
            self._promises.broken(PromiseKind.PROVIDER_ACK, "not acknowledged", self._provider)
            await self._alert_supervisor(
                "provider_ack_missing",
                "Provider has not acknowledged",
                f"{self.case.request.provider.name} has not acknowledged the booking "
                f"by {self.case.provider_ack_deadline.isoformat()}.",
            )
        elif step is appointment_rules.Step.REMINDER:
            self._start_reminder()
        elif step is appointment_rules.Step.FOLLOW_UP_CALL:
            await self._follow_up_call_beside()
        elif step is appointment_rules.Step.NO_SHOW:
            await self._no_show()
        elif step is appointment_rules.Step.AUTO_COMPLETE:
            await self._complete(
                SYSTEM, "Checked in, nobody completed the visit: closed by the system"
            )

    # --- messages beside the plan ----------------------------------------------------------

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
        link_actions: list[str] | None = None,
        extra: dict[str, object] | None = None,
        purpose: str | None = None,
    ) -> None:
        """Start one message beside the plan; its outcome is recorded when it ends.

        A message that cannot go out sets the flag `if_failed` and gives the front desk a task
        to pass it on (due `task_due`, at once by default); a cancelled one is only noted.
        """
        rounds = self.case.reschedules

        async def settle(message: SendMessageRequest, delivery: Delivery) -> None:
            with self._quietly():
                self._promises.delivered_by(group, delivery)
                self._note(delivery.kind, SYSTEM, delivery.detail, **delivery.data)
                if delivery.sent:
                    if on_sent is not None and self.case.reschedules == rounds:
                        on_sent()
                elif not delivery.cancelled:
                    self._flag(if_failed)
            if not delivery.sent and not delivery.cancelled:
                await self._hand_to_front_desk(message, delivery, task_kind, task_due)
            await self._save()

        self._sends.start(
            SendMessageRequest(
                idempotency_key=f"{self._workflow_id}/{purpose or group}/r{rounds}",
                case_id=self._workflow_id,
                template=template,
                channel=channel,
                to=to,
                context={**self._message_context(), **(extra or {})},
                link_actions=link_actions or [],
            ),
            group=group,
            budget=budget,
            retry=MESSAGE_RETRY,
            on_outcome=settle,
        )

    def _start_to_client(
        self,
        group: str,
        template: str,
        *,
        budget: timedelta,
        link_actions: list[str] | None = None,
        if_failed: str | None = None,
        **options: Any,
    ) -> None:
        client = self.case.request.client
        self._start_send(
            group,
            template,
            to_client(client),
            client.preferred_channel,
            budget=budget,
            if_failed=if_failed or f"{template.replace('_', ' ')} not sent",
            link_actions=CLIENT_LINKS if link_actions is None else link_actions,
            **options,
        )

    async def _hand_to_front_desk(
        self,
        message: SendMessageRequest,
        delivery: Delivery,
        kind: TaskKind,
        due: datetime | None,
    ) -> None:
        """A message that will not go out becomes a front-desk task to pass it on."""
        due_at = due or workflow.now()
        who = message.to.name or message.to.role.value
        what = message.template.replace("_", " ")
        title = (
            f"Confirm {self.case.request.client.name} by hand"
            if kind is TaskKind.SEND_CONFIRMATION_MANUALLY
            else f"Pass on the {what} to {who}"
        )
        task = await workflow.execute_activity_method(
            TaskActivities.create_task,
            CreateTaskRequest(
                idempotency_key=f"{message.idempotency_key}/by-hand",
                case_id=self._workflow_id,
                kind=kind,
                assignee=RecipientRole.FRONT_DESK,
                title=title,
                details=f"The {message.channel.value} {what} to {who} could not be sent "
                f"({delivery.data.get('reason', delivery.detail)}); pass it on before "
                f"{due_at.isoformat()}.",
                due_at=due_at,
                data={"template": message.template, "recipient": message.to.role.value},
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"front-desk task: pass on the {what}",
        )
        with self._quietly():
            self._note(
                TimelineKind.TASK,
                SYSTEM,
                f"Front desk asked to pass on the {what} by hand",
                task_id=task.task_id,
                kind=kind.value,
                template=message.template,
                due_at=due_at.isoformat(),
            )

    def _start_confirmation(self) -> None:
        case = self.case
        template = (
            "phone_confirmation"
            if case.request.client.preferred_channel is Channel.PHONE
            else "confirmation"
        )
        self._update(confirmation_attempted=True)
        give_up_at = appointment_rules.confirmation_give_up_at(case.booked_at, case.policy)
        self._start_to_client(
            "confirmation",
            template,
            budget=give_up_at - workflow.now(),
            task_kind=TaskKind.SEND_CONFIRMATION_MANUALLY,
            task_due=case.confirmation_deadline,
            on_sent=lambda: self._update(confirmation_sent=True),
            if_failed="confirmation not sent",
            link_actions=VISIT_LINKS,
        )

    def _start_provider_notice(self) -> None:
        provider = self.case.request.provider
        office = self.case.policy.business
        self._update(provider_notified=True)
        if provider.email is None:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                "Provider has no email: acknowledgement expected through staff",
            )
            return
        self._start_send(
            "provider_booking",
            "provider_booking",
            Recipient(
                role=RecipientRole.PROVIDER,
                name=provider.name,
                email=provider.email,
                # The provider reads times where they work: their own zone, else the office's.
                timezone=provider.timezone
                or (office.timezone if office else self.case.request.client.timezone),
            ),
            Channel.EMAIL,
            budget=self.case.provider_ack_deadline - workflow.now(),
            if_failed="provider notice not sent",
            link_actions=PROVIDER_LINKS,
        )

    def _start_reminder(self) -> None:
        planned = self.case.reminder_at or workflow.now()
        self._update(reminder_sent=True)

        def on_time() -> None:
            late = workflow.now() - planned > REMINDER_LATE_AFTER
            _count(metrics.REMINDERS, outcome="late" if late else "on_time")

        self._start_to_client(
            "reminder",
            "reminder",
            budget=self._reminder_window_end() - workflow.now(),
            on_sent=on_time,
            link_actions=VISIT_LINKS,
        )

    async def _cancel_sends(self, groups: list[str] | None = None) -> None:
        """Cancel the sends a change made moot; returns once none of them can go out."""
        await self._sends.cancel(groups)

    async def _cancel_sends_for_the_old_visit(self) -> None:
        """A cancel or a reschedule: every send planned for the visit as it was is moot; a fee
        waiver already granted still is news to the client."""
        await self._sends.cancel(self._sends.groups() - {"fee_waived"})

    async def _close_tasks(
        self, outcome: str, note: str, actor: Actor, kinds: list[TaskKind] | None = None
    ) -> None:
        """Close the case's open staff tasks (of `kinds`, or all) that no longer matter."""
        await workflow.execute_activity_method(
            TaskActivities.close_case_tasks,
            CloseCaseTasksRequest(
                case_id=self._workflow_id,
                outcome=outcome,
                note=note,
                closed_by=actor,
                kinds=kinds or [],
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"close open tasks: {outcome}",
        )

    # --- confirmation, reminder, provider --------------------------------------------------

    async def _send_confirmation(self) -> None:
        case = self.case
        template = (
            "phone_confirmation"
            if case.request.client.preferred_channel is Channel.PHONE
            else "confirmation"
        )
        give_up_at = appointment_rules.confirmation_give_up_at(case.booked_at, case.policy)
        sent = await self._send_to_client(template, deadline=give_up_at, step="confirmation")
        if self.case.reschedules != case.reschedules:
            return  # rescheduled meanwhile: the new time gets its own confirmation
        self._update(confirmation_attempted=True, confirmation_sent=sent)
        if sent:
            return
        task = await workflow.execute_activity_method(
            TaskActivities.create_task,
            CreateTaskRequest(
                idempotency_key=f"{self._workflow_id}/confirmation-task/{case.reschedules}",
                case_id=self._workflow_id,
                kind=TaskKind.SEND_CONFIRMATION_MANUALLY,
                assignee=RecipientRole.FRONT_DESK,
                title=f"Confirm {case.request.client.name} by hand",
                details=f"The {case.request.client.preferred_channel.value} confirmation could "
                f"not be sent; it must reach the client before "
                f"{case.confirmation_deadline.isoformat()}.",
                due_at=case.confirmation_deadline,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary="front-desk task: send the confirmation by hand",
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

    async def _notify_provider(self) -> None:
        provider = self.case.request.provider
        self._update(provider_notified=True)
        if provider.email is None:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                "Provider has no email: acknowledgement expected through staff",
            )
            return
        await self._send(
            "provider_booking",
            Recipient(
                role=RecipientRole.PROVIDER,
                name=provider.name,
                email=provider.email,
                timezone=self.case.request.client.timezone,
            ),
            Channel.EMAIL,
            deadline=self.case.provider_ack_deadline,
        )

    def _reminder_window_end(self) -> datetime:
        return self.case.request.start - self.case.policy.reminder_window_end

    async def _send_to_client(
        self,
        template: str,
        *,
        deadline: datetime,
        step: str | None = None,
        link_actions: list[str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> bool:
        client = self.case.request.client
        return await self._send(
            template,
            to_client(client),
            client.preferred_channel,
            deadline=deadline,
            step=step,
            link_actions=CLIENT_LINKS if link_actions is None else link_actions,
            extra=extra,
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
            SendMessageRequest(
                idempotency_key=f"{self._workflow_id}/{step or template}/"
                f"{self._send_round(template)}",
                case_id=self._workflow_id,
                template=template,
                channel=channel,
                to=to,
                context={**self._message_context(), **(extra or {})},
                link_actions=link_actions or [],
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
            for entry in self._timeline
            if entry.kind in (TimelineKind.MESSAGE, TimelineKind.MESSAGE_FAILED)
            and entry.data.get("template") == template
        )

    def _message_context(self) -> dict[str, object]:
        case = self.case
        request = case.request
        return {
            "case_id": self._workflow_id,
            "client_name": request.client.name,
            "client_id": request.client.id,
            "phone": request.client.phone or "",
            "email": request.client.email or "",
            "provider_name": request.provider.name,
            "service": request.service,
            "location": request.location,
            "start": request.start.isoformat(),
            "timezone": request.client.timezone,
            "instructions": request.instructions,
            "confirmed": case.status is AppointmentStatus.CONFIRMED,
            "ack_deadline": case.provider_ack_deadline.isoformat(),
            "deadline": case.confirmation_deadline.isoformat(),
            "channel": request.client.preferred_channel.value,
            "prepayment_required": case.prepayment_required,
            "reference": request.appointment_id,
            "price": (
                f"{request.price.amount:.2f} {request.price.currency}" if request.price else ""
            ),
            "reason": "",
            # The messaging activity attaches the calendar invitation built from this.
            "calendar": calendar_event.event_of(case, self._workflow_id).model_dump(mode="json"),
        }

    async def _alert_supervisor(self, key: str, title: str, reason: str) -> None:
        if self._beside:
            # Flagged at once; the alert goes beside the plan with a budget, and one that
            # cannot reach the supervisor becomes a front-desk task.
            self._flag(title.lower())
            self._start_send(
                f"alert:{key}",
                "supervisor_alert",
                Recipient(role=RecipientRole.SUPERVISOR),
                Channel.EMAIL,
                budget=ALERT_BUDGET,
                if_failed=f"supervisor not reached: {title.lower()}",
                extra={"reason_title": title, "reason": reason},
            )
            return
        try:
            await workflow.execute_activity_method(
                MessagingActivities.send_message,
                SendMessageRequest(
                    idempotency_key=f"{self._workflow_id}/alert/{key}/{self.case.reschedules}",
                    case_id=self._workflow_id,
                    template="supervisor_alert",
                    channel=Channel.EMAIL,
                    to=Recipient(role=RecipientRole.SUPERVISOR),
                    context={**self._message_context(), "reason_title": title, "reason": reason},
                ),
                start_to_close_timeout=MESSAGE_TIMEOUT,
                # A budget, and a refusal caught: an alert that cannot go out is a flag, never
                # a failed case (same commands as before for a case that got its alert out).
                schedule_to_close_timeout=ALERT_BUDGET,
                retry_policy=MESSAGE_RETRY,
                summary=f"supervisor alert: {title}",
            )
        except ActivityError as err:
            self._note(
                TimelineKind.MESSAGE_FAILED,
                SYSTEM,
                f"Supervisor alert failed: {title}: {err.cause or err}",
                template="supervisor_alert",
                channel=Channel.EMAIL.value,
                recipient=RecipientRole.SUPERVISOR.value,
            )
            self._flag(f"supervisor not reached: {title.lower()}")
            self._flag(title.lower())
            return
        self._note(
            TimelineKind.MESSAGE,
            SYSTEM,
            f"Supervisor alerted: {title}",
            template="supervisor_alert",
            channel=Channel.EMAIL.value,
            recipient=RecipientRole.SUPERVISOR.value,
            reason=reason,
        )
        self._flag(title.lower())

    # --- phone follow-up --------------------------------------------------------------------

    async def _follow_up_call(self) -> None:
        case = self.case
        if follow_up.follow_up_exhausted(case):
            self._update(next_call_at=None, awaiting_call_outcome=False)
            self._set_status(
                AppointmentStatus.UNCONFIRMED,
                SYSTEM,
                f"No confirmation after {case.call_attempts} call attempt(s)",
            )
            await self._alert_supervisor(
                "unconfirmed",
                "Client unconfirmed",
                f"{case.request.client.name} did not confirm; "
                f"{case.call_attempts} call attempt(s) made.",
            )
            return
        if case.awaiting_call_outcome:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                f"No outcome recorded for call attempt {case.call_attempts}: treated as no answer",
            )
            if workflow.patched(CLOSE_SUPERSEDED_CALL_TASK):
                await self._close_call_task(
                    "no_outcome", f"superseded by call attempt {case.call_attempts + 1}", SYSTEM
                )
        attempt = case.call_attempts + 1
        now = workflow.now()
        self._case = follow_up.after_call_attempt(case, now)
        task = await workflow.execute_activity_method(
            TaskActivities.create_task,
            CreateTaskRequest(
                idempotency_key=self._call_task_key(attempt),
                case_id=self._workflow_id,
                kind=TaskKind.CALL_CLIENT,
                assignee=RecipientRole.FRONT_DESK,
                title=f"Call {case.request.client.name} (attempt {attempt} of "
                f"{self.case.max_call_attempts})",
                details=f"{case.request.service} on {case.request.start.isoformat()} at "
                f"{case.request.location} is not confirmed. Phone: {case.request.client.phone}.",
                due_at=now,
                data={"attempt": attempt, "phone": case.request.client.phone},
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"call attempt {attempt} of {self.case.max_call_attempts}",
        )
        _count(metrics.CALL_ATTEMPTS)
        self._note(
            TimelineKind.MESSAGE,
            SYSTEM,
            f"Call task for the front desk: attempt {attempt} of {self.case.max_call_attempts}",
            template="call_task",
            channel=Channel.PHONE.value,
            task_id=task.task_id,
            attempt=attempt,
        )

    async def _follow_up_call_beside(self) -> None:
        """The next call attempt: decided on the current case, then the task is written."""
        case = self.case
        if follow_up.follow_up_exhausted(case):
            self._promises.broken(PromiseKind.FOLLOW_UP, f"no call made ({case.follow_up_rule})")
            self._update(next_call_at=None, awaiting_call_outcome=False)
            self._set_status(
                AppointmentStatus.UNCONFIRMED,
                SYSTEM,
                f"No confirmation after {case.call_attempts} call attempt(s)",
            )
            await self._alert_supervisor(
                "unconfirmed",
                "Client unconfirmed",
                f"{case.request.client.name} did not confirm; "
                f"{case.call_attempts} call attempt(s) made.",
            )
            return
        superseded = case.awaiting_call_outcome
        attempt = case.call_attempts + 1
        now = workflow.now()
        self._case = follow_up.after_call_attempt(case, now)
        self._changes += 1
        self._promises.met(PromiseKind.FOLLOW_UP, cause_if_late=case.follow_up_rule)
        if superseded:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                f"No outcome recorded for call attempt {case.call_attempts}: treated as no answer",
            )
        _count(metrics.CALL_ATTEMPTS)
        max_attempts = self.case.max_call_attempts
        if superseded:
            await self._close_task(
                self._call_task_key(attempt - 1),
                "no_outcome",
                f"superseded by call attempt {attempt}",
                SYSTEM,
            )
        task = await workflow.execute_activity_method(
            TaskActivities.create_task,
            CreateTaskRequest(
                idempotency_key=self._call_task_key(attempt),
                case_id=self._workflow_id,
                kind=TaskKind.CALL_CLIENT,
                assignee=RecipientRole.FRONT_DESK,
                title=f"Call {case.request.client.name} (attempt {attempt} of {max_attempts})",
                details=f"{case.request.service} on {case.request.start.isoformat()} at "
                f"{case.request.location} is not confirmed. Phone: {case.request.client.phone}.",
                due_at=now,
                data={"attempt": attempt, "phone": case.request.client.phone},
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"call attempt {attempt} of {max_attempts}",
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

    async def _close_task(self, key: str, outcome: str, note: str, actor: Actor) -> None:
        await workflow.execute_activity_method(
            TaskActivities.close_task,
            CloseTaskRequest(idempotency_key=key, outcome=outcome, note=note, closed_by=actor),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"close task: {outcome}",
        )

    def _call_task_key(self, attempt: int) -> str:
        return f"{self._workflow_id}/call/{attempt}"

    async def _close_call_task(self, outcome: str, note: str, actor: Actor) -> None:
        if self.case.call_attempts == 0:
            return
        await workflow.execute_activity_method(
            TaskActivities.close_task,
            CloseTaskRequest(
                idempotency_key=self._call_task_key(self.case.call_attempts),
                outcome=outcome,
                note=note,
                closed_by=actor,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"close call task {self.case.call_attempts}: {outcome}",
        )

    # --- updates ------------------------------------------------------------------------------

    @asynccontextmanager
    async def _deciding(self) -> AsyncIterator[None]:
        """An update's turn: one handler at a time, and the case stored before the update
        answers, so the API's GET (PostgreSQL) never shows less than the update returned.
        A refused update stores nothing."""
        async with self._lock:
            yield
            if record_before_answer():
                await self._save()

    @workflow.update
    async def confirm(self, command: ConfirmInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("confirm")
            if self.case.status is AppointmentStatus.CONFIRMED:
                return self._view()
            via = f" by {command.channel.value} reply" if command.channel else ""
            if self._beside:
                self._promises.not_applicable(PromiseKind.FOLLOW_UP, "client confirmed")
                self._update(next_call_at=None, awaiting_call_outcome=False)
                self._set_status(
                    AppointmentStatus.CONFIRMED, command.actor, f"Client confirmed{via}"
                )
                await self._confirmation_follow_ups_moot("confirmed", command.actor)
                return self._view()
            await self._close_call_task("confirmed", "client confirmed", command.actor)
            self._update(next_call_at=None, awaiting_call_outcome=False)
            self._set_status(AppointmentStatus.CONFIRMED, command.actor, f"Client confirmed{via}")
            return self._view()

    @confirm.validator
    def validate_confirm(self, command: ConfirmInput) -> None:
        self._refuse_unless_allowed("confirm")

    @workflow.update
    async def acknowledge(self, command: AcknowledgeInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("acknowledge")
            if not self.case.provider_acknowledged:
                self._promises.met(PromiseKind.PROVIDER_ACK, actor=command.actor)
                self._update(provider_acknowledged=True)
                self._note(TimelineKind.ACTION, command.actor, "Provider acknowledged the booking")
            return self._view()

    @acknowledge.validator
    def validate_acknowledge(self, command: AcknowledgeInput) -> None:
        self._refuse_unless_allowed("acknowledge")

    @workflow.update
    async def record_call_outcome(self, command: RecordCallOutcomeInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self.validate_record_call_outcome(command)
            if self._beside:
                await self._record_call_outcome_beside(command)
                return self._view()
            attempt = self.case.call_attempts
            await self._close_call_task(command.outcome.value, command.note, command.actor)
            _count(metrics.CALL_OUTCOMES, outcome=command.outcome.value)
            self._update(awaiting_call_outcome=False)
            self._note(
                TimelineKind.ACTION,
                command.actor,
                f"Call attempt {attempt}: {command.outcome.value}"
                + (f" ({command.note})" if command.note else ""),
                outcome=command.outcome.value,
                attempt=attempt,
                note=command.note,
            )
            if command.outcome is CallOutcome.REACHED_CONFIRMED:
                self._update(next_call_at=None)
                self._set_status(
                    AppointmentStatus.CONFIRMED, command.actor, "Client confirmed by phone"
                )
            elif command.outcome is CallOutcome.WRONG_NUMBER:
                self._update(next_call_at=None)
                self._set_status(
                    AppointmentStatus.UNCONFIRMED,
                    command.actor,
                    "Wrong number: the client cannot be reached by phone",
                )
                await self._alert_supervisor(
                    "wrong_number",
                    "Wrong phone number",
                    f"{self.case.request.client.phone} is not {self.case.request.client.name}'s.",
                )
            elif command.outcome is CallOutcome.REACHED_CANCELLED:
                self._update(next_call_at=None)
                self._flag("client asked by phone to cancel")
            elif command.outcome is CallOutcome.REACHED_RESCHEDULED:
                self._update(next_call_at=None)
                self._flag("client asked by phone to reschedule")
            return self._view()

    @record_call_outcome.validator
    def validate_record_call_outcome(self, command: RecordCallOutcomeInput) -> None:
        self._refuse_unless_allowed("record_call_outcome")
        if not self._beside or command.outcome is not CallOutcome.REACHED_RESCHEDULED:
            return
        if command.new_start is None:
            raise ApplicationError(
                "record_call_outcome refused: reached_rescheduled needs new_start, the time "
                "agreed with the client",
                type=errors.TRANSITION_REFUSED,
                non_retryable=True,
            )
        if self._case is not None:
            refusal = appointment_rules.reschedule_refusal(
                self._case, command.new_start, workflow.now()
            )
            if refusal is not None:
                raise ApplicationError(refusal, type=errors.TRANSITION_REFUSED, non_retryable=True)

    @workflow.update
    async def check_in(self, command: CheckInInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("check_in")
            self._set_status(AppointmentStatus.CHECKED_IN, command.actor, "Client checked in")
            self._promises.close("client checked in", promises.SETTLED_BY_CHECK_IN)
            if self._beside:
                await self._confirmation_follow_ups_moot("checked_in", command.actor)
            return self._view()

    @check_in.validator
    def validate_check_in(self, command: CheckInInput) -> None:
        self._refuse_unless_allowed("check_in")

    @workflow.update
    async def complete(self, command: CompleteInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("complete")
            await self._complete(command.actor, "Visit completed")
            return self._view()

    @complete.validator
    def validate_complete(self, command: CompleteInput) -> None:
        self._refuse_unless_allowed("complete")

    @workflow.update
    async def cancel(self, command: CancelInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("cancel")
            if self._beside:
                await self._cancel_beside(command)
                return self._view()
            decision = appointment_rules.cancellation(self.case, command.actor, workflow.now())
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
            return self._view()

    @cancel.validator
    def validate_cancel(self, command: CancelInput) -> None:
        self._refuse_unless_allowed("cancel")

    @workflow.update
    async def reschedule(self, command: RescheduleInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self.validate_reschedule(command)
            if self._beside:
                await self._reschedule_beside(command)
                return self._view()
            now = workflow.now()
            old = self.case
            if old.status not in FINAL_APPOINTMENT_STATUSES and not old.free_reschedule:
                if appointment_rules.is_late_change(old.request.start, now, old.policy):
                    await self._record_billing(
                        BillingOutcome.LATE_CANCEL, command.actor, "late reschedule"
                    )
            self._case = appointment_rules.rescheduled(old, command.new_start, now)
            self._changes += 1
            self._note(
                TimelineKind.STATUS,
                command.actor,
                f"Rescheduled from {old.request.start.isoformat()} to "
                f"{command.new_start.isoformat()}",
                status=AppointmentStatus.BOOKED.value,
                previous=old.status.value,
                start=command.new_start.isoformat(),
                previous_start=old.request.start.isoformat(),
            )
            workflow.upsert_search_attributes(
                [
                    APPOINTMENT_STATUS.value_set(AppointmentStatus.BOOKED.value),
                    APPOINTMENT_START.value_set(command.new_start),
                ]
            )
            return self._view()

    @reschedule.validator
    def validate_reschedule(self, command: RescheduleInput) -> None:
        if self._case is None:
            return
        refusal = appointment_rules.reschedule_refusal(
            self._case, command.new_start, workflow.now()
        )
        if refusal is not None:
            raise ApplicationError(refusal, type=errors.TRANSITION_REFUSED, non_retryable=True)

    @workflow.update
    async def report_delay(self, command: ReportDelayInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("report_delay")
            actor = command.actor or Actor(
                kind=ActorKind.PROVIDER, id=self.case.request.provider.id
            )
            if self._beside and actor.kind is ActorKind.CLIENT:
                self._report_client_late(command, actor)
                return self._view()
            minutes = self.case.delay_minutes + command.minutes
            self._update(delay_minutes=minutes, free_reschedule=True)
            estimate = self.case.request.start + timedelta(minutes=minutes)
            self._note(
                TimelineKind.ACTION,
                actor,
                f"Provider delayed by {command.minutes} min: {command.reason}",
                minutes=command.minutes,
                new_estimate=estimate.isoformat(),
            )
            if self._beside:
                # A newer estimate supersedes the notice still on its way.
                await self._cancel_sends(["delay"])
                self._start_to_client(
                    "delay",
                    "delay_notice",
                    purpose=f"delay-{minutes}",
                    budget=timedelta(minutes=15),
                    link_actions=["reschedule", "cancel"],
                    extra={"estimate": estimate.isoformat(), "minutes": minutes},
                )
                return self._view()
            await self._send_to_client(
                "delay_notice",
                deadline=workflow.now() + timedelta(minutes=15),
                step=f"delay-{self.case.reschedules}-{minutes}",
                link_actions=["reschedule", "cancel"],
                extra={"estimate": estimate.isoformat(), "minutes": minutes},
            )
            return self._view()

    @report_delay.validator
    def validate_report_delay(self, command: ReportDelayInput) -> None:
        self._refuse_unless_allowed("report_delay")

    @workflow.update
    async def excuse_no_show(self, command: ExcuseNoShowInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("excuse_no_show")
            request = self.case.request
            actor = command.actor or Actor(kind=ActorKind.CLIENT, id=request.client.id)
            self._update(excuse=command.reason)
            task = await workflow.execute_activity_method(
                TaskActivities.create_task,
                CreateTaskRequest(
                    idempotency_key=f"{self._workflow_id}/excuse/{self.case.reschedules}",
                    case_id=self._workflow_id,
                    kind=TaskKind.PROVIDER_DECISION,
                    assignee=RecipientRole.PROVIDER,
                    title=f"Decide on {request.client.name}'s no-show excuse",
                    details=f"Excuse: {command.reason}. Waive the fee (force majeure) with "
                    "waive_fee, or let the no-show fee stand.",
                    due_at=appointment_rules.closes_at(self.case),
                    data={"provider_id": request.provider.id},
                ),
                start_to_close_timeout=RECORD_TIMEOUT,
                summary="provider decision: no-show excuse",
            )
            self._note(
                TimelineKind.ACTION,
                actor,
                f"No-show excused: {command.reason}",
                task_id=task.task_id,
            )
            return self._view()

    @excuse_no_show.validator
    def validate_excuse_no_show(self, command: ExcuseNoShowInput) -> None:
        self._refuse_unless_allowed("excuse_no_show")

    @workflow.update
    async def waive_fee(self, command: WaiveFeeInput) -> AppointmentView:
        async with self._deciding():
            await workflow.wait_condition(lambda: self._case is not None)
            self._refuse_unless_allowed("waive_fee")
            if self._beside and self.case.status not in FINAL_APPOINTMENT_STATUSES:
                await self._waive_reschedule_fee(command)
                return self._view()
            self._update(free_reschedule=True, free_reschedule_granted_at=workflow.now())
            if self._beside:
                self._promises.waived(PromiseKind.NO_SHOW, command.reason, command.actor)
                record = self._decide_billing(BillingOutcome.WAIVED, command.actor, command.reason)
                self._unflag(PREPAY_FLAG)
                self._start_to_client(
                    "fee_waived",
                    "fee_waived",
                    budget=timedelta(hours=1),
                    link_actions=["reschedule"],
                    extra={"reason": command.reason},
                )
                await self._write_billing(record)
                return self._view()
            await self._record_billing(BillingOutcome.WAIVED, command.actor, command.reason)
            self._unflag(PREPAY_FLAG)
            await self._send_to_client(
                "fee_waived",
                deadline=workflow.now() + timedelta(hours=1),
                step=f"fee-waived-{self.case.reschedules}",
                link_actions=["reschedule"],
                extra={"reason": command.reason},
            )
            return self._view()

    @waive_fee.validator
    def validate_waive_fee(self, command: WaiveFeeInput) -> None:
        self._refuse_unless_allowed("waive_fee")

    # --- after the visit -------------------------------------------------------------------------

    async def _no_show(self) -> None:
        if self._beside:
            await self._no_show_beside()
            return
        self._set_status(
            AppointmentStatus.NO_SHOW,
            SYSTEM,
            "Not checked in 15 minutes after the start: no-show (counts as held)",
        )
        await self._record_billing(BillingOutcome.NO_SHOW, SYSTEM, "not checked in")
        _count(metrics.NO_SHOWS)
        self._flag(PREPAY_FLAG)
        await self._send_to_client(
            "no_show_notice",
            deadline=workflow.now() + timedelta(hours=24),
            step=f"no-show-{self.case.reschedules}",
        )

    async def _complete(self, actor: Actor, detail: str) -> None:
        self._set_status(AppointmentStatus.COMPLETED, actor, detail)
        if self._beside:
            await self._write_billing(self._decide_billing(BillingOutcome.HELD, actor, detail))
        else:
            await self._record_billing(BillingOutcome.HELD, actor, detail)
        if self.case.survey_started:
            return
        request = self.case.request
        survey = await workflow.start_child_workflow(
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
            ),
            id=f"survey-{self._workflow_id}",
            parent_close_policy=ParentClosePolicy.ABANDON,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            static_summary=f"survey after {request.service} · client {request.client.id}",
            # Found with the client's other cases (`ClientId = "C-17"`) in the UI.
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CLIENT_ID, request.client.id)]
            ),
        )
        self._update(survey_started=True)
        self._note(TimelineKind.DECISION, SYSTEM, "Survey scheduled", survey_id=survey.id)

    async def _record_billing(self, outcome: BillingOutcome, actor: Actor, reason: str) -> None:
        case = self.case
        await workflow.execute_activity_method(
            RecordsActivities.record_billing,
            BillingRecord(
                idempotency_key=f"{self._workflow_id}/billing/{len(self._timeline)}",
                case_id=self._workflow_id,
                appointment_id=case.request.appointment_id,
                client_id=case.request.client.id,
                outcome=outcome,
                decided_by=actor,
                reason=reason,
                decided_at=workflow.now(),
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"billing: {outcome.value}",
        )
        self._update(billing=outcome)
        self._note(
            TimelineKind.DECISION,
            actor,
            f"Billing: {outcome.value} ({reason})",
            billing=outcome.value,
            reason=reason,
        )

    def _decide_billing(
        self, outcome: BillingOutcome, actor: Actor, reason: str, *, in_case: bool = True
    ) -> BillingRecord:
        """The billing decision, in the case and the timeline now; written by `_write_billing`."""
        record = BillingRecord(
            idempotency_key=f"{self._workflow_id}/billing/{len(self._timeline)}",
            case_id=self._workflow_id,
            appointment_id=self.case.request.appointment_id,
            client_id=self.case.request.client.id,
            outcome=outcome,
            decided_by=actor,
            reason=reason,
            decided_at=workflow.now(),
        )
        if in_case:
            self._update(billing=outcome)
        self._note(
            TimelineKind.DECISION,
            actor,
            f"Billing: {outcome.value} ({reason})",
            billing=outcome.value,
            reason=reason,
        )
        return record

    async def _write_billing(self, record: BillingRecord) -> None:
        await workflow.execute_activity_method(
            RecordsActivities.record_billing,
            record,
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"billing: {record.outcome.value}",
        )

    # --- transitions beside the plan: decided first, then the awaits ----------------------

    async def _confirmation_follow_ups_moot(
        self, outcome: str, actor: Actor, *, client_answered: bool = True
    ) -> None:
        """The client confirmed, came or the visit passed: calls and hand confirmations no
        longer matter; an alert that the client is unconfirmed does only if they answered."""
        if client_answered:
            await self._cancel_sends(["alert:unconfirmed", "alert:wrong_number"])
        if self.case.call_attempts:
            await self._close_task(
                self._call_task_key(self.case.call_attempts), outcome, f"client {outcome}", actor
            )
        await self._close_tasks(
            outcome, f"client {outcome}", actor, kinds=[TaskKind.SEND_CONFIRMATION_MANUALLY]
        )

    async def _record_call_outcome_beside(self, command: RecordCallOutcomeInput) -> None:
        attempt = self.case.call_attempts
        _count(metrics.CALL_OUTCOMES, outcome=command.outcome.value)
        self._update(awaiting_call_outcome=False)
        self._note(
            TimelineKind.ACTION,
            command.actor,
            f"Call attempt {attempt}: {command.outcome.value}"
            + (f" ({command.note})" if command.note else ""),
            outcome=command.outcome.value,
            attempt=attempt,
            note=command.note,
        )
        outcome = command.outcome
        if outcome is not CallOutcome.NO_ANSWER:
            self._update(next_call_at=None)
        if outcome is CallOutcome.REACHED_CONFIRMED:
            self._set_status(
                AppointmentStatus.CONFIRMED, command.actor, "Client confirmed by phone"
            )
        elif outcome is CallOutcome.WRONG_NUMBER:
            self._set_status(
                AppointmentStatus.UNCONFIRMED,
                command.actor,
                "Wrong number: the client cannot be reached by phone",
            )
            await self._alert_supervisor(
                "wrong_number",
                "Wrong phone number",
                f"{self.case.request.client.phone} is not {self.case.request.client.name}'s.",
            )
        elif outcome is CallOutcome.REACHED_CANCELLED:
            # What the client said on the phone is done, with the fee rule of the moment; the
            # call task closes with the case's other tasks.
            reason = command.note or "client asked by phone to cancel"
            await self._cancel_beside(CancelInput(reason=reason, actor=command.actor))
            return
        elif outcome is CallOutcome.REACHED_RESCHEDULED and command.new_start is not None:
            await self._reschedule_beside(
                RescheduleInput(new_start=command.new_start, actor=command.actor)
            )
            return
        await self._close_task(
            self._call_task_key(attempt), outcome.value, command.note, command.actor
        )
        if outcome is CallOutcome.REACHED_CONFIRMED:
            await self._confirmation_follow_ups_moot("confirmed", command.actor)

    async def _cancel_beside(self, command: CancelInput) -> None:
        decision = appointment_rules.cancellation(
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
        self._promises.close(f"cancelled: {command.reason}")
        record = self._decide_billing(decision.billing, command.actor, command.reason)
        # Nothing planned for the booked visit may reach anyone after this update returns.
        await self._cancel_sends_for_the_old_visit()
        await self._close_tasks("cancelled", f"appointment cancelled: {command.reason}", SYSTEM)
        self._start_to_client(
            "cancellation",
            "cancellation",
            budget=timedelta(hours=1),
            link_actions=["reschedule"] if decision.free_reschedule else [],
            extra={"outcome": decision.billing.value, "reason": command.reason},
        )
        await self._write_billing(record)

    async def _reschedule_beside(self, command: RescheduleInput) -> None:
        now = workflow.now()
        old = self.case
        late = appointment_rules.reschedule_charged(old, command.actor, now)
        self._case = appointment_rules.rescheduled(old, command.new_start, now).model_copy(
            update={"reschedule_fee_pending": late or old.reschedule_fee_pending}
        )
        self._changes += 1
        self._promises.make(promises.rescheduled_promises(self.case, now))
        self._note(
            TimelineKind.STATUS,
            command.actor,
            f"Rescheduled from {old.request.start.isoformat()} to {command.new_start.isoformat()}",
            status=AppointmentStatus.BOOKED.value,
            previous=old.status.value,
            start=command.new_start.isoformat(),
            previous_start=old.request.start.isoformat(),
        )
        workflow.upsert_search_attributes(
            [
                APPOINTMENT_STATUS.value_set(AppointmentStatus.BOOKED.value),
                APPOINTMENT_START.value_set(command.new_start),
            ]
        )
        # The new time is billed afresh: the late fee is recorded, not carried into the case.
        record = (
            self._decide_billing(
                BillingOutcome.LATE_CANCEL, command.actor, "late reschedule", in_case=False
            )
            if late
            else None
        )
        await self._cancel_sends_for_the_old_visit()
        await self._close_tasks(
            "rescheduled", f"moved to {command.new_start.isoformat()}", command.actor
        )
        if record is not None:
            await self._write_billing(record)

    async def _waive_reschedule_fee(self, command: WaiveFeeInput) -> None:
        """The late-reschedule fee is lifted; the visit at its new time stands as booked, and
        (as the waiver notice says) a further change is free."""
        self._update(reschedule_fee_pending=False, free_reschedule=True)
        record = self._decide_billing(
            BillingOutcome.WAIVED, command.actor, command.reason, in_case=False
        )
        self._start_to_client(
            "fee_waived",
            "fee_waived",
            purpose=f"fee-waived-{len(self._timeline)}",
            budget=timedelta(hours=1),
            link_actions=["reschedule"],
            extra={"reason": command.reason},
        )
        await self._write_billing(record)

    def _report_client_late(self, command: ReportDelayInput, actor: Actor) -> None:
        """The client runs late: the no-show moment moves (up to the limit); no fee rule does."""
        minutes = appointment_rules.client_late_minutes_after(self.case, command.minutes)
        self._update(client_late_minutes=minutes)
        self._note(
            TimelineKind.ACTION,
            actor,
            f"Client running {command.minutes} min late: {command.reason}",
            minutes=command.minutes,
            counted_minutes=minutes,
            no_show_at=appointment_rules.no_show_moment(self.case).isoformat(),
        )

    async def _no_show_beside(self) -> None:
        self._update(next_call_at=None, awaiting_call_outcome=False)
        self._set_status(
            AppointmentStatus.NO_SHOW,
            SYSTEM,
            "Not checked in 15 minutes after the start: no-show (counts as held)",
        )
        self._promises.met(PromiseKind.NO_SHOW)
        record = self._decide_billing(BillingOutcome.NO_SHOW, SYSTEM, "not checked in")
        _count(metrics.NO_SHOWS)
        self._flag(PREPAY_FLAG)
        self._start_to_client("no_show", "no_show_notice", budget=timedelta(hours=24))
        await self._confirmation_follow_ups_moot("no_show", SYSTEM, client_answered=False)
        await self._write_billing(record)

    @workflow.query
    def status(self) -> AppointmentView:
        return self._view()

    # --- state helpers --------------------------------------------------------------------------

    @property
    def case(self) -> AppointmentCase:
        if self._case is None:
            raise ApplicationError(
                "the appointment is still being booked; try again in a moment",
                type=errors.TRANSITION_REFUSED,
            )
        return self._case

    @property
    def _workflow_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def _provider(self) -> Actor:
        return Actor(kind=ActorKind.PROVIDER, id=self.case.request.provider.id)

    def _refuse_unless_allowed(self, update: str) -> None:
        if self._case is None:
            return  # still booking: the handler waits for the case and judges then
        refusal = appointment_rules.transition_refusal(
            update, self._case, workflow.now(), moved_no_show=self._beside
        )
        if refusal is not None:
            raise ApplicationError(refusal, type=errors.TRANSITION_REFUSED, non_retryable=True)

    def _update(self, **changes: object) -> None:
        self._case = self.case.model_copy(update=changes)
        self._changes += 1

    def _flag(self, concern: str) -> None:
        if concern not in self.case.needs_attention:
            self._update(needs_attention=[*self.case.needs_attention, concern])

    def _unflag(self, concern: str) -> None:
        if concern in self.case.needs_attention:
            self._update(needs_attention=[c for c in self.case.needs_attention if c != concern])

    def _set_status(self, status: AppointmentStatus, actor: Actor, detail: str) -> None:
        previous = self.case.status
        final = status in FINAL_APPOINTMENT_STATUSES
        self._update(status=status, closed_at=workflow.now() if final else None)
        self._note(TimelineKind.STATUS, actor, detail, status=status.value, previous=previous.value)
        workflow.upsert_search_attributes([APPOINTMENT_STATUS.value_set(status.value)])

    def _note(self, kind: TimelineKind, actor: Actor, detail: str, /, **data: object) -> None:
        self._timeline.append(
            TimelineEntry(at=workflow.now(), kind=kind, actor=actor, detail=detail, data=data)
        )
        self._changes += 1

    def _describe_wait(self, until: datetime) -> str:
        """Set the UI's current details; returns the next step, the summary of its timer."""
        case = self.case
        step = appointment_rules.next_step(case)
        waiting_for = step.step.value.replace("_", " ") if step else "closing"
        next_step = f"{waiting_for} at {until.isoformat()}"
        workflow.set_current_details(
            f"**{case.status.value}** · visit {case.request.start.isoformat()} · next: "
            f"{next_step}"
            + (
                f" · needs attention: {', '.join(case.needs_attention)}"
                if case.needs_attention
                else ""
            )
        )
        return next_step

    async def _save(self) -> None:
        """Store the case row and the timeline entries PostgreSQL has not seen yet."""
        # The planner and the sends' supervisors save; one at a time, newest last.
        async with self._save_lock:
            await self._save_now()

    async def _save_now(self) -> None:
        self._promises.follow(promises.appointment_dues(self.case))
        if self._saved_changes == self._changes and not self._promises.dirty:
            return
        self._saved_changes = self._changes
        case = self.case
        new_entries = self._timeline[self._stored_entries :]
        changed_promises = self._promises.unsaved()
        await workflow.execute_activity_method(
            RecordsActivities.record_case,
            CaseSnapshot(
                case_id=self._workflow_id,
                read_view=read_view(self._view(), self._changes),
                kind=CaseKind.APPOINTMENT,
                business_id=case.request.appointment_id,
                status=case.status.value,
                client_id=case.request.client.id,
                provider_id=case.request.provider.id,
                starts_at=case.request.start,
                details={
                    "needs_attention": case.needs_attention,
                    "call_attempts": case.call_attempts,
                    # What the providers' calendar feeds show (no client contact details).
                    "calendar": calendar_event.event_of(case, self._workflow_id).model_dump(
                        mode="json"
                    ),
                },
                first_seq=self._stored_entries,
                entries=new_entries,
                promises=changed_promises,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary="record case",
        )
        self._stored_entries += len(new_entries)
        self._promises.saved(changed_promises)

    def _view(self) -> AppointmentView:
        case = self.case
        return AppointmentView(
            appointment_id=case.request.appointment_id,
            status=case.status,
            start=case.request.start,
            booked_at=case.booked_at,
            confirmation_deadline=case.confirmation_deadline,
            provider_ack_deadline=case.provider_ack_deadline,
            reminder_at=case.reminder_at,
            response_deadline=case.response_deadline,
            next_call_at=case.next_call_at,
            confirmation_sent=case.confirmation_sent,
            reminder_sent=case.reminder_sent,
            provider_acknowledged=case.provider_acknowledged,
            call_attempts=case.call_attempts,
            max_call_attempts=case.max_call_attempts,
            needs_attention=case.needs_attention,
            billing=case.billing,
            free_reschedule=case.free_reschedule,
            delay_minutes=case.delay_minutes,
            reschedules=case.reschedules,
            follow_up_rule=case.follow_up_rule,
            prepayment_required=case.prepayment_required,
            no_show_at=appointment_rules.no_show_moment(case),
            timeline=list(self._timeline),
        )
