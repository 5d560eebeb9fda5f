"""The case kinds (appointment, complaint, inquiry) and the updates each one takes.

One table for both edges: the HTTP API turns every `CaseUpdate` into
`POST /{plural}/{id}/{action}` (promptly/api/case_updates.py) and the CLI into a command
(promptly/cli/case_commands.py). A new update is one `CaseUpdate` line here beside its
workflow handler: `CaseUpdate(W.mark_paid, "Paid at the desk")` serves
`POST /appointments/{id}/mark_paid` and `promptly mark-paid ID`. Its `Cli` says how the CLI
spells it when the defaults do not fit (other name, `--options`, who acts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol, get_type_hints

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentRequest, AppointmentView
from promptly.domain.appointments.rules import BookingRejected, call_outcome_problems
from promptly.domain.common import Actor, ActorKind, Model
from promptly.domain.complaints.models import ComplaintRequest, Severity
from promptly.domain.future_times import past_time_problems
from promptly.domain.inquiries.models import InquiryRequest
from promptly.services.appointments import book
from promptly.services.case_views import ViewedKind
from promptly.services.complaints import ComplaintRejected, file_complaint
from promptly.services.inquiries import record_inquiry
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from promptly.workflows.search_attributes import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
    COMPLAINT_STATUS,
    DEPARTMENT,
    ESCALATION_LEVEL,
    INQUIRY_STATUS,
    NEEDS_ATTENTION,
    PROVIDER_ID,
    SLA_BREACHED,
    SLA_DEADLINE,
)

# The running cases with a flag for staff: their `NeedsAttention` search attribute is kept
# equal to the case's `needs_attention` (the CLI's `list --attention`, the API's
# `?needs_attention=true`).
NEEDS_ATTENTION_QUERY = f"{NEEDS_ATTENTION.name} IS NOT NULL AND ExecutionStatus = 'Running'"


@dataclass(frozen=True)
class Cli:
    """How the CLI spells an update: `promptly [group] NAME ID ARGUMENTS… [--OPTIONS]`.

    The input model's required fields (but the actor) are positional ARGUMENTS in model
    order; `options` names the fields given as `--field-name` instead (or as spelled in
    `flags`, e.g. `--for-answer/--not-for-answer`); any other field keeps the model's default.
    `defaults` are the CLI's own defaults where the model has none. The actor is the
    operator (`staff:<OS user> via cli`), or `--actor-id` of kind `actor` (always via cli:
    promptly/cli/actors.py); `choose_actor` adds `--actor-kind`. `by_hand`: the CLI
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
    update's name, its input the handler's argument type; `summary` is the OpenAPI summary
    and the CLI command's help."""

    update: Any  # a typed `@workflow.update` method reference, e.g. AppointmentWorkflow.confirm
    summary: str
    cli: Cli = Cli()
    # What the input lacks that its model cannot refuse: a rule added after cases held such
    # inputs, which must still decode on replay (rules.call_outcome_problems).
    check: Callable[[Any], list[tuple[str, str]]] | None = None
    # The OpenAPI schema name of its HTTP body, when the usual `{Action}Body` is another
    # kind's (an update of the same name): e.g. "AppointmentAddNoteBody". Schema names are
    # public, so the older update keeps its name (api/case_updates.check_body_names).
    body: str = ""

    @cached_property
    def input(self) -> type[Model]:
        hints = get_type_hints(self.update)
        hints.pop("return", None)
        [argument] = hints.values()
        model: type[Model] = argument
        return model

    @property
    def action(self) -> str:
        return str(self.update.__name__)

    @property
    def command(self) -> str:
        return self.cli.name or self.action.replace("_", "-")

    def input_problems(self, argument: Model, now: datetime) -> list[tuple[str, str]]:
        """(field, reason) for bad input both edges refuse before the case sees it (the API's
        422, the CLI's exit 2): a time that must lie ahead, and what `check` finds."""
        return past_time_problems(argument, now) + (self.check(argument) if self.check else [])

    def arguments(self) -> list[str]:
        """The input fields the CLI takes as positional arguments, in model order."""
        spelled = {*self.cli.options, *self.cli.flags}
        return [
            name
            for name, info in self.input.model_fields.items()
            if info.is_required() and name != "actor" and name not in spelled
        ]


