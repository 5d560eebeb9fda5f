"""The appointment's fees and billing: each decision in the case and the timeline first,
then written to PostgreSQL; the client told when a fee is waived or stands (DESIGN.md §1,
appointments 5–6).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from promptly.workflows.appointment_sends import AppointmentSends
from promptly.workflows.appointment_state import PREPAY_FLAG
from promptly.workflows.patches import (
    DECISION_MAKES_ITS_REQUEST_MOOT,
    EXCUSE_DECISION_CLOSES_TASK,
    FEE_STANDS_ON_RECORD,
    PROVIDER_TOLD_OF_EXCUSE,
    WAIVER_CLOSES_FEE_READ_OUTS,
)
from promptly.workflows.staff_tasks import open_case_task, task_key

with workflow.unsafe.imports_passed_through():
    from promptly.activities.records import RecordsActivities
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        BillingOutcome,
        BillingRecord,
        ExcuseNoShowInput,
        FeeStandsInput,
        WaiveFeeInput,
    )
    from promptly.domain.common import Actor, ActorKind, PromiseKind, RecipientRole, TimelineKind
    from promptly.domain.moot_messages import NEWS_OF_A_FEE
    from promptly.domain.readable_time import readable
    from promptly.domain.tasks import TaskKind
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT


# The email telling the provider a decision on a no-show excuse waits (its send group and
# template), and the flag it leaves when it cannot go out.
DECISION_REQUEST = "provider_decision"
DECISION_REQUEST_NOT_SENT = "provider decision not sent"


class AppointmentFees(AppointmentSends):
    """Billing decisions, fee waivers and a fee that stands."""

    async def _record_billing(self, outcome: BillingOutcome, actor: Actor, reason: str) -> None:
        """Cases from before the patch: written first, then noted (their histories' order)."""
        record = self._billing_record(outcome, actor, reason)
        await self._write_billing(record)
        self._note_billing(record, in_case=True)

    def _decide_billing(
        self, outcome: BillingOutcome, actor: Actor, reason: str, *, in_case: bool = True
    ) -> BillingRecord:
        """The billing decision, in the case and the timeline now; written by `_write_billing`."""
        record = self._billing_record(outcome, actor, reason)
        self._note_billing(record, in_case=in_case)
        return record

    def _billing_record(self, outcome: BillingOutcome, actor: Actor, reason: str) -> BillingRecord:
        return BillingRecord(
            # The entry count makes each decision of a case its own record.
            idempotency_key=f"{self._workflow_id}/billing/{self._journal.noted}",
            case_id=self._workflow_id,
            appointment_id=self.case.request.appointment_id,
            client_id=self.case.request.client.id,
            outcome=outcome,
            decided_by=actor,
            reason=reason,
            decided_at=workflow.now(),
        )

    def _note_billing(self, record: BillingRecord, *, in_case: bool) -> None:
        if in_case:
            self._update(billing=record.outcome)
        self._note(
            TimelineKind.DECISION,
            record.decided_by,
            f"Billing: {record.outcome.value} ({record.reason})",
            billing=record.outcome.value,
            reason=record.reason,
        )

    async def _write_billing(self, record: BillingRecord) -> None:
        await workflow.execute_activity_method(
            RecordsActivities.record_billing,
            record,
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=f"billing: {record.outcome.value}",
        )

    async def _waive_reschedule_fee(self, command: WaiveFeeInput) -> None:
        """The late-reschedule fee is lifted; the visit at its new time stands as booked, and
        (as the waiver notice says) a further change is free."""
        self._update(reschedule_fee_pending=False, free_reschedule=True)
        record = self._decide_billing(
            BillingOutcome.WAIVED, command.actor, command.reason, in_case=False
        )
        self._tell_fee_waived(
            command.reason, purpose=f"fee-waived-{self._journal.noted}", fee_for_moving=True
        )
        await self._write_billing(record)

    async def _waive_no_show_fee(self, command: WaiveFeeInput) -> None:
        """The fee of a no-show or a late cancellation is lifted (force majeure): the client may
        book again unprepaid, and the desk no longer reads out that the visit is charged."""
        self._update(free_reschedule=True, free_reschedule_granted_at=workflow.now())
        # The ledger is read across every case: a fixed cause, as a cancellation's; the reason
        # (which may say why the client could not come) stays in this case's timeline and
        # billing record. Workflow state only: no command changes, no patch.
        self._promises.waived(PromiseKind.NO_SHOW, "fee waived", command.actor)
        record = self._decide_billing(BillingOutcome.WAIVED, command.actor, command.reason)
        self._unflag(PREPAY_FLAG)
        self._tell_fee_waived(command.reason)
        await self._decision_request_moot(command.actor)
        await self._write_billing(record)
        await self._excuse_decided("waive_fee", command.reason, command.actor)
        if workflow.patched(WAIVER_CLOSES_FEE_READ_OUTS):
            # The calls still open to tell a phone client the visit is charged (its late
            # cancellation, its no-show notice, a fee that stood): the waiver notice replaces
            # them. Closed by whoever waived, as a cancel closes the calls it made moot.
            await self._close_tasks(
                "fee_waived",
                f"the fee was waived: {command.reason}",
                command.actor,
                read_outs=NEWS_OF_A_FEE,
            )

    async def _receive_excuse(self, command: ExcuseNoShowInput) -> None:
        """A no-show excuse: the decision on the fee is the provider's, in a task due when the
        case closes; the provider is told it waits."""
        request = self.case.request
        actor = command.actor or Actor(kind=ActorKind.CLIENT, id=request.client.id)
        self._update(excuse=command.reason)
        decide_by = appointment_rules.closes_at(self.case)
        task = await open_case_task(
            f"excuse/{self.case.reschedules}",
            "provider decision: no-show excuse",
            kind=TaskKind.PROVIDER_DECISION,
            assignee=RecipientRole.PROVIDER,
            title=f"Decide on {request.client.name}'s no-show excuse",
            details=f"{request.service} on "
            f"{readable(request.start, self._office_timezone)}. Excuse: "
            f"{command.reason}. Waive the fee (force majeure) with waive_fee, or let "
            "the no-show fee stand; a waiver's reason is sent to the client.",
            due_at=decide_by,
            data={"provider_id": request.provider.id},
        )
        self._note(
            TimelineKind.ACTION,
            actor,
            f"No-show excuse received (the provider decides): {command.reason}",
            task_id=task.task_id,
        )
        # The decision is the provider's: they are told it waits, and until when.
        if self._beside and workflow.patched(PROVIDER_TOLD_OF_EXCUSE):
            self._start_provider_news(
                DECISION_REQUEST,
                {"excuse": command.reason, "decide_by": decide_by.isoformat()},
            )

    async def _excuse_decided(self, outcome: str, reason: str, actor: Actor) -> None:
        """A decision made with the update itself answers the provider's task on the
        client's excuse: it closes, so nobody decides twice."""
        if self.case.excuse is not None and workflow.patched(EXCUSE_DECISION_CLOSES_TASK):
            await self._close_task(
                task_key(f"excuse/{self.case.reschedules}"), outcome, reason, actor
            )

    async def _decision_request_moot(self, actor: Actor) -> None:
        """The provider decided on the excuse: the email asking them to decide, still on its
        way, and the desk's task to pass it on no longer matter (nor their flag). Returns once
        the email can reach nobody."""
        tasks = self._by_hand.answering(DECISION_REQUEST_NOT_SENT)
        in_flight = self._sends.in_flight(DECISION_REQUEST)
        if not (tasks or in_flight) or not workflow.patched(DECISION_MAKES_ITS_REQUEST_MOOT):
            return
        await self._cancel_sends([DECISION_REQUEST])
        for key in tasks.values():
            await self._close_task(key, "decided", "the provider decided", actor)
        for concern in self._by_hand.forget(tasks):
            self._unflag(concern)

    async def _keep_fee(self, command: FeeStandsInput) -> None:
        """The fee stands after the client's excuse (or a late move): the case says so, the
        billing record keeps the decision, and the client hears it with the reason (cases from
        before messages beside the plan: the timeline only)."""
        moving = self.case.status not in FINAL_APPOINTMENT_STATUSES
        self._update(reschedule_fee_pending=False)
        # Keyed before the note, as every billing decision (the entry count at its decision).
        record = self._billing_record(BillingOutcome.FEE_STANDS, command.actor, command.reason)
        self._note(TimelineKind.DECISION, command.actor, f"The fee stands: {command.reason}")
        if self._beside:
            self._start_to_client(
                "fee_stands",
                "fee_stands",
                purpose=f"fee-stands-{self._journal.noted}",
                budget=timedelta(hours=1),
                link_actions=[],
                extra={"reason": command.reason, "fee_for_moving": moving},
            )
        if not moving:
            await self._decision_request_moot(command.actor)
        if workflow.patched(FEE_STANDS_ON_RECORD):
            await self._write_billing(record)
        if not moving:
            await self._excuse_decided("fee_stands", command.reason, command.actor)

    def _tell_fee_waived(
        self, reason: str, purpose: str | None = None, *, fee_for_moving: bool = False
    ) -> None:
        """The waiver notice: the fee is lifted (a no-show's or a late cancellation's, or
        `fee_for_moving` a late reschedule's), and a change of the visit is free."""
        self._start_to_client(
            "fee_waived",
            "fee_waived",
            purpose=purpose,
            budget=timedelta(hours=1),
            link_actions=["reschedule"],
            extra={"reason": reason, "fee_for_moving": fee_for_moving},
        )
