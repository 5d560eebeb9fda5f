"""The appointment's fees and billing: each decision in the case and the timeline first,
then written to PostgreSQL; the client told when a fee is waived or stands (DESIGN.md §1,
appointments 5–6).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from promptly.workflows.appointment_provider_sends import AppointmentProviderSends
from promptly.workflows.appointment_state import PREPAY_FLAG
from promptly.workflows.patches import (
    DECISION_MAKES_ITS_REQUEST_MOOT,
    EXCUSE_DECISION_CLOSES_TASK,
    FEE_PLEA_FOR_EVERY_FEE,
    FEE_STANDS_ON_RECORD,
    PROVIDER_TOLD_OF_EXCUSE,
    WAIVER_CLOSES_FEE_READ_OUTS,
)
from promptly.workflows.staff_tasks import add_to_task, open_case_task, task_key

with workflow.unsafe.imports_passed_through():
    from promptly.activities.records import RecordsActivities
    from promptly.domain.appointments import fees
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        BillingOutcome,
        BillingRecord,
        ExcuseNoShowInput,
        Fee,
        FeeStandsInput,
        PleadedFee,
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


class AppointmentFees(AppointmentProviderSends):
    """Billing decisions, fee waivers and a fee that stands."""

    async def _record_billing(
        self, outcome: BillingOutcome, actor: Actor, reason: str, *, fee: Fee | None = None
    ) -> None:
        """Cases from before the patch: written first, then noted (their histories' order)."""
        record = self._billing_record(outcome, actor, reason, fee=fee)
        await self._write_billing(record)
        self._note_billing(record, in_case=True)

    def _decide_billing(
        self,
        outcome: BillingOutcome,
        actor: Actor,
        reason: str,
        *,
        in_case: bool = True,
        fee: Fee | None = None,
    ) -> BillingRecord:
        """The billing decision, in the case and the timeline now; written by `_write_billing`."""
        record = self._billing_record(outcome, actor, reason, fee=fee)
        self._note_billing(record, in_case=in_case)
        return record

    def _billing_record(
        self, outcome: BillingOutcome, actor: Actor, reason: str, *, fee: Fee | None = None
    ) -> BillingRecord:
        """The decision's record, with the fee it charges, lifts or keeps (`fee`, else judged
        on the case before the decision: fees.fee_of) and its amount; the case's fee follows
        it (workflow state only: no command changes)."""
        request = self.case.request
        fee = fee or fees.fee_of(self.case, outcome)
        terms = fees.case_fee(self.case, fee, outcome) if fee is not None else None
        if terms is not None:
            self._update(fee=terms)
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
            fee=fee,
            amount=terms.amount if terms else None,
            currency=terms.currency if terms else None,
            provider_id=request.provider.id,
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
        self._update(
            reschedule_fee_pending=False,
            free_reschedule=True,
            fee_decided=PleadedFee.LATE_RESCHEDULE,
        )
        record = self._decide_billing(
            BillingOutcome.WAIVED,
            command.actor,
            command.reason,
            in_case=False,
            fee=Fee.LATE_RESCHEDULE,
        )
        self._tell_fee_waived(
            command.reason, purpose=f"fee-waived-{self._journal.noted}", fee_for_moving=True
        )
        # A plea against the fee (only since FEE_PLEA_FOR_EVERY_FEE) is answered: its email
        # and task go, as a no-show excuse's.
        await self._decision_request_moot(command.actor)
        await self._write_billing(record)
        await self._excuse_decided("waive_fee", command.reason, command.actor)

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
        """A client's plea against a fee (a no-show's, or since `FEE_PLEA_FOR_EVERY_FEE` a
        late cancellation's or late reschedule's): the decision is the provider's, in a task
        due when the case closes (a moved visit's: within the fee's decision window); the
        provider is told it waits. A further plea while it waits is added to that task."""
        request = self.case.request
        actor = command.actor or Actor(kind=ActorKind.CLIENT, id=request.client.id)
        if fees.plea_adds_to_open_decision(self.case):
            await self._add_to_plea(command, actor)
            return
        # An excuse from before late changes could be pleaded: a no-show's, whatever the case.
        fee = fees.pleaded_fee(self.case) or PleadedFee.NO_SHOW
        late_change = fee is not PleadedFee.NO_SHOW
        self._update(excuse=command.reason, excuse_fee=fee if late_change else None)
        name = fees.PLEA_NAMES[fee]
        if late_change and not workflow.patched(FEE_PLEA_FOR_EVERY_FEE):
            return  # never reached: before the patch a late change's plea was refused
        decide_by = fees.plea_decision_due(
            self.case, appointment_rules.closes_at(self.case), workflow.now()
        )
        visit = readable(request.start, self._office_timezone)
        task = await open_case_task(
            fees.plea_task_purpose(fee, self.case.reschedules),
            f"provider decision: {name}",
            kind=TaskKind.PROVIDER_DECISION,
            assignee=RecipientRole.PROVIDER,
            title=f"Decide on {request.client.name}'s {name}",
            details=fees.plea_task_details(self.case, fee, command.reason, visit),
            due_at=decide_by,
            data={"provider_id": request.provider.id},
        )
        self._note(
            TimelineKind.ACTION,
            actor,
            f"{name[0].upper()}{name[1:]} received (the provider decides): {command.reason}",
            task_id=task.task_id,
        )
        # The decision is the provider's: they are told it waits, and until when.
        if self._current_rules and (late_change or workflow.patched(PROVIDER_TOLD_OF_EXCUSE)):
            news: dict[str, object] = {"excuse": command.reason, "decide_by": decide_by.isoformat()}
            if late_change:
                news["fee"] = fee.value
            self._start_provider_news(DECISION_REQUEST, news)

    async def _add_to_plea(self, command: ExcuseNoShowInput, actor: Actor) -> None:
        """A further plea while the provider decides: the case keeps it with the first, and
        the provider's task shows it (asked with `FEE_PLEA_FOR_EVERY_FEE`; before it, the
        case refused it, so a history from before never gets here)."""
        fee = fees.excuse_pleads(self.case)
        excuse, line = fees.plea_added(
            self.case.excuse or "",
            command.reason,
            readable(workflow.now(), self._office_timezone),
        )
        self._update(excuse=excuse)
        key = task_key(fees.plea_task_purpose(fee, self.case.reschedules))
        self._note(
            TimelineKind.ACTION,
            actor,
            f"Added to the {fees.PLEA_NAMES[fee]} with the provider: {command.reason}",
        )
        if workflow.patched(FEE_PLEA_FOR_EVERY_FEE):
            await add_to_task(key, line, summary=f"provider decision: {fees.PLEA_NAMES[fee]}")

    async def _excuse_decided(self, outcome: str, reason: str, actor: Actor) -> None:
        """A decision made with the update itself answers the provider's task on the
        client's excuse: it closes, so nobody decides twice."""
        if self.case.excuse is not None and workflow.patched(EXCUSE_DECISION_CLOSES_TASK):
            purpose = fees.plea_task_purpose(fees.excuse_pleads(self.case), self.case.reschedules)
            await self._close_task(task_key(purpose), outcome, reason, actor)

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
        # A plea against a moved visit's fee (since FEE_PLEA_FOR_EVERY_FEE) is answered too.
        answers_plea = not moving or self.case.excuse is not None
        kept = fees.pleaded_fee(self.case)
        self._update(reschedule_fee_pending=False, fee_decided=kept)
        # Keyed before the note, as every billing decision (the entry count at its decision).
        record = self._billing_record(
            BillingOutcome.FEE_STANDS,
            command.actor,
            command.reason,
            fee=fees.FEE_OF_PLEA[kept] if kept is not None else None,
        )
        self._note(TimelineKind.DECISION, command.actor, f"The fee stands: {command.reason}")
        if self._current_rules:
            self._start_to_client(
                "fee_stands",
                "fee_stands",
                purpose=f"fee-stands-{self._journal.noted}",
                budget=timedelta(hours=1),
                link_actions=[],
                extra={"reason": command.reason, "fee_for_moving": moving},
            )
        if answers_plea:
            await self._decision_request_moot(command.actor)
        if workflow.patched(FEE_STANDS_ON_RECORD):
            await self._write_billing(record)
        if answers_plea:
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
