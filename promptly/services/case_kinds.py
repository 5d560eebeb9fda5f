"""The case kinds (appointment, complaint, inquiry) and the updates each one takes.

One table for both edges: the HTTP API turns every `CaseUpdate` into
`POST /{plural}/{id}/{action}` (promptly/api/case_updates.py) and the CLI into a command
(promptly/cli/case_commands.py). A new update is one `CaseUpdate` line here beside its
workflow handler: `CaseUpdate(W.mark_paid, MarkPaidInput, "Paid at the desk")` serves
`POST /appointments/{id}/mark_paid` and `promptly mark-paid ID`. Its `Cli` says how the CLI
spells it when the defaults do not fit (other name, `--options`, who acts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentView,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    ExcuseNoShowInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
    appointment_workflow_id,
)
from promptly.domain.appointments.rules import BookingRejected
from promptly.domain.common import ActorKind, Model
from promptly.domain.complaints.models import (
    AddNoteInput,
    AssignInput,
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    ProposeResolutionInput,
    ResumeInput,
    Severity,
    complaint_workflow_id,
)
from promptly.domain.inquiries import (
    AnswerInquiryInput,
    InquiryRequest,
    InquiryView,
    PromoteInquiryInput,
    inquiry_workflow_id,
)
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.inquiries import record_inquiry
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow


@dataclass(frozen=True)
class Cli:
    """How the CLI spells an update: `promptly [group] NAME ID ARGUMENTS… [--OPTIONS]`.

    The input model's required fields (but the actor) are positional ARGUMENTS in model
    order; `options` names the fields given as `--field-name` instead (or as spelled in
    `flags`, e.g. `--for-answer/--not-for-answer`); any other field keeps the model's default.
    `defaults` are the CLI's own defaults where the model has none. The actor is `actor` with
    `--actor-id` (default `cli`); `choose_actor` adds `--actor-kind`. `by_hand`: the CLI
    writes this command itself (its options are not fields of the model)."""

    name: str | None = None  # default: the action, dashed (`check_in` → `check-in`)
    options: tuple[str, ...] = ()
    flags: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    actor: ActorKind = ActorKind.STAFF
    choose_actor: bool = False
    by_hand: bool = False


@dataclass(frozen=True)
class CaseUpdate:
    """One update of a case kind: the workflow update it runs and its one input model.

    The action (the URL's last segment, the OpenAPI operation `{action}_{noun}`) is the
    update's name; `summary` is the OpenAPI summary and the CLI command's help."""

    update: Any  # a typed `@workflow.update` method reference, e.g. AppointmentWorkflow.confirm
    input: type[Model]
    summary: str
    cli: Cli = Cli()

    @property
    def action(self) -> str:
        return str(self.update.__name__)

    @property
    def command(self) -> str:
        return self.cli.name or self.action.replace("_", "-")

    def arguments(self) -> list[str]:
        """The input fields the CLI takes as positional arguments, in model order."""
        spelled = {*self.cli.options, *self.cli.flags}
        return [
            name
            for name, info in self.input.model_fields.items()
            if info.is_required() and name != "actor" and name not in spelled
        ]


@dataclass(frozen=True)
class CaseKind:
    noun: str  # "appointment": also the `cases.kind` value of its PostgreSQL row
    plural: str  # "appointments": the URL prefix
    id_field: str  # "appointment_id": the business id, in the request and in URLs
    run: Any  # the workflow's run method reference, for typed handles
    status_query: Any  # its `status` query method reference
    workflow_id: Callable[[str], str]  # business id → workflow id
    request_model: type[Model]
    view_model: type[Model]
    # Start the workflow (`CaseExists` when the id is taken); `now` checks times ahead.
    start: Callable[[Client, Any, Settings, datetime], Awaitable[WorkflowHandle[Any, Any]]]
    started: str  # what the CLI prints before the workflow id: "booked"
    rejected: tuple[type[Exception], ...] = ()  # the start's own refusals: `field: reason`
    updates: Mapping[str, CaseUpdate] = field(default_factory=dict)

    def handle(self, client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle_for(self.run, self.workflow_id(case_id))

    def case_id(self, workflow_id: str) -> str:
        """The business id of one of this kind's workflow ids."""
        return workflow_id.removeprefix(self.workflow_id(""))

    def not_found(self, case_id: str) -> str:
        return f"no {self.noun} {case_id}"


def _updates(*updates: CaseUpdate) -> dict[str, CaseUpdate]:
    return {update.action: update for update in updates}


STAFF, CLIENT, PROVIDER = ActorKind.STAFF, ActorKind.CLIENT, ActorKind.PROVIDER
A, C, I = AppointmentWorkflow, ComplaintWorkflow, InquiryWorkflow  # noqa: E741

APPOINTMENT = CaseKind(
    noun="appointment",
    plural="appointments",
    id_field="appointment_id",
    run=A.run,
    status_query=A.status,
    workflow_id=appointment_workflow_id,
    request_model=AppointmentRequest,
    view_model=AppointmentView,
    start=book,
    started="booked",
    rejected=(BookingRejected,),
    updates=_updates(
        CaseUpdate(A.confirm, ConfirmInput, "The client confirmed", Cli(choose_actor=True)),
        CaseUpdate(
            A.acknowledge, AcknowledgeInput, "The provider acknowledged", Cli(actor=PROVIDER)
        ),
        CaseUpdate(
            A.record_call_outcome,
            RecordCallOutcomeInput,
            "Outcome of the current follow-up call",
            Cli("call-outcome", ("note",)),
        ),
        CaseUpdate(A.check_in, CheckInInput, "The client arrived (opens 2h before the start)"),
        CaseUpdate(A.complete, CompleteInput, "The visit is over", Cli(actor=PROVIDER)),
        CaseUpdate(
            A.cancel,
            CancelInput,
            "Cancel (under 24h: late, counts as held; by the provider: free)",
            Cli(actor=CLIENT, choose_actor=True),
        ),
        CaseUpdate(
            A.reschedule,
            RescheduleInput,
            "Move to a new time; timers follow",
            Cli(actor=CLIENT, choose_actor=True),
        ),
        CaseUpdate(
            A.report_delay,
            ReportDelayInput,
            "The provider or the client runs late",
            Cli("delay", actor=PROVIDER),
        ),
        CaseUpdate(
            A.excuse_no_show,
            ExcuseNoShowInput,
            "The client's no-show excuse",
            Cli("excuse", actor=CLIENT, choose_actor=True),
        ),
        CaseUpdate(
            A.waive_fee,
            WaiveFeeInput,
            "Force majeure: no fee",
            Cli(actor=PROVIDER, choose_actor=True),
        ),
    ),
)


async def _file_complaint(
    client: Client, request: ComplaintRequest, settings: Settings, now: datetime
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    return await file_complaint(client, request, settings)


COMPLAINT = CaseKind(
    noun="complaint",
    plural="complaints",
    id_field="complaint_id",
    run=C.run,
    status_query=C.status,
    workflow_id=complaint_workflow_id,
    request_model=ComplaintRequest,
    view_model=ComplaintView,
    start=_file_complaint,
    started="filed",
    updates=_updates(
        CaseUpdate(C.assign, AssignInput, "Give the case an owner", Cli(by_hand=True)),
        CaseUpdate(C.add_note, AddNoteInput, "Internal or customer note", Cli(by_hand=True)),
        CaseUpdate(
            C.hold,
            HoldInput,
            "Waiting on the customer: clock stops",
            Cli(
                options=("for_customer_answer",),
                flags={"for_customer_answer": "--for-answer/--not-for-answer"},
            ),
        ),
        CaseUpdate(C.resume, ResumeInput, "The customer answered", Cli(options=("note",))),
        CaseUpdate(
            C.propose_resolution, ProposeResolutionInput, "Propose a resolution", Cli("propose")
        ),
        CaseUpdate(
            C.customer_verdict,
            CustomerVerdictInput,
            "Satisfied: closed; not satisfied: reopened",
            Cli(
                "verdict",
                ("comment", "root_cause"),
                actor=CLIENT,
                choose_actor=True,
                flags={"satisfied": "--satisfied/--not-satisfied"},
            ),
        ),
        CaseUpdate(
            C.close, CloseComplaintInput, "A supervisor closes it", Cli(options=("root_cause",))
        ),
    ),
)


async def _record_inquiry(
    client: Client, request: InquiryRequest, settings: Settings, now: datetime
) -> WorkflowHandle[InquiryWorkflow, InquiryView]:
    return await record_inquiry(client, request, settings)


INQUIRY = CaseKind(
    noun="inquiry",
    plural="inquiries",
    id_field="inquiry_id",
    run=I.run,
    status_query=I.status,
    workflow_id=inquiry_workflow_id,
    request_model=InquiryRequest,
    view_model=InquiryView,
    start=_record_inquiry,
    started="recorded",
    updates=_updates(
        CaseUpdate(I.answer, AnswerInquiryInput, "Send the answer to the customer"),
        CaseUpdate(
            I.promote,
            PromoteInquiryInput,
            "It is a complaint: file one",
            Cli(options=("severity",), defaults={"severity": Severity.NORMAL}),
        ),
    ),
)

CASE_KINDS: tuple[CaseKind, ...] = (APPOINTMENT, COMPLAINT, INQUIRY)
