"""One customer inquiry (DESIGN.md §1, inquiries): acknowledged at once, answered by staff.

Unanswered at 24h the front desk is alerted, at 48h the supervisor. `answer` sends the
answer to the customer (template `inquiry_answer`); `promote` files a complaint with the
same reference when the inquiry turns out to be one. After either, the case stays open a
day so late updates get a clear refusal, then ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from promptly.workflows.case import (
    CaseRow,
    attention_note,
    opened,
    refuse,
    refuse_actor,
    step_summary,
    transition,
)
from promptly.workflows.case_sends import (
    SendingCase,
    client_message_task,
    staff_message_task,
)
from promptly.workflows.case_start import opened_by
from promptly.workflows.messages import deliver, message_retry, to_client
from promptly.workflows.search_attributes import CLIENT_ID, INQUIRY_STATUS, SLA_DEADLINE

with workflow.unsafe.imports_passed_through():
    from promptly.activities.inquiries import InquiryActivities
    from promptly.domain import errors
    from promptly.domain import promises as ledger
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        CaseKind,
        Channel,
        PromiseKind,
        RecipientRole,
        TimelineKind,
        flagged,
        unflagged,
    )
    from promptly.domain.inquiries import rules as inquiries
    from promptly.domain.inquiries.models import (
        AnswerInquiryInput,
        InquiryCase,
        InquiryRequest,
        InquiryStatus,
        InquiryView,
        PromoteInquiryInput,
    )
    from promptly.domain.inquiries.rules import InquiryStep
    from promptly.domain.messages import Recipient, SendMessageRequest
    from promptly.domain.readable_time import in_hours, readable
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT
    from promptly.workflows.read_views import status_view


RULES_TIMEOUT = timedelta(seconds=10)
MESSAGE_BUDGET = timedelta(hours=1)
MESSAGE_RETRY = message_retry(maximum_interval=timedelta(minutes=10))
# What an unanswered inquiry flags: the front desk's alert [False], the supervisor's [True].
OVERDUE_FLAGS = ("answer overdue", "escalated to the supervisor")


@workflow.defn
class InquiryWorkflow(SendingCase):
    _kind = CaseKind.INQUIRY

    @workflow.init
    def __init__(self, request: InquiryRequest) -> None:
        self._request = request
        self._case: InquiryCase | None = None
        self._lock = asyncio.Lock()
        # What the planner waits for, so a flag raised meanwhile can say so in the UI at once.
        self._waiting_for: inquiries.InquiryDue | None = None
        self._open_books(retry=MESSAGE_RETRY, summary="record inquiry", skip_unchanged=False)

    @workflow.run
    async def run(self, request: InquiryRequest) -> InquiryView:
        rules = await workflow.execute_local_activity_method(
            InquiryActivities.inquiry_policy,
            start_to_close_timeout=RULES_TIMEOUT,
            summary="inquiry service levels",
        )
        async with self._lock:
            self._case = inquiries.new_inquiry(request, workflow.info().workflow_start_time, rules)
            self._promises.make(
                ledger.inquiry_promise(self.case.received_at, inquiries.supervisor_at(self.case))
            )
            self._note(
                TimelineKind.STATUS,
                opened_by(),
                f"Inquiry received via {request.received_via.value}: {request.subject}; "
                # ISO: every reader shows it in their own zone (readable_time.readable_text).
                f"answer due {(self.case.received_at + rules.answer_within).isoformat()}",
                status=InquiryStatus.OPEN.value,
                answer_deadline=inquiries.answer_deadline(self.case).isoformat(),
                # The customer's words: the record compliance reads (the history export).
                question=request.question,
            )
            self._publish()
            sent = await self._send(
                "inquiry_ack", to_client(request.customer), if_failed="acknowledgement not sent"
            )
            if not sent:
                self._flag("acknowledgement not sent")
            await self._save()

        while True:
            due = inquiries.inquiry_next_step(self.case)
            if await self._changed_before(due):
                continue  # an update changed the case: ask again
            async with self._lock:
                if due is None or inquiries.inquiry_next_step(self.case) != due:
                    continue
                if due.step is InquiryStep.FINISH:
                    break
                await self._alert(due.step)
                await self._save()

        await self._drain()
        await self._close_books(f"the inquiry ended {self.case.status.value}")
        return self._view()

    async def _changed_before(self, due: inquiries.InquiryDue | None) -> bool:
        """Sleep until `due` (forever if None); True if an update changed the case first."""
        self._describe(due)
        if due is None:
            return await self._journal.changed_before(None, "")
        return await self._journal.changed_before(due.at, step_summary(due.step.value, due.at))

    # --- what the workflow does on its own -----------------------------------------------------

    async def _alert(self, step: InquiryStep) -> None:
        supervisor = step is InquiryStep.ALERT_SUPERVISOR
        self._case = inquiries.alerted(self.case)
        waited = workflow.now() - self.case.received_at
        who = "supervisor" if supervisor else "front desk"
        detail = f"Unanswered after {in_hours(waited)}h: {who} alerted"
        self._note(TimelineKind.DECISION, SYSTEM, detail, alert=who)
        if supervisor:
            self._promises.broken(PromiseKind.INQUIRY_ANSWERED, detail, ledger.FRONT_DESK)
        self._flag(OVERDUE_FLAGS[supervisor])
        role = RecipientRole.SUPERVISOR if supervisor else RecipientRole.FRONT_DESK
        await self._send(
            "inquiry_alert",
            Recipient(role=role, timezone=self._staff_timezone),
            if_failed=f"alert to the {who} not delivered",
        )

    # --- updates ------------------------------------------------------------------------------

    @workflow.update
    async def answer(self, command: AnswerInquiryInput) -> InquiryView:
        async with self._turn(lambda: self.validate_answer(command)):
            self._case = inquiries.answered(self.case, workflow.now(), command.text)
            self._answered_in_the_end()
            self._promises.met(PromiseKind.INQUIRY_ANSWERED, actor=command.actor)
            on_time = inquiries.answered_in_time(self.case)
            self._note(
                TimelineKind.STATUS,
                command.actor,
                f"Answered by {command.actor.id}"
                + ("" if on_time else " after its answer deadline"),
                status=InquiryStatus.ANSWERED.value,
                previous=InquiryStatus.OPEN.value,  # the only status an answer leaves
                on_time=on_time,
            )
            self._publish()
            await self._cancel_moot_messages("answered")
            sent = await self._send(
                "inquiry_answer",
                to_client(self._request.customer),
                if_failed="answer not delivered",
                answer=command.text,
            )
            if not sent:
                self._flag("answer not delivered")
            return self._view()

    @answer.validator
    def validate_answer(self, command: AnswerInquiryInput) -> None:
        self._judge("answer", command, command.actor)

    @workflow.update
    async def promote(self, command: PromoteInquiryInput) -> InquiryView:
        async with self._turn(lambda: self.validate_promote(command)):
            complaint = inquiries.complaint_from_inquiry(self.case, command)
            try:
                opened = await workflow.execute_activity_method(
                    InquiryActivities.open_complaint,
                    complaint,
                    start_to_close_timeout=RECORD_TIMEOUT,
                    summary=f"file complaint {complaint.complaint_id}",
                )
            except ActivityError as err:
                cause = err.cause
                if not (
                    isinstance(cause, ApplicationError) and cause.type == errors.COMPLAINT_ID_TAKEN
                ):
                    raise
                # The inquiry stays open: staff file the complaint under an id of its own.
                refuse(f"promote refused: {cause.message}")
            self._case = inquiries.promoted(self.case, workflow.now(), opened.complaint_id)
            self._answered_in_the_end()
            self._promises.not_applicable(PromiseKind.INQUIRY_ANSWERED, "promoted to a complaint")
            self._note(
                TimelineKind.STATUS,
                command.actor,
                f"Promoted to complaint {opened.complaint_id} ({command.category}, severity "
                f"{command.severity.value})"
                + ("" if opened.created else "; the complaint existed already"),
                status=InquiryStatus.PROMOTED.value,
                previous=InquiryStatus.OPEN.value,
                complaint_id=opened.complaint_id,
                complaint_workflow_id=opened.workflow_id,
            )
            self._publish()
            await self._cancel_moot_messages("promoted")
            return self._view()

    @promote.validator
    def validate_promote(self, command: PromoteInquiryInput) -> None:
        self._judge("promote", command, command.actor)

    @workflow.query
    def status(self) -> InquiryView:
        return self._view()

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def case(self) -> InquiryCase:
        return opened(self._case, "inquiry is still being recorded")

    def _turn(self, judge: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """An update's turn (workflows/case.py): one handler at a time, judged again on the
        current state, stored before the update answers."""
        return transition(
            self._lock, self._judged_in_turn(judge), store=lambda: True, save=self._save
        )

    def _refuse_unless_allowed(self, update: str, actor: Actor) -> None:
        refuse(inquiries.inquiry_state_refusal(update, self.case))
        refuse_actor(inquiries.inquiry_actor_refusal(update, actor))

    @property
    def _staff_timezone(self) -> str:
        """The zone staff read times in: the office's (the customer's for inquiries recorded
        before the policy named it)."""
        return self.case.policy.office_timezone or self._request.customer.timezone

    def _answered_in_the_end(self) -> None:
        """Answered or promoted: an overdue alert's flags no longer ask anything of anyone."""
        for concern in OVERDUE_FLAGS:
            self._unflag(concern)

    def _flag(self, concern: str) -> None:
        self._case = flagged(self.case, concern)
        self._describe(self._waiting_for)

    def _unflag(self, concern: str) -> None:
        self._case = unflagged(self.case, concern)
        self._describe(self._waiting_for)

    async def _send(self, template: str, to: Recipient, if_failed: str, **extra: object) -> bool:
        """Send one message; True if it went out. Beside the plan: True once started; a
        failure is flagged `if_failed` and handed to the front desk when the send ends."""
        number = self.case.messages_requested + 1
        self._case = self.case.model_copy(update={"messages_requested": number})
        to_customer = to.role is RecipientRole.CLIENT
        message = SendMessageRequest(
            idempotency_key=f"{self._workflow_id}/{template}/{number}",
            case_id=self._workflow_id,
            template=template,
            channel=self._request.customer.preferred_channel if to_customer else Channel.EMAIL,
            to=to,
            context={**self._context(), **extra},
        )
        if self._beside:
            self._messages.start(
                message,
                group=template,
                budget=MESSAGE_BUDGET,
                if_failed=if_failed,
                task=client_message_task
                if to_customer
                else staff_message_task(f"inquiry {self._request.inquiry_id}"),
            )
            return True
        delivery = await deliver(message, budget=MESSAGE_BUDGET, retry=MESSAGE_RETRY)
        self._note(delivery.kind, SYSTEM, delivery.detail, **delivery.data)
        return delivery.sent

    async def _cancel_moot_messages(self, outcome: str) -> None:
        """Answered or promoted: the acknowledgement and the overdue alerts still on their way
        are moot, and so are the tasks to pass them on. Returns once none can go out."""
        if not self._beside:
            return
        await self._messages.cancel(["inquiry_ack", "inquiry_alert"])
        await self._close_message_tasks(
            outcome, f"the inquiry was {outcome}", read_outs=["inquiry_ack"]
        )

    def _context(self) -> dict[str, Any]:
        case = self.case
        request = case.request
        return {
            "case_id": self._workflow_id,
            "reference": request.inquiry_id,
            "customer_name": request.customer.name,
            "customer_id": request.customer.id,
            "subject": request.subject,
            "question": request.question,
            "received_via": request.received_via.value,
            "received_at": case.received_at.isoformat(),
            "answer_deadline": inquiries.answer_deadline(case).isoformat(),
            # What the customer is promised "at the latest": the ledger's due time (48h).
            # The acknowledgement falls back to answer_deadline in contexts made before it.
            "answer_latest": inquiries.supervisor_at(case).isoformat(),
            "supervisor": case.alerts >= 2,
            "answer": "",
            **case.policy.message_terms(),
        }

    def _publish(self) -> None:
        case = self.case
        open_case = case.status is InquiryStatus.OPEN
        updates: list[SearchAttributeUpdate[Any]] = [
            INQUIRY_STATUS.value_set(case.status.value),
            CLIENT_ID.value_set(case.request.customer.id),
            SLA_DEADLINE.value_set(inquiries.answer_deadline(case))
            if open_case
            else SLA_DEADLINE.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)

    def _describe(self, due: inquiries.InquiryDue | None) -> None:
        """The UI's current details: status, what the case waits for, what needs attention.
        Set at each wait and again when a flag is raised or cleared (no history event)."""
        self._waiting_for = due
        case = self.case
        head = f"**{case.status.value}** · {case.request.subject}"
        when = readable(due.at, self._staff_timezone) if due else ""
        next_step = f" · next: {due.step.value.replace('_', ' ')} at {when}" if due else ""
        workflow.set_current_details(head + next_step + attention_note(case.needs_attention))

    def _row(self) -> CaseRow:
        case = self.case
        return CaseRow(
            business_id=case.request.inquiry_id,
            status=case.status.value,
            client_id=case.request.customer.id,
            details={
                "subject": case.request.subject,
                "received_via": case.request.received_via.value,
                "answer_deadline": inquiries.answer_deadline(case).isoformat(),
                "answered_at": case.answered_at.isoformat() if case.answered_at else None,
                "alerts": case.alerts,
                "complaint_id": case.complaint_id,
                "needs_attention": case.needs_attention,
            },
        )

    def _view(self) -> InquiryView:
        case = self.case
        return status_view(
            InquiryView,
            case,
            inquiry_id=case.request.inquiry_id,
            subject=case.request.subject,
            received_via=case.request.received_via,
            customer_id=case.request.customer.id,
            client_id=case.request.customer.id,
            answer_deadline=inquiries.answer_deadline(case),
            supervisor_at=inquiries.supervisor_at(case),
            version=self._version(),
            timeline=list(self._journal.timeline),
        )