class StartCase(Protocol):
    """Start a case's workflow (`CaseExists` when the id is taken); `opened_by` is who asked,
    `pool` reads the records a start may check (None: the start opens its own if it needs
    one)."""

    def __call__(
        self,
        client: Client,
        request: Any,
        settings: Settings,
        *,
        opened_by: Actor,
        pool: AsyncConnectionPool | None = None,
    ) -> Awaitable[WorkflowHandle[Any, Any]]: ...


@dataclass(frozen=True)
class CaseKind:
    """A case kind: its noun, its workflow, what starts it and the updates it takes.

    By convention the rest follows from the noun and the workflow: the URL prefix is the
    plural, the business id is `{noun}_id`, the workflow id `{noun}-{id}`, the view the
    workflow's `status` query answers."""

    noun: str  # "appointment": also the `cases.kind` value of its PostgreSQL row
    workflow: type  # the workflow class: `run` takes `request_model`, `status` answers the view
    request_model: type[Model]
    updates: Mapping[str, CaseUpdate]
    # Start the workflow and what the CLI says it did.
    start: StartCase
    started: str  # "booked"
    rejected: tuple[type[Exception], ...] = ()  # the start's own refusals: `field: reason`
    # The search attributes its lists show (API and CLI), by the name a list item gives
    # each; `status` publishes the view's status, the filter every list has.
    listed: Mapping[str, SearchAttributeKey[Any]] = field(default_factory=dict)

    @property
    def plural(self) -> str:
        return self.noun[:-1] + "ies" if self.noun.endswith("y") else self.noun + "s"

    @property
    def id_field(self) -> str:
        return f"{self.noun}_id"

    @cached_property
    def viewed(self) -> ViewedKind:
        """How its `status` view is read (promptly/services/case_views.py)."""
        return ViewedKind(self.workflow, self.noun)

    @property
    def run(self) -> Any:
        return self.viewed.run

    @property
    def status_query(self) -> Any:
        return self.viewed.status_query

    @property
    def view_model(self) -> type[BaseModel]:
        return self.viewed.view_model

    @property
    def statuses(self) -> type[StrEnum]:
        """The enum of its view's `status`, which `listed["status"]` publishes."""
        statuses = self.view_model.model_fields["status"].annotation
        if not (isinstance(statuses, type) and issubclass(statuses, StrEnum)):
            raise TypeError(f"{self.view_model.__name__}.status is no StrEnum")
        return statuses

    def workflow_id(self, case_id: str) -> str:
        return f"{self.noun}-{case_id}"

    def handle(self, client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle_for(self.run, self.workflow_id(case_id))

    def case_id(self, workflow_id: str) -> str:
        """The business id of one of this kind's workflow ids."""
        return workflow_id.removeprefix(f"{self.noun}-")

    def not_found(self, case_id: str) -> str:
        return f"no {self.noun} {case_id}"


def _updates(*updates: CaseUpdate) -> dict[str, CaseUpdate]:
    return {update.action: update for update in updates}


STAFF, CLIENT, PROVIDER = ActorKind.STAFF, ActorKind.CLIENT, ActorKind.PROVIDER
A, C, I = AppointmentWorkflow, ComplaintWorkflow, InquiryWorkflow  # noqa: E741

# Whom `--actor-id` names: this kind, or `--actor-kind` with this default (the CLI's operator
# when neither is given).
BY_PROVIDER = Cli(actor=PROVIDER)
CLIENT_OR_OTHER = Cli(actor=CLIENT, choose_actor=True)
PROVIDER_OR_OTHER = Cli(actor=PROVIDER, choose_actor=True)

APPOINTMENT_UPDATES = _updates(
    CaseUpdate(A.confirm, "The client confirmed", Cli(choose_actor=True)),
    CaseUpdate(A.acknowledge, "The provider acknowledged", BY_PROVIDER),
    CaseUpdate(
        A.record_call_outcome,
        "Outcome of the current follow-up call",
        Cli("call-outcome", ("note", "new_start")),
        check=call_outcome_problems,
    ),
    CaseUpdate(A.check_in, "The client arrived (opens 2h before the start)"),
    CaseUpdate(A.complete, "The visit is over", BY_PROVIDER),
    CaseUpdate(
        A.cancel, "Cancel (under 24h: late, counts as held; by the provider: free)", CLIENT_OR_OTHER
    ),
    CaseUpdate(A.reschedule, "Move to a new time; timers follow", CLIENT_OR_OTHER),
    CaseUpdate(
        A.report_delay,
        "The provider runs late (a staff actor counts as the provider); a client running "
        "late is reported as the client (CLI: --actor-kind client --actor-id C-…)",
        Cli("delay", actor=PROVIDER, choose_actor=True),
    ),
    CaseUpdate(
        A.excuse_no_show,
        "The client's plea against a fee (a no-show's, a late cancellation's or a late "
        "reschedule's): the provider decides; a further plea joins the open decision",
        Cli("excuse", actor=CLIENT, choose_actor=True),
    ),
    CaseUpdate(A.waive_fee, "Force majeure: no fee", PROVIDER_OR_OTHER),
    CaseUpdate(A.fee_stands, "The fee stands; the client is told why", PROVIDER_OR_OTHER),
    CaseUpdate(
        A.correct_phone,
        "The client's right number (staff): calls, read-outs and SMS use it from now on",
        Cli(options=("note",)),
    ),
)
HOLD_CLI = Cli(
    options=("for_customer_answer",), flags={"for_customer_answer": "--for-answer/--not-for-answer"}
)
VERDICT_CLI = Cli(
    "verdict",
    ("comment", "root_cause"),
    flags={"satisfied": "--satisfied/--not-satisfied"},
    actor=CLIENT,
    choose_actor=True,
)
COMPLAINT_UPDATES = _updates(
    CaseUpdate(C.assign, "Give the case an owner", Cli(by_hand=True)),
    CaseUpdate(C.add_note, "Internal or customer note", Cli("note", by_hand=True)),
    CaseUpdate(C.hold, "Waiting on the customer: clock stops", HOLD_CLI),
    CaseUpdate(C.resume, "The customer answered", Cli(options=("note",))),
    CaseUpdate(C.propose_resolution, "Propose a resolution", Cli("propose")),
    CaseUpdate(C.customer_verdict, "Satisfied: closed; not satisfied: reopened", VERDICT_CLI),
    CaseUpdate(C.close, "A supervisor closes it", Cli(options=("root_cause",))),
)
PROMOTE_CLI = Cli(options=("severity",), defaults={"severity": Severity.NORMAL})
INQUIRY_UPDATES = _updates(
    CaseUpdate(I.answer, "Send the answer to the customer"),
    CaseUpdate(I.promote, "It is a complaint: file one", PROMOTE_CLI),
)


async def _book(
    client: Client,
    request: AppointmentRequest,
    settings: Settings,
    *,
    opened_by: Actor,
    pool: AsyncConnectionPool | None = None,
) -> WorkflowHandle[AppointmentWorkflow, AppointmentView]:
    return await book(client, request, settings, datetime.now(UTC), opened_by=opened_by)


APPOINTMENT = CaseKind(
    "appointment",
    A,
    AppointmentRequest,
    APPOINTMENT_UPDATES,
    _book,
    "booked",
    (BookingRejected,),
    listed={
        "status": APPOINTMENT_STATUS,
        "client_id": CLIENT_ID,
        "provider_id": PROVIDER_ID,
        "start": APPOINTMENT_START,
    },
)
COMPLAINT = CaseKind(
    "complaint",
    C,
    ComplaintRequest,
    COMPLAINT_UPDATES,
    file_complaint,
    "filed",
    (ComplaintRejected,),
    listed={
        "status": COMPLAINT_STATUS,
        "department": DEPARTMENT,
        "client_id": CLIENT_ID,
        "sla_deadline": SLA_DEADLINE,
        "sla_breached": SLA_BREACHED,
        "escalation_level": ESCALATION_LEVEL,
    },
)
INQUIRY = CaseKind(
    "inquiry",
    I,
    InquiryRequest,
    INQUIRY_UPDATES,
    record_inquiry,
    "recorded",
    listed={"status": INQUIRY_STATUS, "client_id": CLIENT_ID, "answer_deadline": SLA_DEADLINE},
)
CASE_KINDS: tuple[CaseKind, ...] = (APPOINTMENT, COMPLAINT, INQUIRY)
