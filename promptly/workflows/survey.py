"""The post-visit follow-up (DESIGN.md §1, appointments 10): child of an appointment.

Sent `send_after` the end of the visit (default 2h, always within 48h), one reminder after
24h, closed after 7 days. An answer is recorded in PostgreSQL; a detractor (NPS 0–6)
opens a complaint for the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from promptly.workflows.case import CaseRow, refuse, transition
from promptly.workflows.case_sends import (
    SendingCase,
    client_message_task,
)
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.messages import deliver, message_retry, to_client
from promptly.workflows.patches import PASSED_STEPS_SKIPPED

with workflow.unsafe.imports_passed_through():
    from promptly.activities.records import RecordsActivities
    from promptly.domain import promises as ledger
    from promptly.domain import read_outs
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        ActorKind,
        CaseKind,
        PromiseKind,
        TimelineKind,
        flagged,
        unflagged,
    )
    from promptly.domain.messages import SendMessageRequest
    from promptly.domain.readable_time import readable
    from promptly.domain.surveys import rules as survey_rules
    from promptly.domain.surveys.models import (
        SurveyAnswer,
        SurveyAnswerRecord,
        SurveyCase,
        SurveyRequest,
        SurveyStatus,
        SurveyView,
    )
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT, WORKFLOW_TASK_TIMEOUT
    from promptly.workflows.read_views import status_view

MESSAGE_RETRY = message_retry(maximum_interval=timedelta(minutes=30))
# Beside the plan, a survey message that cannot go out within this (and before the next
# milestone) becomes a flag and a front-desk task.
MESSAGE_BUDGET = timedelta(hours=6)


@workflow.defn
class SurveyWorkflow(SendingCase):
    _kind = CaseKind.SURVEY
    _stores_view = False

    @workflow.init
    def __init__(self, request: SurveyRequest) -> None:
        # Built here, not in run: the link page may ask for the status before run starts.
        self._case: SurveyCase = survey_rules.new_survey(request)
        self._lock = asyncio.Lock()
        self._open_books(retry=MESSAGE_RETRY, summary="record survey", skip_unchanged=False)

    @workflow.run
    async def run(self, request: SurveyRequest) -> SurveyView:
        self._promises.make(ledger.survey_promise(request.visit_ended_at, workflow.now()))
        self._note(
            TimelineKind.STATUS,
            SYSTEM,
            f"Survey scheduled for {readable(self._case.send_at, request.staff_timezone)}",
            status=self._case.status.value,
        )
        await self._save()
        if (
            not await self._answered_before(self._case.send_at, "send the survey")
            and not self._skipped_as_passed()
        ):
            await self._send("survey", settled=self._survey_settled)
            if self._case.answer is None:  # an answer that came while it was sending stands
                self._set_status(SurveyStatus.SENT, SYSTEM, "Survey sent")
            await self._save()
            if not await self._answered_before(self._case.reminder_at, "reminder"):
                await self._send("survey_reminder")
                await self._save()
                await self._answered_before(self._case.closes_at, "close unanswered")
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Closing: an answer from here on is refused (`validate_answer`), not taken and lost.
        self._closing = True
        if self._beside:
            if self._case.answer is None:
                await self._cancel_moot_messages("survey_closed")
            await self._messages.drain()
        if self._case.answer is None:
            self._set_status(SurveyStatus.CLOSED, SYSTEM, "Survey closed without an answer")
        await self._close_books(f"the survey ended {self._case.status.value}")
        return self._view()

    def _skipped_as_passed(self) -> bool:
        """The survey the case comes to after its 48h (the worker was down, a backlog) is not
        sent, nor its reminder: the timeline says why, its promise is broken, and the survey
        closes unanswered. True when skipped."""
        now = workflow.now()
        if survey_rules.survey_passed(self._case, now) is None or not workflow.patched(
            PASSED_STEPS_SKIPPED
        ):
            return False
        note = survey_rules.survey_skipped_note(self._case, now)
        self._promises.broken(PromiseKind.SURVEY, note)
        self._note(TimelineKind.DECISION, SYSTEM, note, skipped=True)
        return True

    def _set_status(self, status: SurveyStatus, actor: Actor, detail: str, **data: object) -> None:
        """Every change of status is a status entry with the one before (webhooks, history)."""
        previous = self._case.status
        self._case = self._case.model_copy(update={"status": status})
        self._note(
            TimelineKind.STATUS, actor, detail, status=status.value, previous=previous.value, **data
        )

    async def _answered_before(self, moment: datetime, then: str) -> bool:
        """Wait for an answer until `moment`, when the workflow does `then`."""
        workflow.set_current_details(
            f"**{self._case.status.value}** · next: {then} at "
            f"{readable(moment, self._case.request.staff_timezone)}, unless the "
            "client answers first"
        )
        delay = moment - workflow.now()
        if delay <= timedelta(0):
            return self._case.answer is not None
        try:
            await workflow.wait_condition(
                lambda: self._case.answer is not None,
                timeout=delay,
                timeout_summary=f"{then} at {moment.isoformat()} unless answered",
            )
        except TimeoutError:
            return False
        return True

    @workflow.update
    async def answer(self, answer: SurveyAnswer) -> SurveyView:
        # The one transition style (workflows/case.py): the lock, then judged again on the
        # current state; the survey stores its answer itself, so nothing is saved on the way out.
        async with transition(self._lock, lambda: refuse(survey_rules.answer_refusal(self._case))):
            client = self._case.request.client
            actor = Actor(kind=ActorKind.CLIENT, id=client.id)
            self._case = self._case.model_copy(update={"answer": answer})
            self._set_status(
                SurveyStatus.ANSWERED,
                actor,
                f"Answered{answer.given()}: NPS {answer.nps}",
                nps=answer.nps,
                comment=answer.comment,
                category=survey_rules.nps_category(answer.nps),
            )
            await workflow.execute_activity_method(
                RecordsActivities.record_survey_answer,
                SurveyAnswerRecord(
                    survey_id=self._workflow_id,
                    case_id=self._case.request.appointment_case_id,
                    client_id=client.id,
                    nps=answer.nps,
                    comment=answer.comment,
                    answered_at=workflow.now(),
                ),
                start_to_close_timeout=RECORD_TIMEOUT,
                summary=f"record answer: NPS {answer.nps}",
            )
            await self._cancel_moot_messages("answered")
            if survey_rules.nps_category(answer.nps) == "detractor":
                await self._open_complaint(answer)
            return self._view()

    async def _open_complaint(self, answer: SurveyAnswer) -> None:
        """A detractor gets a complaint case; its id comes from the survey, so it starts once."""
        request = survey_rules.detractor_complaint(self._case.request, answer)
        try:
            await workflow.start_child_workflow(
                ComplaintWorkflow.run,
                request,
                id=request.workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                static_summary=f"Complaint from survey · NPS {answer.nps} · customer "
                f"{request.customer.id}",
            )
        except WorkflowAlreadyStartedError:
            pass  # opened by an earlier attempt of this step: one complaint per survey
        self._case = self._case.model_copy(update={"complaint_id": request.complaint_id})
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"Detractor (NPS {answer.nps}): complaint {request.complaint_id} opened",
            complaint_id=request.complaint_id,
        )

    @answer.validator
    def validate_answer(self, answer: SurveyAnswer) -> None:
        refuse(survey_rules.answer_refusal(self._case))
        self._refuse_if_closing("answer")

    @workflow.query
    def status(self) -> SurveyView:
        return self._view()

    def _survey_settled(self, sent: bool) -> None:
        self._promises.sent(PromiseKind.SURVEY, sent, "survey not delivered")

    async def _send(self, template: str, settled: Callable[[bool], None] | None = None) -> None:
        """Send the survey or its reminder; `settled` hears whether it went out. Beside the
        plan it starts and returns: retried until the next milestone (at most MESSAGE_BUDGET),
        then flagged and handed on."""
        case = self._case
        client = case.request.client
        number_wrong = case.request.client_number_wrong
        message = SendMessageRequest(
            idempotency_key=f"{self._workflow_id}/{template}",
            case_id=self._workflow_id,
            template=template,
            channel=read_outs.client_channel(client.preferred_channel, number_wrong=number_wrong),
            to=to_client(client),
            context={
                "client_name": client.name,
                "service": case.request.service,
                "visit_ended_at": case.request.visit_ended_at.isoformat(),
                "closes_at": case.closes_at.isoformat(),
            }
            | ({"wrong_number": client.phone or ""} if number_wrong else {}),
            link_actions=["survey"],
        )
        if self._beside:
            next_milestone = case.reminder_at if template == "survey" else case.closes_at
            self._messages.start(
                message,
                group=template,
                budget=min(MESSAGE_BUDGET, next_milestone - workflow.now()),
                if_failed=f"{template.replace('_', ' ')} not sent",
                task=client_message_task,
                settled=settled,
            )
            return
        delivery = await deliver(
            message,
            budget=max(case.closes_at - workflow.now(), timedelta(minutes=1)),
            retry=MESSAGE_RETRY,
        )
        self._note(delivery.kind, SYSTEM, delivery.detail, **delivery.data)
        if settled is not None:
            settled(delivery.sent)

    async def _cancel_moot_messages(self, outcome: str) -> None:
        """Answered or closed: a survey or reminder still on its way is moot, and so is a task
        to pass one on by hand. Returns once none can go out."""
        if not self._beside:
            return
        await self._messages.cancel(["survey", "survey_reminder"])
        # Closed unanswered, a survey that never went out stays flagged as such.
        await self._close_message_tasks(
            outcome, f"the survey was {outcome}", flags_stay=outcome == "survey_closed"
        )

    def _flag(self, concern: str) -> None:
        self._case = flagged(self._case, concern)

    def _unflag(self, concern: str) -> None:
        self._case = unflagged(self._case, concern)

    def _turn(self, judge: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """An update's turn (workflows/case.py): one handler at a time, judged again on the
        current state, stored before the update answers."""
        return transition(self._lock, judge, store=lambda: True, save=self._save)

    def _row(self) -> CaseRow:
        case = self._case
        return CaseRow(
            business_id=case.request.appointment_id,
            status=case.status.value,
            client_id=case.request.client.id,
            details={
                "appointment_case_id": case.request.appointment_case_id,
                "nps": case.answer.nps if case.answer else None,
                "needs_attention": case.needs_attention,
            },
        )

    def _view(self) -> SurveyView:
        return status_view(
            SurveyView,
            self._case,
            survey_id=self._workflow_id,
            timeline=list(self._journal.timeline),
        )
