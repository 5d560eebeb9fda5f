"""The complaint workflow's state and what every part of it reads and writes through: the
case, its journal (workflows/case.py), the rule checks, the search attributes, the UI's
current details, the stored row and the view.

The workflow is built in layers: this state, how it sends (complaint_messages.py), and the
workflow itself (complaint.py): its run, its steps and its updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from promptly.workflows.case import (
    CaseRow,
    attention_note,
    opened,
    refuse,
    refuse_actor,
    refuse_field,
    transition,
)
from promptly.workflows.case_sends import SendingCase
from promptly.workflows.search_attributes import (
    CLIENT_ID,
    COMPLAINT_STATUS,
    DEPARTMENT,
    ESCALATION_LEVEL,
    SLA_BREACHED,
    SLA_DEADLINE,
)

with workflow.unsafe.imports_passed_through():
    from promptly.domain import promises as ledger
    from promptly.domain.common import (
        Actor,
        CaseKind,
        unflagged,
    )
    from promptly.domain.complaints import rules as complaint_rules
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import (
        ComplaintCase,
        ComplaintStatus,
        ComplaintView,
    )
    from promptly.domain.readable_time import readable
    from promptly.workflows.read_views import record_before_answer, status_view


class ComplaintState(SendingCase):
    """The case and its journal; set up by `ComplaintWorkflow.__init__`."""

    _kind = CaseKind.COMPLAINT

    _case: ComplaintCase | None
    _lock: asyncio.Lock
    # Set once the customer is acknowledged and the department told: updates wait for it.
    _ready: bool
    _published: dict[str, object]

    @property
    def case(self) -> ComplaintCase:
        return opened(self._case, "complaint is still being filed")

    @property
    def _department(self) -> Actor:
        return ledger.responsible_department(self.case.route.department)

    @property
    def _staff_timezone(self) -> str:
        return self.case.route.staff_timezone(self.case.request.customer.timezone)

    def _turn(self, judge: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """An update's turn (workflows/case.py): once the complaint is filed, one handler at a
        time, judged again on the current state, stored before the update answers."""
        return transition(
            self._lock,
            self._judged_in_turn(judge),
            ready=lambda: self._ready,
            store=record_before_answer,
            save=self._save,
        )

    def _refuse_unless_allowed(
        self, update: str, actor: Actor, root_cause: str | None = None
    ) -> None:
        if self._case is None or not self._ready:
            return  # still filing: the handler waits and judges then
        refuse(complaint_rules.complaint_state_refusal(update, self._case))
        refuse_actor(complaint_rules.complaint_actor_refusal(update, actor))
        refuse_field(
            "root_cause", complaint_rules.root_cause_refusal(update, self._case, root_cause)
        )

    def _set_case(self, case: ComplaintCase) -> None:
        self._case = case
        self._journal.changed()

    def _flag(self, concern: str) -> None:
        if concern not in self.case.needs_attention:
            self._set_case(
                self.case.model_copy(
                    update={"needs_attention": [*self.case.needs_attention, concern]}
                )
            )

    def _unflag(self, concern: str) -> None:
        self._set_case(unflagged(self.case, concern))

    @staticmethod
    def _iso(moment: datetime | None) -> str:
        return moment.isoformat() if moment is not None else ""

    def _shown(self, moment: datetime | None) -> str:
        """A time in the UI's current details: staff time, to the minute, zone named."""
        return readable(moment, self._staff_timezone)

    def _wanted(self) -> dict[str, object]:
        """The search attributes' values for the case as it is."""
        case = self.case
        return {
            "status": case.status.value,
            "department": case.route.department,
            "deadline": complaint_sla.sla_deadline(case),
            "breached": case.sla_breached,
            "level": case.escalation_level,
            "client": case.request.customer.id,
        }

    def _publish(self) -> None:
        """Keep the search attributes current; only changed values are upserted."""
        case = self.case
        deadline = complaint_sla.sla_deadline(case)
        wanted = self._wanted()
        changed = {
            name for name, value in wanted.items() if self._published.get(name, ...) != value
        }
        if not changed:
            return
        updates: list[SearchAttributeUpdate[Any]] = []
        if "status" in changed:
            updates.append(COMPLAINT_STATUS.value_set(case.status.value))
        if "department" in changed:
            updates.append(DEPARTMENT.value_set(case.route.department))
        if "deadline" in changed:
            updates.append(
                SLA_DEADLINE.value_set(deadline) if deadline else SLA_DEADLINE.value_unset()
            )
        if "breached" in changed:
            updates.append(SLA_BREACHED.value_set(case.sla_breached))
        if "level" in changed:
            updates.append(ESCALATION_LEVEL.value_set(case.escalation_level))
        if "client" in changed:
            updates.append(CLIENT_ID.value_set(case.request.customer.id))
        workflow.upsert_search_attributes(updates)
        self._published = wanted

    def _describe(self, due: complaint_rules.ComplaintDue) -> None:
        """The UI's current details: where the case stands and what it waits for."""
        case = self.case
        head = (
            f"**{case.status.value}** · {case.route.department_name} · "
            f"level {case.escalation_level}"
        )
        if case.sla_breached:
            head += " · SLA breached"
        if case.status is ComplaintStatus.ON_HOLD:
            waits = f"waiting on the customer ({case.hold_reason}); SLA clock paused"
        elif case.status is ComplaintStatus.RESOLUTION_PROPOSED:
            waits = f"waiting for the customer's verdict until {self._shown(case.verdict_deadline)}"
        elif case.status is ComplaintStatus.OPEN:
            waits = f"waiting for a resolution by {self._shown(complaint_sla.sla_deadline(case))}"
        else:
            waits = "closed"
        next_step = (
            f" · next: {due.step.value.replace('_', ' ')} at {self._shown(due.at)}"
            if due.at
            else ""
        )
        workflow.set_current_details(
            f"{head} · {waits}{next_step}{attention_note(case.needs_attention)}"
        )

    def _row(self) -> CaseRow:
        case = self.case
        deadline = complaint_sla.sla_deadline(case)
        return CaseRow(
            business_id=case.request.complaint_id,
            status=case.status.value,
            client_id=case.request.customer.id,
            details={
                "category": case.request.category,
                "severity": case.request.severity.value,
                "received_via": case.request.received_via.value,
                "appointment_id": case.request.appointment_id,
                "department": case.route.department,
                "escalation_level": case.escalation_level,
                "sla_breached": case.sla_breached,
                "sla_deadline": self._iso(deadline) or None,
                "time_on_hold_seconds": int(
                    complaint_rules.time_on_hold(case, workflow.now()).total_seconds()
                ),
                "needs_attention": case.needs_attention,
                "root_cause": case.root_cause,
                "feedback_score": case.feedback_score,
            },
        )

    def _view(self) -> ComplaintView:
        case = self.case
        request = case.request
        return status_view(
            ComplaintView,
            case,
            complaint_id=request.complaint_id,
            client_id=request.customer.id,
            category=request.category,
            severity=request.severity,
            received_via=request.received_via,
            appointment_id=request.appointment_id,
            department=case.route.department,
            department_name=case.route.department_name,
            contact=complaint_sla.point_of_contact(case),
            sla_deadline=complaint_sla.sla_deadline(case),
            next_escalation_at=complaint_sla.next_escalation_at(case),
            business_hours_only=case.route.business_hours is not None,
            next_status_update_at=case.update_due_at,
            # A query sees the time of the last workflow event, so an ongoing hold is
            # reported by its start, not by a duration that would be stale.
            time_on_hold=case.held_before,
            survey_at=complaint_rules.survey_at(case),
            timeline=list(self._journal.timeline),
            timeline_omitted=self._journal.omitted,
            version=self._version(),
        )
