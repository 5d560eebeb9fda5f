"""The checks an appointment's updates make again in their turn, on the case as it is once
the update holds the case (its validator made them on arrival, before the update waited its
turn): a call outcome's agreed new time, a reschedule's, and a plea against a fee.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from promptly.workflows.appointment_in_line import AppointmentInLine
from promptly.workflows.case import refuse
from promptly.workflows.patches import FEE_PLEA_FOR_EVERY_FEE

with workflow.unsafe.imports_passed_through():
    from promptly.domain import errors
    from promptly.domain.appointments import fees
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        AppointmentStatus,
        CallOutcome,
        ExcuseNoShowInput,
        RecordCallOutcomeInput,
        RescheduleInput,
    )


class AppointmentJudges(AppointmentInLine):
    """What an update's turn judges before it changes the case."""

    def _judge_record_call_outcome(self, command: RecordCallOutcomeInput) -> None:
        self._judge("record_call_outcome", command)
        if not self._current_rules or command.outcome is not CallOutcome.REACHED_RESCHEDULED:
            return
        if command.new_start is None:
            raise ApplicationError(
                "record_call_outcome refused: reached_rescheduled needs new_start, the time "
                "agreed with the client",
                type=errors.TRANSITION_REFUSED,
                non_retryable=True,
            )
        if self._case is not None:
            refuse(
                appointment_rules.reschedule_refusal(self._case, command.new_start, workflow.now())
            )

    def _judge_reschedule(self, command: RescheduleInput) -> None:
        self._refuse_if_changed(command)
        if self._case is None:
            return
        refuse(appointment_rules.reschedule_refusal(self._case, command.new_start, workflow.now()))

    def _judge_excuse_in_turn(self, command: ExcuseNoShowInput) -> None:
        self._judge("excuse_no_show", command)
        case = self._case
        if case is None:
            return
        if case.status is not AppointmentStatus.NO_SHOW:
            # A late change's plea, accepted since the patch only: no history holds one the
            # rule would refuse now (the fee waived or decided while it waited its turn).
            refuse(fees.plea_refusal(case))
        # A plea that arrived while another was being received: added to it since the patch
        # (asked only then), refused before it, as such histories recorded.
        if fees.plea_adds_to_open_decision(case) and not workflow.patched(FEE_PLEA_FOR_EVERY_FEE):
            refuse("excuse_no_show refused: an excuse is already with the provider")
