"""The complaint workflow's messages: to the customer, the department, the supervisor or
manager, the assignee (DESIGN.md §1, complaints 2–6).

Cases started since the patch `CASE_SENDS_BESIDE` send beside the plan (case_sends.py): a
send starts and the step or update goes on, so the 24h updates, the escalation tiers, the
48h breach and the hold's end fire on time whatever the channel does; a message that cannot
go out is flagged and becomes a task. Closing a complaint cancels what it makes moot.
Earlier cases await each message in line (`deliver`), as they did when they started.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any

from temporalio import workflow

from promptly.workflows.case_sends import (
    client_message_task,
    staff_message_task,
)
from promptly.workflows.complaint_state import ComplaintState
from promptly.workflows.complaint_support import about
from promptly.workflows.complaint_support import staff_message_task as old_staff_message_task
from promptly.workflows.messages import deliver, message_retry, to_client
from promptly.workflows.patches import (
    MOOT_ON_HOLD_AND_REOPEN,
    NEWER_NEWS_REPLACES_WAITING,
    since,
)

with workflow.unsafe.imports_passed_through():
    from promptly.domain.common import (
        SYSTEM,
        CaseKind,
        Channel,
        PromiseKind,
        RecipientRole,
        TimelineKind,
    )
    from promptly.domain.complaints import quiet_hours
    from promptly.domain.complaints import rules as complaint_rules
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import ComplaintStatus
    from promptly.domain.messages import Recipient, SendMessageRequest
    from promptly.domain.moot_messages import ENDINGS
    from promptly.domain.readable_time import in_hours
    from promptly.domain.tasks import TaskKind

# A message that cannot go out within this is recorded as failed and flagged for staff.
MESSAGE_BUDGET = timedelta(hours=1)
MESSAGE_RETRY = message_retry(maximum_interval=timedelta(minutes=10))
# What a proposed resolution supersedes: news of the case as it was before.
SUPERSEDED_BY_A_PROPOSAL = ("status_update", "complaint_on_hold", "hold_ended", "escalation")
# What still applies after a close: the closing message itself and the staff's own notes.
STILL_TRUE_AFTER_CLOSE = tuple(sorted(ENDINGS[CaseKind.COMPLAINT].news_of_the_end))
# What a hold supersedes: the news of an earlier hold (its start, its end); and, when the
# updates pause for the customer's answer, an update promising a time the clock no longer keeps.
SUPERSEDED_BY_A_HOLD = ("complaint_on_hold", "hold_ended")
SUPERSEDED_WHILE_UPDATES_PAUSE = (*SUPERSEDED_BY_A_HOLD, "status_update")
# What a reopen supersedes: the proposal the customer turned down.
SUPERSEDED_BY_A_REOPEN = ("resolution_proposed",)
# The customer's news of the complaint while it was open: once it is closed, a call still
# planned to read one of them out has nothing left to say.
NEWS_OF_THE_OPEN_CASE = (
    "complaint_ack",
    *SUPERSEDED_BY_A_PROPOSAL,
    *SUPERSEDED_BY_A_REOPEN,
)


class ComplaintMessaging(ComplaintState):
    """How the complaint workflow sends, in line or beside the plan."""

    async def _alert(self, title: str, reason: str) -> None:
        """Level 1 goes to the supervisor (worker settings); level 2 and up to the manager."""
        case = self.case
        if case.escalation_level >= 2:
            to = Recipient(
                role=RecipientRole.MANAGER,
                name=case.route.manager.name,
                email=str(case.route.manager.email),
                timezone=self._staff_timezone,
            )
        else:
            to = Recipient(role=RecipientRole.SUPERVISOR, timezone=self._staff_timezone)
        await self._send_to_staff(
            "complaint_alert", to, Channel.EMAIL, reason_title=title, reason=reason
        )

    async def _send_to_staff(
        self, template: str, to: Recipient, channel: Channel, **extra: object
    ) -> bool:
        """A staff message; one that cannot go out is flagged and becomes a front-desk task
        (under the procedure rules), so nobody learns of it only from the timeline."""
        sent = await self._send(template, to, channel, None, None, **extra)
        if sent or not self.case.procedure_rules:
            return sent
        concern = f"{template.replace('_', ' ')} to {to.role.value} not delivered"
        self._flag(concern)
        task = await old_staff_message_task(
            self._workflow_id,
            self.case,
            template,
            to,
            number=self.case.messages_requested,
            reason=str(extra.get("reason", "")),
        )
        self._by_hand.opened(task.task_id, TaskKind.RESEND_STAFF_MESSAGE, concern)
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"Front-desk task {task.task_id}: {concern}; pass it on by hand",
            task_id=task.task_id,
            template=template,
        )
        return sent

    async def _tell_customer(
        self,
        template: str,
        link_actions: list[str] | None = None,
        settled: Callable[[bool], None] | None = None,
        **extra: object,
    ) -> bool:
        """A customer-visible message on their channel; it restarts the 24h update period.
        `settled` hears whether it went out, once that is known."""
        customer = self.case.request.customer

        def update_settled(sent: bool) -> None:
            self._promises.update_given(PromiseKind.COMPLAINT_UPDATES, sent=sent)
            if settled is not None:
                settled(sent)

        sent = await self._send(
            template,
            to_client(customer),
            customer.preferred_channel,
            link_actions=link_actions,
            settled=update_settled,
            **extra,
        )
        # Failed or not, the period restarts: a failure is flagged for staff, not retried
        # in a tight loop.
        self._set_case(complaint_rules.customer_update_attempted(self.case, workflow.now()))
        if not sent:
            self._flag(f"{template.replace('_', ' ')} not delivered")
        return sent

    async def _tell_customer_when_awake(self, template: str, **extra: object) -> None:
        """News the complaint sends on a timer, answering nobody (an escalation, the end of a
        hold, the close after an unanswered proposal): at once, or, decided in the customer's
        quiet hours, when they end, worded as at this moment (`quiet_hours.outside_quiet_hours`).

        No patch guards the wait: the quiet hours come with the case's rules, recorded at
        filing, and complaints filed before them replay with None, for which the time is now and
        this is `_tell_customer` itself, command for command. A newer message replacing one of
        its kind that waits (one send fewer at the end of the quiet hours) is patched."""
        now = workflow.now()
        at = quiet_hours.outside_quiet_hours(self.case, now)
        if at <= now:
            await self._tell_customer(template, link_actions=None, settled=None, **extra)
            return
        # A newer message of the same kind (a second escalation in one night) makes the one
        # waiting stale: the customer hears once, at the end of their quiet hours, the case as
        # it stands now.
        if quiet_hours.waiting(self.case, template) and workflow.patched(
            NEWER_NEWS_REPLACES_WAITING
        ):
            self._drop_waiting((template,), why="a newer one replaces it")
        context = {**self._message_context(), **extra}
        self._set_case(quiet_hours.message_waits(self.case, template, at, context))
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"{template.replace('_', ' ').capitalize()} to the customer waits for the end of "
            f"their quiet hours: {self._iso(at)}",
            template=template,
            send_at=self._iso(at),
        )

    async def _send_waiting_messages(self) -> None:
        """The news that waited for the customer's quiet hours to end goes out now."""
        due, rest = quiet_hours.messages_due(self.case, workflow.now())
        self._set_case(rest)
        for message in due:
            await self._tell_customer(message.template, **message.context)

    def _drop_waiting(
        self,
        templates: Collection[str] | None,
        keep: Collection[str] = (),
        why: str = "the case changed",
    ) -> None:
        """A change makes waiting news moot (as it cancels the sends under way)."""
        dropped, rest = quiet_hours.waiting_dropped(self.case, templates, keep)
        if not dropped:
            return
        self._set_case(rest)
        for message in dropped:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                f"{message.template.replace('_', ' ').capitalize()} to the customer, waiting "
                f"for the end of their quiet hours, not sent: {why}",
                template=message.template,
                outcome="cancelled",
            )

    async def _send(
        self,
        template: str,
        to: Recipient,
        channel: Channel,
        link_actions: list[str] | None = None,
        settled: Callable[[bool], None] | None = None,
        **extra: object,
    ) -> bool:
        """Send one message; every outcome is a timeline entry. True if it went out (beside
        the plan: True once started; its outcome, flag and task come when it ends, and
        `settled` hears whether it went out)."""
        number = self.case.messages_requested + 1
        self._set_case(self.case.model_copy(update={"messages_requested": number}))
        message = SendMessageRequest(
            idempotency_key=f"{self._workflow_id}/{template}/{number}",
            case_id=self._workflow_id,
            template=template,
            channel=channel,
            to=to,
            context={**self._message_context(), **extra},
            link_actions=link_actions or [],
        )
        if self._beside:
            to_customer = to.role is RecipientRole.CLIENT
            what = template.replace("_", " ")
            self._messages.start(
                message,
                group=template,
                budget=MESSAGE_BUDGET,
                if_failed=f"{what} not delivered"
                if to_customer
                else f"{what} to {to.role.value} not delivered",
                task=client_message_task if to_customer else staff_message_task(about(self.case)),
                settled=settled,
            )
            return True
        delivery = await deliver(message, budget=MESSAGE_BUDGET, retry=MESSAGE_RETRY)
        self._note(delivery.kind, SYSTEM, delivery.detail, **delivery.data)
        if settled is not None:
            settled(delivery.sent)
        return delivery.sent

    async def _cancel_moot_messages(self, *, closed: bool) -> None:
        """A proposal supersedes news of the case as it was; a close makes every message of the
        open case moot, and the tasks to pass one on by hand. Returns once none can go out."""
        if closed:
            self._drop_waiting(None, keep=STILL_TRUE_AFTER_CLOSE)
        else:
            self._drop_waiting(SUPERSEDED_BY_A_PROPOSAL)
        if not self._beside:
            return
        if not closed:
            await self._messages.cancel(SUPERSEDED_BY_A_PROPOSAL)
            return
        await self._messages.cancel_all_but(*STILL_TRUE_AFTER_CLOSE)
        # Closed unconfirmed, nobody decided: what never reached the customer stays flagged.
        await self._close_message_tasks(
            "complaint_closed",
            "the complaint was closed first",
            read_outs=NEWS_OF_THE_OPEN_CASE,
            flags_stay=self.case.status is ComplaintStatus.CLOSED_UNCONFIRMED,
        )

    async def _cancel_superseded(self, groups: tuple[str, ...]) -> None:
        """A hold or a reopen: the news it supersedes stops; returns once none can go out."""
        self._drop_waiting(groups)
        if self._beside and since(MOOT_ON_HOLD_AND_REOPEN):
            await self._messages.cancel(groups)

    def _message_context(self) -> dict[str, Any]:
        case = self.case
        request = case.request
        contact = complaint_sla.point_of_contact(case)
        deadline = complaint_sla.sla_deadline(case)
        supervisor_at = complaint_sla.supervisor_at(case)
        resolution, resolution_office = complaint_sla.stated_wait(
            case, complaint_sla.sla_target(case), complaint_sla.sla_ceiling(case)
        )
        supervisor, supervisor_office = complaint_sla.stated_wait(
            case, case.route.tiers.supervisor_after, complaint_sla.supervisor_ceiling(case)
        )
        return {
            "case_id": self._workflow_id,
            "reference": request.complaint_id,
            "customer_name": request.customer.name,
            "customer_id": request.customer.id,
            "category": request.category,
            "severity": request.severity.value,
            "received_via": request.received_via.value,
            "description": request.description,
            "appointment_id": request.appointment_id or "",
            "department_name": case.route.department_name,
            # What the customer reads, in their language where the matrix names it.
            "department_label": case.route.department_names.get(
                request.customer.locale, case.route.department_name
            ),
            "category_label": case.route.category_names.get(
                request.customer.locale, request.category
            ),
            "contact_name": contact.name,
            "contact_email": str(contact.email),
            "assignee_name": case.assignee.name if case.assignee else "",
            "status": case.status.value,
            "escalation_level": case.escalation_level,
            "sla_deadline": self._iso(deadline),
            "supervisor_at": self._iso(supervisor_at or deadline),
            # The waits as they apply: office hours where they bind, else the 48h/24h ceiling.
            "resolution_hours": in_hours(resolution),
            "business_hours_only": resolution_office,
            "escalated_after": round(supervisor.total_seconds()),
            "escalated_in_office_hours": supervisor_office,
            "filed_at": case.filed_at.isoformat(),
            "resolution": case.resolution or "",
            "verdict_deadline": self._iso(case.verdict_deadline),
            "reopened": case.reopened > 0 and case.breaches_in_round == 0,
            "note": "",
            "reason_title": "",
            "reason": "",
            "outcome": "",
            "tier": "",
            "hold_until": self._iso(case.hold_until),
        }
