"""One appointment, from booking to the end of the visit (DESIGN.md §1, appointments 1–6, 9).

The workflow decides; activities act. All timing comes from `policy`: the loop asks
`appointment_rules.next_step` what is due next, sleeps until then unless an update changes the case,
and asks again. That is how every timer follows the current state of the case.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow

from promptly.workflows.appointment_judges import AppointmentJudges
from promptly.workflows.appointment_state import ACK_MISSING_ALERT, MESSAGE_RETRY
from promptly.workflows.case import refuse, refuse_actor, refuse_field
from promptly.workflows.case_journal import CaseJournal
from promptly.workflows.hand_tasks import HandTasks
from promptly.workflows.messages import Sends
from promptly.workflows.patches import (
    BESIDE_THE_PLAN,
    on_baseline,
    since,
)
from promptly.workflows.promises import PromiseBook

with workflow.unsafe.imports_passed_through():
    from promptly.domain import promises, read_outs
    from promptly.domain.appointments import fees
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        AcknowledgeInput,
        AppointmentContinuation,
        AppointmentRequest,
        AppointmentStatus,
        AppointmentView,
        CallOutcome,
        CancelInput,
        CheckInInput,
        CompleteInput,
        ConfirmInput,
        CorrectPhoneInput,
        ExcuseNoShowInput,
        FeeStandsInput,
        RecordCallOutcomeInput,
        ReportDelayInput,
        RescheduleInput,
        WaiveFeeInput,
    )
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        ActorKind,
        PromiseKind,
        TimelineKind,
    )
    from promptly.domain.future_times import not_bookable
    from promptly.domain.read_outs import ReadOutClosedInput


@workflow.defn
class AppointmentWorkflow(AppointmentJudges):
    @workflow.init
    def __init__(self, request: AppointmentRequest | AppointmentContinuation) -> None:
        continued = request if isinstance(request, AppointmentContinuation) else None
        self._case = continued.case if continued else None
        self._reschedules_at_start = self._case.reschedules if self._case else 0
        # Handlers await activities; one at a time keeps their writes in order.
        self._lock = asyncio.Lock()
        self._sends = Sends(MESSAGE_RETRY)
        # Decided once, in the first workflow task: a case replaying a history from before
        # the patch keeps the old command sequence for its whole run. The first patch asked,
        # so the baseline is decided here too (patches.py).
        self._current_rules = since(BESIDE_THE_PLAN)
        self._promises = PromiseBook.opened(continued.promises if continued else ())
        if continued is not None:
            # The desk's open tasks from the runs before: acknowledging, confirming or a
            # task reported done still closes them and clears their flags.
            self._by_hand = HandTasks.restored(continued.by_hand)
        self._journal = CaseJournal(
            promises=self._promises,
            snapshot=self._snapshot,
            dues=lambda: promises.appointment_dues(self.case),
            timeline=continued.timeline if continued else (),
            stored_entries=continued.stored_entries if continued else 0,
        )

    # --- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: AppointmentRequest | AppointmentContinuation) -> AppointmentView:
        if isinstance(request, AppointmentRequest):
            await self._book(request)
        stored_with_outcome = False  # the step just run is stored with its messages' outcome
        while True:
            if stored_with_outcome:
                stored_with_outcome = False
            else:
                await self._save()
            # Sends in flight finish in this run first (each settling wakes this loop).
            if self._should_continue_as_new() and not self._sends.in_flight():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._sends.drain()
                await self._save()
                workflow.continue_as_new(
                    AppointmentContinuation(
                        case=self.case,
                        timeline=self._journal.timeline,
                        stored_entries=self._journal.stored_entries,
                        promises=self._promises.records(),
                        by_hand=self._by_hand.record(),
                    )
                )
            due = appointment_rules.next_step(self.case)
            if await self._changed_before(due.at):
                continue
            if due.step is appointment_rules.Step.CLOSE:
                break
            in_flight = self._sends.groups()
            await self._run_step(due.step)
            # On the baseline, a step that only started messages is stored with their outcome
            # (`settle` saves): one record of the case instead of two.
            stored_with_outcome = (
                due.step in appointment_rules.MESSAGE_STEPS
                and bool(self._sends.groups() - in_flight)
                and on_baseline()
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._current_rules:
            await self._sends.drain()
            await self._close_tasks(
                "case_closed", f"the case ended {self.case.status.value}", SYSTEM, flags_stay=True
            )
            await workflow.wait_condition(workflow.all_handlers_finished)
        self._promises.close(f"the case ended {self.case.status.value}")
        await self._save()
        return self._view()

    def _should_continue_as_new(self) -> bool:
        """Long-lived cases start a fresh history after many reschedules (bounded histories)."""
        changes = self.case.reschedules - self._reschedules_at_start
        return changes >= self.case.policy.continue_after_reschedules or (
            workflow.info().is_continue_as_new_suggested()
        )

    async def _changed_before(self, moment: datetime) -> bool:
        """Sleep until `moment`; True if an update changed the case first."""
        return await self._journal.changed_before(
            moment, self._describe_wait(moment), or_when=self._may_continue
        )

    def _may_continue(self) -> bool:
        """Continue-as-new was put off for sends in flight, and they have all ended."""
        return (
            self._current_rules and not self._sends.in_flight() and self._should_continue_as_new()
        )

    async def _run_step(self, step: appointment_rules.Step) -> None:
        """Each step decides on the current case first; its messages start beside the plan.
        Where cases from before the patch run a step in line, the step's method picks the
        path (appointment_in_line.py)."""
        if self._current_rules and self._skipped_as_passed(step):
            return
        if step is appointment_rules.Step.CONFIRMATION:
            await self._send_confirmation()
        elif step is appointment_rules.Step.PROVIDER_NOTICE:
            await self._notify_provider()
        elif step is appointment_rules.Step.PROVIDER_ACK_ALERT:
            await self._alert_ack_missing()
        elif step is appointment_rules.Step.REMINDER:
            await self._send_reminder()
        elif step is appointment_rules.Step.FOLLOW_UP_CALL:
            await self._follow_up_call()
        elif step is appointment_rules.Step.NO_SHOW:
            await self._no_show()
        elif step is appointment_rules.Step.AUTO_COMPLETE:
            await self._complete(
                SYSTEM, "Checked in, nobody completed the visit: closed by the system"
            )

    # --- updates ----------------------------------------------------------------------------

    @workflow.update
    async def confirm(self, command: ConfirmInput) -> AppointmentView:
        async with self._turn(lambda: self.validate_confirm(command)):
            if self.case.status is AppointmentStatus.CONFIRMED:
                return self._view()
            via = f" by {command.channel.value} reply" if command.channel else ""
            if self._current_rules:
                self._promises.not_applicable(PromiseKind.FOLLOW_UP, "client confirmed")
                self._update(next_call_at=None, awaiting_call_outcome=False)
                self._set_status(
                    AppointmentStatus.CONFIRMED, command.actor, f"Client confirmed{via}"
                )
                await self._confirmation_follow_ups_moot("confirmed", command.actor)
            else:
                await self._confirm_in_line(command, via)
            return self._view()

    @confirm.validator
    def validate_confirm(self, command: ConfirmInput) -> None:
        self._judge("confirm", command)

    @workflow.update
    async def read_out_closed(self, command: ReadOutClosedInput) -> None:
        """The desk recorded how a call to read out one of the case's messages ended (its
        receipt is on the ledger): the case acts on those it waits for."""
        async with self._turn(lambda: None):
            self._delay_call_closed(command)
            self._reminder_call_closed(command)
            if self._confirmation_call_closed(command):
                await self._wrong_number_on_the_confirmation_call(command)

    @read_out_closed.validator
    def validate_read_out_closed(self, command: ReadOutClosedInput) -> None:
        # On arrival only (its handler judges nothing): the desk's or a back-office key's
        # record of one of this case's read-outs, while the case has not ended.
        refuse_actor(read_outs.read_out_recorder_refusal(command.actor))
        refuse_field("message_key", read_outs.read_out_closed_problem(self._workflow_id, command))
        self._judge("read_out_closed", command)

    @workflow.update
    async def acknowledge(self, command: AcknowledgeInput) -> AppointmentView:
        async with self._turn(lambda: self.validate_acknowledge(command)):
            if not self.case.provider_acknowledged:
                self._promises.met(PromiseKind.PROVIDER_ACK, actor=command.actor)
                self._update(provider_acknowledged=True)
                self._unflag(ACK_MISSING_ALERT.lower())
                self._note(TimelineKind.ACTION, command.actor, "Provider acknowledged the booking")
                if self._current_rules:
                    await self._provider_notice_moot(command.actor)
            return self._view()

    @acknowledge.validator
    def validate_acknowledge(self, command: AcknowledgeInput) -> None:
        self._judge("acknowledge", command)

    @workflow.update
    async def record_call_outcome(self, command: RecordCallOutcomeInput) -> AppointmentView:
        async with self._turn(lambda: self._judge_record_call_outcome(command)):
            if self._current_rules:
                await self._record_call_outcome_beside(command)
            else:
                await self._record_call_outcome_in_line(command)
            return self._view()

    @record_call_outcome.validator
    def validate_record_call_outcome(self, command: RecordCallOutcomeInput) -> None:
        if command.outcome is CallOutcome.REACHED_RESCHEDULED and command.new_start is not None:
            # On arrival only (a validator does not run on replay): histories from before the
            # limit keep the times they accepted.
            refuse_field("new_start", not_bookable(command.new_start, workflow.now()))
        self._judge_record_call_outcome(command)

    @workflow.update
    async def check_in(self, command: CheckInInput) -> AppointmentView:
        async with self._turn(lambda: self.validate_check_in(command)):
            self._set_status(AppointmentStatus.CHECKED_IN, command.actor, "Client checked in")
            self._promises.close("client checked in", promises.SETTLED_BY_CHECK_IN)
            if self._current_rules:
                await self._confirmation_follow_ups_moot("checked_in", command.actor)
            return self._view()

    @check_in.validator
    def validate_check_in(self, command: CheckInInput) -> None:
        self._judge("check_in", command)

    @workflow.update
    async def complete(self, command: CompleteInput) -> AppointmentView:
        async with self._turn(lambda: self.validate_complete(command)):
            await self._complete(command.actor, "Visit completed")
            return self._view()

    @complete.validator
    def validate_complete(self, command: CompleteInput) -> None:
        self._judge("complete", command)

    @workflow.update
    async def cancel(self, command: CancelInput) -> AppointmentView:
        async with self._turn(lambda: self.validate_cancel(command)):
            if self._current_rules:
                await self._cancel_beside(command)
            else:
                await self._cancel_in_line(command)
            return self._view()

    @cancel.validator
    def validate_cancel(self, command: CancelInput) -> None:
        self._judge("cancel", command)

    @workflow.update
    async def reschedule(self, command: RescheduleInput) -> AppointmentView:
        async with self._turn(lambda: self._judge_reschedule(command)):
            if self._current_rules:
                await self._reschedule_beside(command)
            else:
                await self._reschedule_in_line(command)
            return self._view()

    @reschedule.validator
    def validate_reschedule(self, command: RescheduleInput) -> None:
        # A booking's time rules, on arrival only (as record_call_outcome's).
        refuse_field("new_start", not_bookable(command.new_start, workflow.now()))
        self._judge_reschedule(command)

    @workflow.update
    async def report_delay(self, command: ReportDelayInput) -> AppointmentView:
        # Who reports is judged by the validator alone: a history from before the rule holds
        # delays reported by anyone, and replays them.
        async with self._turn(lambda: self._judge("report_delay", command)):
            actor = command.actor or Actor(
                kind=ActorKind.PROVIDER, id=self.case.request.provider.id
            )
            if self._current_rules and actor.kind is ActorKind.CLIENT:
                self._report_client_late(command, actor)
            elif self._current_rules:
                await self._report_provider_delay(command, actor)
            else:
                await self._report_delay_in_line(command, actor)
            return self._view()

    @report_delay.validator
    def validate_report_delay(self, command: ReportDelayInput) -> None:
        self._judge("report_delay", command, command.actor)
        self._refuse_other_provider("report_delay", command.actor)
        if self._case is not None:
            # On arrival only (a validator does not run on replay): histories from before the
            # window keep the delays they accepted.
            refuse(appointment_rules.delay_refusal(self._case, workflow.now()))

    @workflow.update
    async def excuse_no_show(self, command: ExcuseNoShowInput) -> AppointmentView:
        """The client's plea against a fee: a no-show's, a late cancellation's or a late
        reschedule's (the name is the contract's, from when only a no-show had one)."""
        async with self._turn(lambda: self._judge_excuse_in_turn(command)):
            await self._receive_excuse(command)
            return self._view()

    @excuse_no_show.validator
    def validate_excuse_no_show(self, command: ExcuseNoShowInput) -> None:
        case = self._case
        if case is not None and case.status not in FINAL_APPOINTMENT_STATUSES:
            refuse(fees.plea_refusal(case))  # a visit still ahead: whether its move is charged
        self._judge("excuse_no_show", command)
        if case is not None:
            # On arrival only: a history from before the rule holds no-show excuses after a
            # decision.
            refuse(fees.plea_refusal(case))

    @workflow.update
    async def waive_fee(self, command: WaiveFeeInput) -> AppointmentView:
        # Who waives is judged by the validator alone, as for report_delay (a history from
        # before the rule holds a fee waived by the client).
        async with self._turn(lambda: self._judge("waive_fee", command)):
            if self._current_rules and self.case.status not in FINAL_APPOINTMENT_STATUSES:
                await self._waive_reschedule_fee(command)
            elif self._current_rules:
                await self._waive_no_show_fee(command)
            else:
                await self._waive_fee_in_line(command)
            return self._view()

    @waive_fee.validator
    def validate_waive_fee(self, command: WaiveFeeInput) -> None:
        self._judge("waive_fee", command, command.actor)
        self._refuse_other_provider("waive_fee", command.actor)

    @workflow.update
    async def fee_stands(self, command: FeeStandsInput) -> AppointmentView:
        async with self._turn(lambda: self._judge("fee_stands", command, command.actor)):
            await self._keep_fee(command)
            return self._view()

    @fee_stands.validator
    def validate_fee_stands(self, command: FeeStandsInput) -> None:
        self._judge("fee_stands", command, command.actor)
        self._refuse_other_provider("fee_stands", command.actor)

    @workflow.update
    async def correct_phone(self, command: CorrectPhoneInput) -> AppointmentView:
        async with self._turn(lambda: self.validate_correct_phone(command)):
            await self._correct_phone(command)
            return self._view()

    @correct_phone.validator
    def validate_correct_phone(self, command: CorrectPhoneInput) -> None:
        self._judge("correct_phone", command)
        if command.actor.kind is not ActorKind.STAFF:
            refuse_actor(
                f"correct_phone refused: the front desk records a client's number, not a "
                f"{command.actor.kind.value}"
            )

    @workflow.query
    def status(self) -> AppointmentView:
        return self._view()
