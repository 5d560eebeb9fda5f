"""One complaint, from filing to the follow-up survey (DESIGN.md §1, complaints 1–7).

The workflow decides; activities act. The route (department, contacts, tiers, office hours)
comes from the escalation matrix once, at filing; every deadline comes from
`policy`: the loop asks `complaint_rules.complaint_next_step` what is due, sleeps until then unless
an update changes the case, and asks again. So a hold, a resume, a proposal or a reopen
re-arms every timer, and the SLA clock can count office hours only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from promptly.workflows.case_sends import CASE_SENDS_BESIDE, CaseSends
from promptly.workflows.complaint_messages import ComplaintMessaging
from promptly.workflows.complaint_support import (
    PROCEDURE_RULES,
    elapsed_text,
    feedback_given,
    hold_ended_detail,
)
from promptly.workflows.promises import PromiseBook

with workflow.unsafe.imports_passed_through():
    from promptly.activities.complaints import ComplaintRulesActivities
    from promptly.activities.records import RecordsActivities
    from promptly.domain import errors, metrics
    from promptly.domain import promises as ledger
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
    from promptly.domain.complaints import rules as complaint_rules
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import (
        AddNoteInput,
        AssignInput,
        CloseComplaintInput,
        ComplaintCase,
        ComplaintRequest,
        ComplaintStatus,
        ComplaintView,
        CustomerVerdictInput,
        HoldInput,
        NoteVisibility,
        ProposeResolutionInput,
        ResumeInput,
    )
    from promptly.domain.messages import Recipient
    from promptly.domain.readable_time import readable
    from promptly.domain.surveys.models import SurveyAnswer
    from promptly.workflows.read_views import read_view, record_before_answer

COMPLAINT_STATUS = SearchAttributeKey.for_keyword("ComplaintStatus")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
SLA_DEADLINE = SearchAttributeKey.for_datetime("SlaDeadline")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")

RULES_TIMEOUT = timedelta(seconds=10)
RECORD_TIMEOUT = timedelta(seconds=30)
# The workflow keeps the newest entries; PostgreSQL keeps them all.
MAX_TIMELINE = 200


def _hours(amount: timedelta) -> str:
    return f"{round(amount.total_seconds() / 3600, 2):g}h"


def _count_sla(state: str) -> None:
    """The `promptly_complaints` counter; the SDK records nothing while replaying."""
    meter = workflow.metric_meter()
    counter = meter.create_counter(metrics.COMPLAINTS, metrics.HELP[metrics.COMPLAINTS])
    counter.add(1, {"sla_state": state})


@workflow.defn
class ComplaintWorkflow(ComplaintMessaging):
    @workflow.init
    def __init__(self, request: ComplaintRequest) -> None:
        self._request = request
        self._case: ComplaintCase | None = None
        # Set once the customer is acknowledged and the department told: updates wait for it.
        self._ready = False
        self._timeline: list[TimelineEntry] = []
        self._total_entries = 0  # ever noted; the seq of the next entry
        self._stored_entries = 0  # noted and written to PostgreSQL
        self._omitted_entries = 0  # dropped from memory (oldest first), all stored
        self._changes = 0
        self._saved_changes = -1
        self._published: dict[str, object] = {}
        # Handlers await activities; one at a time keeps each transition whole.
        self._lock = asyncio.Lock()
        self._save_lock = asyncio.Lock()
        # Decided once, in the first workflow task: a case replaying a history from before
        # the patch awaits its messages in line for its whole run.
        self._beside = workflow.patched(CASE_SENDS_BESIDE)
        self._messages = CaseSends(
            note=lambda kind, detail, data: self._note(kind, SYSTEM, detail, **data),
            flag=self._flag,
            saved=self._save,
        )
        self._promises = PromiseBook.opened()

    # --- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ComplaintRequest) -> ComplaintView:
        # Before the first command, so histories recorded earlier replay on the old rules.
        procedure_rules = workflow.patched(PROCEDURE_RULES)
        rules = await workflow.execute_local_activity_method(
            ComplaintRulesActivities.complaint_rules,
            request,
            start_to_close_timeout=RULES_TIMEOUT,
            summary="route by the escalation matrix",
        )
        # Filed when Temporal accepted the start, not when a busy worker first ran it
        # (`start_time` is the first workflow task, late after a worker outage).
        info = workflow.info()
        filed_at = info.workflow_start_time if procedure_rules else info.start_time
        self._case = complaint_sla.new_complaint_case(
            request, filed_at, rules, procedure_rules=procedure_rules
        )
        self._promises.make(ledger.complaint_promises(self.case, filed_at))
        async with self._lock:
            route = self.case.route
            self._note(
                TimelineKind.STATUS,
                SYSTEM,
                f"Complaint received via {request.received_via.value}: {request.category}, "
                f"severity {request.severity.value}; routed to {route.department_name} "
                f"(matrix route {route.rule})",
                status=ComplaintStatus.OPEN.value,
                department=route.department,
                sla_deadline=self._iso(complaint_sla.sla_deadline(self.case)),
            )
            self._publish()
            _count_sla("filed")
            await self._save()
            await self._acknowledge()
            await self._notify_department()
            self._ready = True

        while True:
            due = complaint_rules.complaint_next_step(self.case)
            await self._save()
            if await self._changed_before(due):
                continue
            async with self._lock:
                # An update may have run while this waited for the lock.
                if complaint_rules.complaint_next_step(self.case) != due:
                    continue
                if due.step is complaint_rules.ComplaintStep.FINISH:
                    break
                await self._run_step(due.step)

        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._beside:
            await self._messages.drain()
        self._promises.close(f"the complaint ended {self.case.status.value}")
        await self._save()
        return self._view()

    async def _changed_before(self, due: complaint_rules.ComplaintDue) -> bool:
        """Sleep until `due.at` (forever if None); True if an update changed the case first."""
        self._describe(due)
        seen = self._changes
        if due.at is None:
            await workflow.wait_condition(lambda: self._changes != seen)
            return True
        delay = due.at - workflow.now()
        if delay <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(
                lambda: self._changes != seen,
                timeout=delay,
                timeout_summary=f"{due.step.value.replace('_', ' ')} at {due.at.isoformat()}",
            )
        except TimeoutError:
            return False
        return True

    async def _run_step(self, step: complaint_rules.ComplaintStep) -> None:
        if step is complaint_rules.ComplaintStep.ESCALATE:
            await self._escalate()
        elif step is complaint_rules.ComplaintStep.STATUS_UPDATE:
            await self._tell_customer("status_update")
        elif step is complaint_rules.ComplaintStep.VERDICT_TIMEOUT:
            await self._close(
                ComplaintStatus.CLOSED_UNCONFIRMED,
                SYSTEM,
                f"No verdict within {_hours(self.case.policy.verdict_within)}: "
                "closed as resolved-unconfirmed",
                outcome="unconfirmed",
                reason="no answer to the proposed resolution",
            )
        elif step is complaint_rules.ComplaintStep.HOLD_EXPIRED:
            await self._end_hold_on_its_own()
        elif step is complaint_rules.ComplaintStep.SURVEY:
            # Under the procedure rules the follow-up carries a signed one-question form.
            links = ["complaint_feedback"] if self.case.procedure_rules else []
            await self._tell_customer("complaint_survey", link_actions=links)
            self._set_case(self.case.model_copy(update={"survey_sent": True}))

    # --- what the workflow does on its own ----------------------------------------------------

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
            _count_sla("supervisor")
            await self._alert("Unresolved complaint", detail)
            if self.case.procedure_rules:
                await self._tell_customer("escalation", tier="supervisor")
        else:
            deadline = complaint_sla.sla_deadline(self.case)
            detail = (
                f"SLA breached: unresolved after {elapsed}; manager "
                f"told (level {step.level}); new timeline {self._iso(deadline)}"
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
            _count_sla("breach_extended" if before.sla_breached else "breached")
            await self._alert("SLA breached", detail)
            await self._tell_customer("escalation")
        self._publish()

    async def _end_hold_on_its_own(self) -> None:
        """The hold reached `max_hold`: the clock resumes and the customer is told."""
        now = workflow.now()
        case = self.case
        held = now - (case.on_hold_since or now)
        self._set_case(complaint_rules.resume_complaint(case, now))
        detail = hold_ended_detail(held, complaint_sla.sla_deadline(self.case))
        self._note(
            TimelineKind.STATUS,
            SYSTEM,
            detail,
            status=ComplaintStatus.OPEN.value,
            previous=ComplaintStatus.ON_HOLD.value,
            held_seconds=int(held.total_seconds()),
        )
        self._publish()
        await self._tell_customer("hold_ended", reason=case.hold_reason or "")

    async def _close(
        self,
        status: ComplaintStatus,
        actor: Actor,
        detail: str,
        *,
        outcome: str,
        reason: str,
        root_cause: str | None = None,
    ) -> None:
        previous = self.case.status
        self._promises.met(PromiseKind.COMPLAINT_RESOLVED, actor=actor)
        self._set_case(
            complaint_rules.close_complaint(self.case, workflow.now(), status, reason, root_cause)
        )
        _count_sla("closed_breached" if self.case.sla_breached else "closed_in_sla")
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
        await self._tell_customer("complaint_closed", outcome=outcome, reason=reason)

    # --- updates ---------------------------------------------------------------------------------

    @workflow.update
    async def assign(self, command: AssignInput) -> ComplaintView:
        async with self._transition("assign", command.actor):
            assignee = command.assignee
            self._set_case(complaint_rules.assign_complaint(self.case, assignee))
            self._note(
                TimelineKind.ACTION,
                command.actor,
                f"Assigned to {assignee.name} ({assignee.id})",
                assignee=assignee.id,
            )
            if assignee.email is not None:
                await self._send(
                    "complaint_assigned",
                    Recipient(
                        role=RecipientRole.ASSIGNEE,
                        name=assignee.name,
                        email=str(assignee.email),
                        timezone=self._staff_timezone,
                    ),
                    Channel.EMAIL,
                )
            return self._view()

    @assign.validator
    def validate_assign(self, command: AssignInput) -> None:
        self._refuse_unless_allowed("assign", command.actor)

    @workflow.update
    async def add_note(self, command: AddNoteInput) -> ComplaintView:
        async with self._transition("add_note", command.actor):
            visible = command.visibility is NoteVisibility.CUSTOMER
            self._note(
                TimelineKind.ACTION,
                command.actor,
                f"{'Note to the customer' if visible else 'Internal note'}: {command.text}",
                visibility=command.visibility.value,
            )
            if visible:
                await self._tell_customer("complaint_note", note=command.text)
            return self._view()

    @add_note.validator
    def validate_add_note(self, command: AddNoteInput) -> None:
        self._refuse_unless_allowed("add_note", command.actor)

    @workflow.update
    async def hold(self, command: HoldInput) -> ComplaintView:
        async with self._transition("hold", command.actor):
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
            return self._view()

    @hold.validator
    def validate_hold(self, command: HoldInput) -> None:
        self._refuse_unless_allowed("hold", command.actor)

    @workflow.update
    async def resume(self, command: ResumeInput) -> ComplaintView:
        async with self._transition("resume", command.actor):
            now = workflow.now()
            held = now - (self.case.on_hold_since or now)
            self._set_case(complaint_rules.resume_complaint(self.case, now))
            self._note(
                TimelineKind.STATUS,
                command.actor,
                f"Resumed after {_hours(held)} on hold; resolution due "
                f"{self._iso(complaint_sla.sla_deadline(self.case))}"
                + (f" ({command.note})" if command.note else ""),
                status=ComplaintStatus.OPEN.value,
                previous=ComplaintStatus.ON_HOLD.value,
                held_seconds=int(held.total_seconds()),
            )
            self._publish()
            return self._view()

    @resume.validator
    def validate_resume(self, command: ResumeInput) -> None:
        self._refuse_unless_allowed("resume", command.actor)

    @workflow.update
    async def propose_resolution(self, command: ProposeResolutionInput) -> ComplaintView:
        async with self._transition("propose_resolution", command.actor):
            previous = self.case.status
            self._set_case(
                complaint_rules.propose_resolution(self.case, workflow.now(), command.resolution)
            )
            self._promises.met(PromiseKind.COMPLAINT_RESOLVED, actor=command.actor)
            self._note(
                TimelineKind.STATUS,
                command.actor,
                f"Resolution proposed: {command.resolution}; the customer is asked to confirm "
                f"by {self._iso(self.case.verdict_deadline)}",
                status=ComplaintStatus.RESOLUTION_PROPOSED.value,
                previous=previous.value,
            )
            self._publish()
            await self._cancel_moot_messages(closed=False)
            await self._tell_customer("resolution_proposed")
            return self._view()

    @propose_resolution.validator
    def validate_propose_resolution(self, command: ProposeResolutionInput) -> None:
        self._refuse_unless_allowed("propose_resolution", command.actor)

    @workflow.update
    async def customer_verdict(self, command: CustomerVerdictInput) -> ComplaintView:
        async with self._transition("customer_verdict", command.actor, command.root_cause):
            comment = f" ({command.comment})" if command.comment else ""
            if command.satisfied:
                self._note(
                    TimelineKind.ACTION,
                    command.actor,
                    f"Customer satisfied with the resolution{comment}",
                    satisfied=True,
                )
                await self._close(
                    ComplaintStatus.CLOSED,
                    command.actor,
                    "Closed: the customer confirmed the resolution",
                    outcome="confirmed",
                    reason="resolution confirmed by the customer",
                    root_cause=command.root_cause,
                )
                return self._view()
            self._note(
                TimelineKind.ACTION,
                command.actor,
                f"Customer not satisfied with the resolution{comment}",
                satisfied=False,
            )
            self._set_case(complaint_rules.reopen_complaint(self.case, workflow.now()))
            self._promises.make(ledger.resolution_renewed(self.case, workflow.now()))
            level = self.case.escalation_level
            detail = (
                f"Reopened at escalation level {level} with a fresh SLA clock: resolution due "
                f"{self._iso(complaint_sla.sla_deadline(self.case))}"
            )
            self._note(
                TimelineKind.STATUS,
                command.actor,
                detail,
                status=ComplaintStatus.OPEN.value,
                previous=ComplaintStatus.RESOLUTION_PROPOSED.value,
                level=level,
            )
            self._publish()
            await self._alert("Complaint reopened", detail)
            await self._tell_customer("escalation")
            return self._view()

    @customer_verdict.validator
    def validate_customer_verdict(self, command: CustomerVerdictInput) -> None:
        self._refuse_unless_allowed("customer_verdict", command.actor, command.root_cause)

    @workflow.update
    async def close(self, command: CloseComplaintInput) -> ComplaintView:
        async with self._transition("close", command.actor, command.root_cause):
            await self._close(
                ComplaintStatus.CLOSED,
                command.actor,
                f"Closed by {command.actor.id}: {command.reason}",
                outcome="closed",
                reason=command.reason,
                root_cause=command.root_cause,
            )
            return self._view()

    @close.validator
    def validate_close(self, command: CloseComplaintInput) -> None:
        self._refuse_unless_allowed("close", command.actor, command.root_cause)

    @workflow.update
    async def feedback(self, answer: SurveyAnswer) -> ComplaintView:
        """The customer's answer to the follow-up's one question (through its signed link)."""
        async with self._lock:
            self.validate_feedback(answer)
            self._set_case(feedback_given(self.case, answer))
            self._note(
                TimelineKind.ACTION,
                Actor(kind=ActorKind.CLIENT, id=self.case.request.customer.id),
                f"Follow-up answered: {answer.nps}/10"
                + (f" ({answer.comment})" if answer.comment else ""),
                feedback_score=answer.nps,
                comment=answer.comment,
            )
            await self._save()
            return self._view()

    @feedback.validator
    def validate_feedback(self, answer: SurveyAnswer) -> None:
        refusal = complaint_rules.feedback_refusal(self.case)
        if refusal is not None:
            raise ApplicationError(refusal, type=errors.TRANSITION_REFUSED, non_retryable=True)

    @workflow.query
    def status(self) -> ComplaintView:
        return self._view()

    # --- state helpers --------------------------------------------------------------------------

    @property
    def case(self) -> ComplaintCase:
        if self._case is None:
            raise ApplicationError(
                "the complaint is still being filed; try again in a moment",
                type=errors.TRANSITION_REFUSED,
            )
        return self._case

    @property
    def _workflow_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def _department(self) -> Actor:
        return ledger.responsible_department(self.case.route.department)

    @property
    def _staff_timezone(self) -> str:
        office = self.case.route.business_hours
        return office.timezone if office is not None else self.case.request.customer.timezone

    def _transition(self, update: str, actor: Actor, root_cause: str | None = None) -> _Transition:
        return _Transition(self, update, actor, root_cause)

    def _refuse_unless_allowed(
        self, update: str, actor: Actor, root_cause: str | None = None
    ) -> None:
        if self._case is None or not self._ready:
            return  # still filing: the handler waits and judges then
        refusal = complaint_rules.complaint_refusal(
            update, self._case, actor
        ) or complaint_rules.root_cause_refusal(update, self._case, root_cause)
        if refusal is not None:
            raise ApplicationError(refusal, type=errors.TRANSITION_REFUSED, non_retryable=True)

    def _set_case(self, case: ComplaintCase) -> None:
        self._case = case
        self._changes += 1

    def _flag(self, concern: str) -> None:
        if concern not in self.case.needs_attention:
            self._set_case(
                self.case.model_copy(
                    update={"needs_attention": [*self.case.needs_attention, concern]}
                )
            )

    def _note(self, kind: TimelineKind, actor: Actor, detail: str, /, **data: object) -> None:
        self._timeline.append(
            TimelineEntry(at=workflow.now(), kind=kind, actor=actor, detail=detail, data=data)
        )
        self._total_entries += 1
        self._changes += 1

    @staticmethod
    def _iso(moment: datetime | None) -> str:
        return moment.isoformat() if moment is not None else ""

    def _shown(self, moment: datetime | None) -> str:
        """A time in the UI's current details: staff time, to the minute, zone named."""
        return readable(moment, self._staff_timezone)

    def _publish(self) -> None:
        """Keep the search attributes current; only changed values are upserted."""
        case = self.case
        deadline = complaint_sla.sla_deadline(case)
        wanted: dict[str, object] = {
            "status": case.status.value,
            "department": case.route.department,
            "deadline": deadline,
            "breached": case.sla_breached,
            "level": case.escalation_level,
            "client": case.request.customer.id,
        }
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
        attention = (
            f" · needs attention: {', '.join(case.needs_attention)}" if case.needs_attention else ""
        )
        workflow.set_current_details(f"{head} · {waits}{next_step}{attention}")

    async def _save(self) -> None:
        """Store the case row and the timeline entries PostgreSQL has not seen yet."""
        # The run loop and a send's outcome may save at once: one write at a time keeps the
        # stored entries in order.
        async with self._save_lock:
            await self._save_now()

    async def _save_now(self) -> None:
        self._promises.follow(ledger.complaint_dues(self.case))
        if self._saved_changes == self._changes and not self._promises.dirty:
            return
        self._saved_changes = self._changes
        case = self.case
        changed_promises = self._promises.unsaved()
        total = self._total_entries
        unsaved = total - self._stored_entries
        new_entries = self._timeline[len(self._timeline) - unsaved :] if unsaved else []
        deadline = complaint_sla.sla_deadline(case)
        await workflow.execute_activity_method(
            RecordsActivities.record_case,
            CaseSnapshot(
                case_id=self._workflow_id,
                read_view=read_view(self._view(), self._changes, self._omitted_entries),
                kind=CaseKind.COMPLAINT,
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
                first_seq=self._stored_entries,
                entries=new_entries,
                promises=changed_promises,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            summary="record case",
        )
        self._promises.saved(changed_promises)
        # Entries noted while this was being written are stored next time.
        self._stored_entries = total
        in_memory_stored = self._stored_entries - self._omitted_entries
        drop = min(len(self._timeline) - MAX_TIMELINE, in_memory_stored)
        if drop > 0:
            del self._timeline[:drop]
            self._omitted_entries += drop

    def _view(self) -> ComplaintView:
        case = self.case
        office = case.route.business_hours
        return ComplaintView(
            complaint_id=case.request.complaint_id,
            status=case.status,
            category=case.request.category,
            severity=case.request.severity,
            received_via=case.request.received_via,
            appointment_id=case.request.appointment_id,
            department=case.route.department,
            department_name=case.route.department_name,
            assignee=case.assignee,
            contact=complaint_sla.point_of_contact(case),
            filed_at=case.filed_at,
            sla_deadline=complaint_sla.sla_deadline(case),
            next_escalation_at=complaint_sla.next_escalation_at(case),
            escalation_level=case.escalation_level,
            sla_breached=case.sla_breached,
            business_hours_only=office is not None,
            next_status_update_at=case.update_due_at,
            last_customer_update_at=case.last_customer_update_at,
            hold_reason=case.hold_reason,
            on_hold_since=case.on_hold_since,
            # A query sees the time of the last workflow event, so an ongoing hold is
            # reported by its start, not by a duration that would be stale.
            time_on_hold=case.held_before,
            resolution=case.resolution,
            verdict_deadline=case.verdict_deadline,
            reopened=case.reopened,
            closed_at=case.closed_at,
            close_reason=case.close_reason,
            survey_at=complaint_rules.survey_at(case),
            survey_sent=case.survey_sent,
            needs_attention=case.needs_attention,
            timeline=list(self._timeline),
            timeline_omitted=self._omitted_entries,
            hold_until=case.hold_until,
            root_cause=case.root_cause,
            feedback_score=case.feedback_score,
        )


class _Transition:
    """`async with`: wait until the complaint is filed, take the lock, judge the update again
    (the state may have moved since the validator ran), then let the handler change it."""

    def __init__(
        self, owner: ComplaintWorkflow, update: str, actor: Actor, root_cause: str | None
    ) -> None:
        self._owner = owner
        self._update = update
        self._actor = actor
        self._root_cause = root_cause

    async def __aenter__(self) -> None:
        owner = self._owner
        await workflow.wait_condition(lambda: owner._ready)
        await owner._lock.acquire()
        try:
            owner._refuse_unless_allowed(self._update, self._actor, self._root_cause)
        except BaseException:
            owner._lock.release()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            # Stored before the update answers: the API's GET reads PostgreSQL
            # (workflows/read_views.py). A refused update stores nothing.
            if exc_type is None and record_before_answer():
                await self._owner._save()
        finally:
            self._owner._lock.release()
