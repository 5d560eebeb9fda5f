"""The case-kind registry (promptly/services/case_kinds.py) that the API and the CLI both read:
what it derives agrees with the domain and the workflows, and one `CaseUpdate` line is a route
and a command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, get_type_hints

import pytest
import typer
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from typer.main import get_command

from promptly.api.case_updates import add_update_routes, body_model, check_body_names
from promptly.cli.case_commands import add_case_commands
from promptly.cli.main import app as cli_app
from promptly.domain.appointments.models import AppointmentStatus, appointment_workflow_id
from promptly.domain.appointments.rules import allowed_statuses
from promptly.domain.common import ActorInput
from promptly.domain.complaints.models import ComplaintStatus, complaint_workflow_id
from promptly.domain.complaints.rules import complaint_allowed_statuses
from promptly.domain.errors import UNKNOWN_UPDATE, UnknownUpdate
from promptly.domain.inquiries.models import InquiryStatus, inquiry_workflow_id
from promptly.services.case_kinds import (
    APPOINTMENT,
    CASE_KINDS,
    COMPLAINT,
    INQUIRY,
    CaseKind,
    CaseUpdate,
    Cli,
)
from promptly.services.errors import ServiceError, temporal_errors
from promptly.workflows.complaint import ComplaintWorkflow


def test_each_kind_names_its_workflow_ids_as_the_domain_does() -> None:
    for kind, domain_id in (
        (APPOINTMENT, appointment_workflow_id),
        (COMPLAINT, complaint_workflow_id),
        (INQUIRY, inquiry_workflow_id),
    ):
        assert kind.workflow_id("X-1") == domain_id("X-1")
        assert kind.case_id(domain_id("X-1")) == "X-1"
    assert [kind.plural for kind in CASE_KINDS] == ["appointments", "complaints", "inquiries"]


def test_each_kind_lists_its_views_status_under_its_status_attribute() -> None:
    for kind, statuses, attribute in (
        (APPOINTMENT, AppointmentStatus, "AppointmentStatus"),
        (COMPLAINT, ComplaintStatus, "ComplaintStatus"),
        (INQUIRY, InquiryStatus, "InquiryStatus"),
    ):
        assert kind.statuses is statuses
        assert kind.listed["status"].name == attribute


def test_each_update_is_a_workflow_update_taking_its_input_model() -> None:
    for kind in CASE_KINDS:
        definition = workflow._Definition.from_class(kind.workflow)
        assert definition is not None
        assert set(kind.updates) <= set(definition.updates), kind.noun
        assert kind.view_model is get_type_hints(kind.status_query)["return"]
        for update in kind.updates.values():
            assert issubclass(update.input, BaseModel)
            assert get_type_hints(update.update)["return"] is kind.view_model


def test_every_registered_update_has_its_cli_command() -> None:
    """`promptly confirm`, `promptly complaint hold`, … (appointments at the top level)."""
    command: Any = get_command(cli_app)
    for kind in CASE_KINDS:
        group = command if kind is APPOINTMENT else command.commands[kind.noun]
        for update in kind.updates.values():
            assert update.command in group.commands, (kind.noun, update.command)


class MarkPaidInput(ActorInput):
    amount: int
    receipt: str = ""


class ThingView(BaseModel):
    thing_id: str


@workflow.defn(sandboxed=False)
class ThingWorkflow:
    @workflow.run
    async def run(self, request: BaseModel) -> None: ...

    @workflow.query
    def status(self) -> ThingView:
        raise NotImplementedError

    @workflow.update
    async def mark_paid(self, command: MarkPaidInput) -> ThingView:
        raise NotImplementedError


async def _no_start(*args: object) -> None:
    raise NotImplementedError


def test_a_new_update_is_one_line_for_the_route_and_the_command() -> None:
    line = CaseUpdate(ThingWorkflow.mark_paid, "Paid at the desk", Cli(options=("receipt",)))
    thing = CaseKind("thing", ThingWorkflow, BaseModel, {line.action: line}, _no_start, "made")  # type: ignore[arg-type]

    router = APIRouter()
    add_update_routes(router, thing)
    [route] = [r for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema]
    assert route.path == "/things/{thing_id}/mark_paid" and route.methods == {"POST"}
    assert route.name == "mark_paid_thing" and route.summary == "Paid at the desk"

    cli = typer.Typer()
    add_case_commands(cli, thing, print, start="make", start_help="Make a thing.")
    group: Any = get_command(cli)
    paid = group.commands["mark-paid"]
    params = {param.name: param for param in paid.params}
    assert [name for name, p in params.items() if p.param_type_name == "argument"] == [
        "thing_id",
        "amount",
    ]
    assert params["receipt"].opts == ["--receipt"] and params["receipt"].default == ""
    # Nobody named: the operator running it (promptly/cli/actors.py).
    assert params["actor_id"].default is None and "idempotency_key" in params


def test_two_kinds_with_an_update_of_the_same_name_must_name_the_new_body() -> None:
    """The HTTP body's schema is named after the action: an appointment `add_note` beside the
    complaint's would make OpenAPI rename one (`…__AddNoteBody__2`) behind the integrators'
    backs. The API refuses to build instead, saying which two and how to name the new one."""
    check_body_names(CASE_KINDS)  # today's names are each their own

    noted = CaseUpdate(ComplaintWorkflow.add_note, "A staff note")
    appointment = replace(APPOINTMENT, updates={**APPOINTMENT.updates, "add_note": noted})
    with pytest.raises(ValueError) as refused:
        check_body_names((COMPLAINT, appointment))
    assert str(refused.value) == (
        "complaint's update add_note and appointment's update add_note both have the HTTP "
        "body schema AddNoteBody: schema names are public, so the one the API already "
        "publishes keeps it and the new update's line in promptly/services/case_kinds.py names "
        'its own, CaseUpdate(..., body="AppointmentAddNoteBody") or '
        'CaseUpdate(..., body="ComplaintAddNoteBody") (docs/extending.md, a new update)'
    )

    named = replace(noted, body="AppointmentAddNoteBody")
    appointment = replace(APPOINTMENT, updates={**APPOINTMENT.updates, "add_note": named})
    check_body_names((COMPLAINT, appointment))
    assert body_model(named).__name__ == "AppointmentAddNoteBody"
    assert body_model(COMPLAINT.updates["add_note"]).__name__ == "AddNoteBody"


# Which statuses allow each update, per kind: the inquiry's rules hold for all its updates.
ALLOWED_STATUSES: dict[str, Callable[[str], frozenset[Any]] | None] = {
    "appointment": allowed_statuses,
    "complaint": complaint_allowed_statuses,
    "inquiry": None,
}


def test_every_registered_update_has_the_statuses_that_allow_it() -> None:
    """An update registered (a route, a command) but missing from its kind's `_ALLOWED` would
    answer every call with a meaningless refusal; here it fails, naming the update."""
    for kind in CASE_KINDS:
        assert kind.noun in ALLOWED_STATUSES, f"{kind.noun}: say where its rules' table is"
        allowed = ALLOWED_STATUSES[kind.noun]
        if allowed is None:
            continue
        for action in kind.updates:
            assert allowed(action), f"{kind.noun}.{action}: allowed in no status"


def test_an_update_the_rules_do_not_know_is_a_code_error_not_a_refusal() -> None:
    with pytest.raises(UnknownUpdate, match=r"^add_note has no entry in _ALLOWED in domain/"):
        allowed_statuses("add_note")
    with pytest.raises(UnknownUpdate, match=r"^confirm has no entry in _COMPLAINT_ALLOWED"):
        complaint_allowed_statuses("confirm")
    # What the workflow's validator rejects it with reaches the API as a 500, not a 409.
    failed = WorkflowUpdateFailedError(
        ApplicationError("add_note has no entry in _ALLOWED", type=UNKNOWN_UPDATE)
    )
    with pytest.raises(ServiceError) as answered, temporal_errors("no appointment A-1"):
        raise failed
    assert answered.value.status == 500 and answered.value.internal == (
        "add_note has no entry in _ALLOWED"
    )
