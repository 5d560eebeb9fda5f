"""What the complaint workflow does on its own (DESIGN.md §1, complaints 2–6): acknowledge
the customer, tell the department, escalate by tier, put on hold and end a hold that ran out,
close.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

from promptly.workflows.complaint_messages import (
    SUPERSEDED_BY_A_HOLD,
    SUPERSEDED_WHILE_UPDATES_PAUSE,
    ComplaintMessaging,
)
from promptly.workflows.complaint_support import (
    elapsed_text,
    hold_ended_detail,
)
from promptly.workflows.patches import HOLD_TELLS_CUSTOMER

with workflow.unsafe.imports_passed_through():
    from promptly.domain import metrics
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        Channel,
        PromiseKind,
        RecipientRole,
        TimelineKind,
    )
    from promptly.domain.complaints import rules as complaint_rules
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import (
        ComplaintStatus,
        HoldInput,
    )
    from promptly.domain.messages import Recipient


def count_sla(state: str) -> None:
    """The `promptly_complaints` counter; the SDK records nothing while replaying."""
    meter = workflow.metric_meter()
    counter = meter.create_counter(metrics.COMPLAINTS, metrics.HELP[metrics.COMPLAINTS])
    counter.add(1, {"sla_state": state})


class ComplaintSteps(ComplaintMessaging):
    """The planner's steps and the close, each deciding on the current case."""

    async def _put_on_hold(self, command: HoldInput) -> None:
        """On hold, waiting on the customer: the SLA clock pauses, the messages a hold makes
        moot are cancelled and the customer is told what we wait for."""
        self._set_case(
            complaint_rules.hold_complaint(
                self.case,
                workflow.now(),
                command.reason,
                for_customer_answer=command.for_customer_answer,
            )
        )
        self._note(
            TimelineKind.STATUS,
            command.actor,
            f"On hold, waiting on the customer: {command.reason}; SLA clock paused"
            + (
                f" until {self._iso(self.case.hold_until)} at the latest"
                if self.case.hold_until
                else ""
            ),
            status=ComplaintStatus.ON_HOLD.value,
            previous=ComplaintStatus.OPEN.value,
            reason=command.reason,
        )
        self._publish()
        await self._cancel_superseded(
            SUPERSEDED_WHILE_UPDATES_PAUSE if command.for_customer_answer else SUPERSEDED_BY_A_HOLD
        )
        if workflow.patched(HOLD_TELLS_CUSTOMER):
            await self._tell_customer(
                "complaint_on_hold",
                reason=command.reason,
                for_customer_answer=command.for_customer_answer,
            )

    async def _acknowledge(self) -> None:
        sent = await self._tell_customer("complaint_ack", settled=self._acknowledged)
        if not sent:
            self._flag("acknowledgement not sent")

    def _acknowledged(self, sent: bool) -> None:
        self._promises.sent(PromiseKind.COMPLAINT_ACK, sent, "acknowledgement not delivered")

    async def _notify_department(self) -> None:
        route = self.case.route
        await self._send_to_staff(
            "complaint_department",
            Recipient(
                role=RecipientRole.DEPARTMENT,
                name=route.department_name,
                email=str(route.owner.email),
                timezone=self._staff_timezone,
            ),
            Channel.EMAIL,
        )

    async def _escalate(self) -> None:
        before = self.case
        elapsed = elapsed_text(before, workflow.now())
        step = complaint_sla.next_escalation(before)
        self._set_case(complaint_sla.escalate(before))
        if not step.breach:
            detail = f"Unresolved after {elapsed}: supervisor told (level {step.level})"
            self._note(TimelineKind.DECISION, SYSTEM, detail, level=step.level, breach=False)
            count_sla("supervisor")
            await self._alert("Unresolved complaint", detail)
            if self.case.procedure_rules:
                await self._tell_customer_when_awake("escalation", tier="supervisor")
        else:
            deadline = complaint_sla.sla_deadline(self.case)
            detail = (
                f"SLA breached: unresolved after {elapsed}; manager "
                f"told (level {step.level}); new timeline {self._shown(deadline)}"
            )
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                detail,
                level=step.level,
                breach=True,
                sla_deadline=self._iso(deadline),
            )
            self._flag("sla breached")
            self._promises.broken(PromiseKind.COMPLAINT_RESOLVED, detail, self._department)
            count_sla("breach_extended" if before.sla_breached else "breached")
            await self._alert("SLA breached", detail)
            await self._tell_customer_when_awake("escalation")
        self._publish()

    async def _end_hold_on_its_own(self) -> None:
        """The hold reached `max_hold`: the clock resumes and the customer is told."""
        reason = self.case.hold_reason or ""
        self._resume_clock(SYSTEM, hold_ended_detail)
        await self._tell_customer_when_awake("hold_ended", reason=reason)

    def _resume_clock(
        self, actor: Actor, detail: Callable[[timedelta, datetime | None], str]
    ) -> None:
        """The hold ends (by staff or on its own): the SLA clock runs again from now, and the
        timeline says how long it stood; `detail` words it from that and the new deadline."""
        now = workflow.now()
        held = now - (self.case.on_hold_since or now)
        self._set_case(complaint_rules.resume_complaint(self.case, now))
        self._note(
            TimelineKind.STATUS,
            actor,
            detail(held, complaint_sla.sla_deadline(self.case)),
            status=ComplaintStatus.OPEN.value,
            previous=ComplaintStatus.ON_HOLD.value,
            held_seconds=int(held.total_seconds()),
        )
        self._publish()

    async def _close(
        self,
        status: ComplaintStatus,
        actor: Actor,
        detail: str,
        *,
        outcome: str,
        reason: str,
        root_cause: str | None = None,
        on_a_timer: bool = False,
    ) -> None:
        """Close the case; the customer hears at once, or, when nobody closed it (`on_a_timer`),
        once their quiet hours end."""
        previous = self.case.status
        self._promises.met(PromiseKind.COMPLAINT_RESOLVED, actor=actor)
        # A closed complaint gives no more updates: the recurring promise is decided now, not
        # when the run ends after the follow-up (pure state: it rides the next save).
        self._promises.settle(
            f"the complaint closed {status.value}", [PromiseKind.COMPLAINT_UPDATES]
        )
        self._set_case(
            complaint_rules.close_complaint(self.case, workflow.now(), status, reason, root_cause)
        )
        count_sla("closed_breached" if self.case.sla_breached else "closed_in_sla")
        self._note(
            TimelineKind.STATUS,
            actor,
            detail,
            status=status.value,
            previous=previous.value,
            reason=reason,
            **({"root_cause": root_cause} if root_cause else {}),
        )
        self._publish()
        await self._cancel_moot_messages(closed=True)
        tell = self._tell_customer_when_awake if on_a_timer else self._tell_customer
        await tell("complaint_closed", outcome=outcome, reason=reason)
