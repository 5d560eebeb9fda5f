"""One complaint, from filing to the follow-up survey (DESIGN.md §1, complaints 1–7).

The workflow decides; activities act. The route (department, contacts, tiers, office hours)
comes from the escalation matrix once, at filing; every deadline comes from
`policy`: the loop asks `complaint_rules.complaint_next_step` what is due, sleeps until then unless
an update changes the case, and asks again. So a hold, a resume, a proposal or a reopen
re-arms every timer, and the SLA clock can count office hours only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

from temporalio import workflow

from promptly.workflows.case import (
    refuse,
    step_summary,
    transition,
)
from promptly.workflows.case_start import opened_by
from promptly.workflows.complaint_messages import (
    MESSAGE_RETRY,
    SUPERSEDED_BY_A_REOPEN,
)
from promptly.workflows.complaint_steps import ComplaintSteps, count_sla
from promptly.workflows.complaint_support import feedback_given, hours, resumed_detail
from promptly.workflows.patches import COMPLAINT_CONTINUES_AS_NEW, PROCEDURE_RULES, since

with workflow.unsafe.imports_passed_through():
    from promptly.activities.complaints import ComplaintRulesActivities
    from promptly.domain import promises as ledger
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        ActorKind,
        Channel,
        PromiseKind,
        RecipientRole,
        TimelineKind,
    )
    from promptly.domain.complaints import rules as complaint_rules
    from promptly.domain.complaints import sla as complaint_sla
    from promptly.domain.complaints.models import (
        AddNoteInput,
        AssignInput,
        CloseComplaintInput,
        ComplaintCase,
        ComplaintContinuation,
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
    from promptly.domain.surveys.models import SurveyAnswer


RULES_TIMEOUT = timedelta(seconds=10)
# The workflow keeps the newest entries; PostgreSQL keeps them all.
MAX_TIMELINE = 200


@workflow.defn
class ComplaintWorkflow(ComplaintSteps):
    @workflow.init
    def __init__(self, request: ComplaintRequest | ComplaintContinuation) -> None:
        continued = request if isinstance(request, ComplaintContinuation) else None
        self._case: ComplaintCase | None = continued.case if continued else None
        # Set once the customer is acknowledged and the department told: updates wait for it.
        self._ready = continued is not None
        # The search attributes a run before this one set are this run's too.
        self._published: dict[str, object] = self._wanted() if continued else {}
        # Handlers await activities; one at a time keeps each transition whole.
        self._lock = asyncio.Lock()
        # Temporal suggested continue-as-new and the patch said yes: it waits for a safe point.
        self._continuing = False
        self._open_books(
            retry=MESSAGE_RETRY,
            dues=lambda: ledger.complaint_dues(self.case),
            keep_entries=MAX_TIMELINE,
            continued=continued,
        )

    # --- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ComplaintRequest | ComplaintContinuation) -> ComplaintView:
        if isinstance(request, ComplaintRequest):
            await self._file(request)
        while True:
            due = complaint_rules.complaint_next_step(self.case)
            await self._save()
            self._continue_as_new_if_safe(due)
            if await self._changed_before(due):
                continue
            async with self._lock:
                # An update may have run while this waited for the lock.
                if complaint_rules.complaint_next_step(self.case) != due:
                    continue
                if due.step is complaint_rules.ComplaintStep.FINISH:
                    break
                await self._run_step(due.step)

        await self._drain()
        await self._close_books(f"the complaint ended {self.case.status.value}")
        return self._view()

    async def _file(self, request: ComplaintRequest) -> None:
        """The first run: route the complaint, note it, acknowledge the customer and tell the
        department; updates wait until then."""
        # Before the first command, so histories recorded earlier replay on the old rules.
        procedure_rules = since(PROCEDURE_RULES)
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
                opened_by(),
                f"Complaint received via {request.received_via.value}: {request.category}, "
                f"severity {request.severity.value}; routed to {route.department_name} "
                f"(matrix route {route.rule})",
                status=ComplaintStatus.OPEN.value,
                department=route.department,
                sla_deadline=self._iso(complaint_sla.sla_deadline(self.case)),
                # The customer's own words, for whoever reads the history later (the export
                # quotes it). Timeline data rides the save activity's input: no command changes.
                description=request.description,
            )
            self._publish()
            count_sla("filed")
            await self._save()
            await self._acknowledge()
            await self._notify_department()
            self._ready = True

    def _continue_as_new_if_safe(self, due: complaint_rules.ComplaintDue) -> None:
        """A long history starts again in a new run, once Temporal suggests it (asked first,
        so a short complaint records no patch marker), at a safe point: no update handler
        and no send in flight, everything stored. Until then the planner's wait also ends
        when that point comes (`_changed_before`)."""
        if due.step is complaint_rules.ComplaintStep.FINISH:
            return
        if (
            not self._continuing
            and self._beside
            and workflow.info().is_continue_as_new_suggested()
            and workflow.patched(COMPLAINT_CONTINUES_AS_NEW)
        ):
            self._continuing = True
        if self._continuing and self._at_rest() and self._journal.all_saved:
            workflow.continue_as_new(ComplaintContinuation(case=self.case, **self._books_carried()))

    def _at_rest(self) -> bool:
        return workflow.all_handlers_finished() and self._messages.idle()

    async def _changed_before(self, due: complaint_rules.ComplaintDue) -> bool:
        """Sleep until `due.at` (forever if None); True if an update changed the case first,
        or a continue-as-new put off has its safe point."""
        self._describe(due)
        summary = step_summary(due.step.value, due.at) if due.at else ""
        # Not on the way to the end: that is no place to continue, and the wait must not end
        # at once, again and again.
        continuing = self._continuing and due.step is not complaint_rules.ComplaintStep.FINISH
        return await self._journal.changed_before(
            due.at, summary, or_when=lambda: continuing and self._at_rest()
        )

    async def _run_step(self, step: complaint_rules.ComplaintStep) -> None:
        if step is complaint_rules.ComplaintStep.ESCALATE:
            await self._escalate()
        elif step is complaint_rules.ComplaintStep.STATUS_UPDATE:
            await self._tell_customer("status_update")
        elif step is complaint_rules.ComplaintStep.VERDICT_TIMEOUT:
            await self._close(
                ComplaintStatus.CLOSED_UNCONFIRMED,
                SYSTEM,
                f"No verdict within {hours(self.case.policy.verdict_within)}: "
                "closed as resolved-unconfirmed",
                outcome="unconfirmed",
                reason="no answer to the proposed resolution",
                on_a_timer=True,
            )
        elif step is complaint_rules.ComplaintStep.HOLD_EXPIRED:
            await self._end_hold_on_its_own()
        elif step is complaint_rules.ComplaintStep.SURVEY:
            # Under the procedure rules the follow-up carries a signed one-question form.
            links = ["complaint_feedback"] if self.case.procedure_rules else []
            await self._tell_customer("complaint_survey", link_actions=links)
            self._set_case(self.case.model_copy(update={"survey_sent": True}))
        elif step is complaint_rules.ComplaintStep.CUSTOMER_MESSAGE:
            await self._send_waiting_messages()

    # --- updates ---------------------------------------------------------------------------------

    @workflow.update
    async def assign(self, command: AssignInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_assign(command)):
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
        self._judge("assign", command, command.actor)

    @workflow.update
    async def add_note(self, command: AddNoteInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_add_note(command)):
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
        self._judge("add_note", command, command.actor)

    @workflow.update
    async def hold(self, command: HoldInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_hold(command)):
            await self._put_on_hold(command)
            return self._view()

    @hold.validator
    def validate_hold(self, command: HoldInput) -> None:
        self._judge("hold", command, command.actor)

    @workflow.update
    async def resume(self, command: ResumeInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_resume(command)):
            self._resume_clock(command.actor, partial(resumed_detail, note=command.note))
            return self._view()

    @resume.validator
    def validate_resume(self, command: ResumeInput) -> None:
        self._judge("resume", command, command.actor)

    @workflow.update
    async def propose_resolution(self, command: ProposeResolutionInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_propose_resolution(command)):
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
        self._judge("propose_resolution", command, command.actor)

    @workflow.update
    async def customer_verdict(self, command: CustomerVerdictInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_customer_verdict(command)):
            comment = f" ({command.comment})" if command.comment else ""
            if command.satisfied:
                self._note(
                    TimelineKind.ACTION,
                    command.actor,
                    f"Customer satisfied with the resolution{command.given()}{comment}",
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
                f"Customer not satisfied with the resolution{command.given()}{comment}",
                satisfied=False,
            )
            self._set_case(complaint_rules.reopen_complaint(self.case, workflow.now()))
            self._promises.make(ledger.resolution_renewed(self.case, workflow.now()))
            level = self.case.escalation_level
            due = complaint_sla.sla_deadline(self.case)
            reopened = (
                f"Reopened at escalation level {level} with a fresh SLA clock: resolution due "
            )
            # The timeline keeps the machine time (its readers show it in theirs); the alert
            # is read as it is, in the staff's zone.
            self._note(
                TimelineKind.STATUS,
                command.actor,
                reopened + self._iso(due),
                status=ComplaintStatus.OPEN.value,
                previous=ComplaintStatus.RESOLUTION_PROPOSED.value,
                level=level,
            )
            self._publish()
            await self._cancel_superseded(SUPERSEDED_BY_A_REOPEN)
            await self._alert("Complaint reopened", reopened + self._shown(due))
            await self._tell_customer("escalation")
            return self._view()

    @customer_verdict.validator
    def validate_customer_verdict(self, command: CustomerVerdictInput) -> None:
        self._judge("customer_verdict", command, command.actor, command.root_cause)

    @workflow.update
    async def close(self, command: CloseComplaintInput) -> ComplaintView:
        async with self._turn(lambda: self.validate_close(command)):
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
        self._judge("close", command, command.actor, command.root_cause)

    @workflow.update
    async def feedback(self, answer: SurveyAnswer) -> ComplaintView:
        """The customer's answer to the follow-up's one question (through its signed link)."""
        async with transition(
            self._lock,
            lambda: refuse(complaint_rules.feedback_refusal(self.case)),
            store=lambda: True,
            save=self._save,
        ):
            self._set_case(feedback_given(self.case, answer))
            self._note(
                TimelineKind.ACTION,
                Actor(kind=ActorKind.CLIENT, id=self.case.request.customer.id),
                f"Follow-up answered{answer.given()}: {answer.nps}/10"
                + (f" ({answer.comment})" if answer.comment else ""),
                feedback_score=answer.nps,
                comment=answer.comment,
            )
            return self._view()

    @feedback.validator
    def validate_feedback(self, answer: SurveyAnswer) -> None:
        refuse(complaint_rules.feedback_refusal(self.case))
        self._refuse_if_closing("feedback")

    @workflow.query
    def status(self) -> ComplaintView:
        return self._view()
