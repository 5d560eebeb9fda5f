"""`promptly complaint …`: file a complaint, read its status, and act on it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.workflow import UpdateMethodMultiParam

from promptly.cli import common
from promptly.cli.keys import IdempotencyKeyOption, cli_update_id, command_key
from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import (
    AddNoteInput,
    Assignee,
    AssignInput,
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    NoteVisibility,
    ProposeResolutionInput,
    ResumeInput,
)
from promptly.domain.readable_time import readable, readable_text

if TYPE_CHECKING:
    from promptly.workflows.complaint import ComplaintWorkflow

complaint_app = typer.Typer(help="Complaints: file, inspect, act.", no_args_is_help=True)

T = TypeVar("T")
A = TypeVar("A")
ActorId = Annotated[str, typer.Option("--actor-id", help="who acts (staff id)")]
RootCauseOption = Annotated[
    str | None,
    typer.Option("--root-cause", help="why it happened, from PROMPTLY_COMPLAINT_ROOT_CAUSES"),
]


def _run(action: Callable[[Client, Settings], Awaitable[T]]) -> T:

    return common.run_with_client(action)


def _staff(actor_id: str) -> Actor:
    return Actor(kind=ActorKind.STAFF, id=actor_id)


def _print_view(view: ComplaintView) -> None:

    zone = common.settings().office_timezone
    typer.echo(
        f"{view.complaint_id}  {view.status.value}  {view.department} "
        f"({view.category}, {view.severity.value})  level {view.escalation_level}"
        + ("  SLA BREACHED" if view.sla_breached else "")
    )
    typer.echo(
        f"  resolution due {view.sla_deadline or '- (clock stopped)'}"
        f"  next escalation {view.next_escalation_at or '-'}"
        f"  next update {view.next_status_update_at or '-'}"
    )
    typer.echo(
        f"  contact {view.contact.name} <{view.contact.email}>  time on hold {view.time_on_hold}"
        + (f" + since {view.on_hold_since} ({view.hold_reason})" if view.on_hold_since else "")
    )
    if view.verdict_deadline:
        typer.echo(f"  verdict due {view.verdict_deadline}")
    if view.needs_attention:
        typer.echo(f"  needs attention: {', '.join(view.needs_attention)}")
    for entry in view.timeline:
        typer.echo(
            f"  {readable(entry.at, zone)}  {entry.kind.value:<14} "
            f"{entry.actor.kind.value}:{entry.actor.id:<12} {readable_text(entry.detail, zone)}"
        )


def _update(
    complaint_id: str,
    method: UpdateMethodMultiParam[[ComplaintWorkflow, A], ComplaintView],
    argument: A,
    idempotency_key: str | None,
) -> None:
    from promptly.services.complaints import complaint_handle

    key = command_key(idempotency_key)

    async def action(client: Client, config: Settings) -> ComplaintView:
        handle = complaint_handle(client, complaint_id)
        update_id = cli_update_id(key, handle.id, method)
        return await handle.execute_update(method, argument, id=update_id)

    _print_view(_run(action))


@complaint_app.command("file")
def file_complaint(
    file: Annotated[Path, typer.Argument(help="ComplaintRequest as JSON")],
) -> None:
    """File a complaint from a JSON file."""
    from promptly.services.cases import CaseExists
    from promptly.services.complaints import file_complaint as start

    try:
        request = ComplaintRequest.model_validate_json(file.read_text())
    except ValidationError as err:
        for problem in err.errors():
            field = ".".join(str(part) for part in problem["loc"]) or "request"
            typer.secho(f"{field}: {problem['msg']}", fg="red", err=True)
        raise typer.Exit(2) from err

    async def action(client: Client, config: Settings) -> str:
        return (await start(client, request, config)).id

    try:
        typer.echo(f"filed: {_run(action)}")
    except CaseExists as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1) from err


@complaint_app.command("status")
def status(complaint_id: str) -> None:
    """Show a complaint's status, deadlines, escalation and timeline."""
    from promptly.domain.common import CaseKind
    from promptly.services.case_views import read_case_view_once
    from promptly.services.complaints import complaint_handle
    from promptly.workflows.complaint import ComplaintWorkflow

    async def action(client: Client, config: Settings) -> ComplaintView:
        # From PostgreSQL as the API's GET; the query as fallback (services/case_views.py).
        read = await read_case_view_once(
            client,
            config.database_url,
            workflow_id=complaint_handle(client, complaint_id).id,
            kind=CaseKind.COMPLAINT,
            view_model=ComplaintView,
            run=ComplaintWorkflow.run,
            status_query=ComplaintWorkflow.status,
            status_reads=config.status_reads,
        )
        view: ComplaintView = read.view
        return view

    _print_view(_run(action))


@complaint_app.command("assign")
def assign(
    complaint_id: str,
    assignee_id: Annotated[str, typer.Option(help="staff id of the new owner")],
    name: Annotated[str, typer.Option(help="their name")],
    email: Annotated[str | None, typer.Option(help="notified when given")] = None,
    actor_id: ActorId = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Assign the complaint to a member of staff."""
    from promptly.workflows.complaint import ComplaintWorkflow

    _update(
        complaint_id,
        ComplaintWorkflow.assign,
        AssignInput(
            assignee=Assignee(id=assignee_id, name=name, email=email), actor=_staff(actor_id)
        ),
        idempotency_key,
    )


@complaint_app.command("note")
def note(
    complaint_id: str,
    text: str,
    customer: Annotated[bool, typer.Option("--customer", help="send it to the customer")] = False,
    actor_id: ActorId = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Add an internal note, or (--customer) a note the customer receives."""
    from promptly.workflows.complaint import ComplaintWorkflow

    visibility = NoteVisibility.CUSTOMER if customer else NoteVisibility.INTERNAL
    _update(
        complaint_id,
        ComplaintWorkflow.add_note,
        AddNoteInput(text=text, visibility=visibility, actor=_staff(actor_id)),
        idempotency_key,
    )


@complaint_app.command("hold")
def hold(
    complaint_id: str,
    reason: str,
    for_answer: Annotated[
        bool,
        typer.Option(
            "--for-answer/--not-for-answer",
            help="the customer owes us an answer (status updates pause); otherwise they go on",
        ),
    ] = True,
    actor_id: ActorId = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Put the complaint on hold (waiting on the customer): the SLA clock stops, for at most
    PROMPTLY_COMPLAINT_MAX_HOLD (72h by default)."""
    from promptly.workflows.complaint import ComplaintWorkflow

    _update(
        complaint_id,
        ComplaintWorkflow.hold,
        HoldInput(reason=reason, actor=_staff(actor_id), for_customer_answer=for_answer),
        idempotency_key,
    )


@complaint_app.command("resume")
def resume(
    complaint_id: str,
    note: str = "",
    actor_id: ActorId = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Resume a complaint on hold: the SLA clock goes on."""
    from promptly.workflows.complaint import ComplaintWorkflow

    _update(
        complaint_id,
        ComplaintWorkflow.resume,
        ResumeInput(note=note, actor=_staff(actor_id)),
        idempotency_key,
    )


@complaint_app.command("propose")
def propose(
    complaint_id: str,
    resolution: str,
    actor_id: ActorId = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Propose a resolution; the customer is asked to confirm."""
    from promptly.workflows.complaint import ComplaintWorkflow

    _update(
        complaint_id,
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution=resolution, actor=_staff(actor_id)),
        idempotency_key,
    )


@complaint_app.command("verdict")
def verdict(
    complaint_id: str,
    satisfied: Annotated[bool, typer.Option("--satisfied/--not-satisfied")],
    comment: str = "",
    actor_kind: Annotated[ActorKind, typer.Option(help="who reports it")] = ActorKind.CLIENT,
    actor_id: ActorId = "cli",
    root_cause: RootCauseOption = None,
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Record the customer's verdict on the proposed resolution."""
    from promptly.workflows.complaint import ComplaintWorkflow

    _update(
        complaint_id,
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(
            satisfied=satisfied,
            comment=comment,
            actor=Actor(kind=actor_kind, id=actor_id),
            root_cause=root_cause,
        ),
        idempotency_key,
    )


@complaint_app.command("close")
def close(
    complaint_id: str,
    reason: str,
    actor_id: ActorId = "cli",
    root_cause: RootCauseOption = None,
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Close the complaint (a supervisor), with the reason on the record."""
    from promptly.workflows.complaint import ComplaintWorkflow

    _update(
        complaint_id,
        ComplaintWorkflow.close,
        CloseComplaintInput(reason=reason, actor=_staff(actor_id), root_cause=root_cause),
        idempotency_key,
    )


@complaint_app.command("list")
def list_complaints(
    status: Annotated[str | None, typer.Option(help="e.g. OnHold")] = None,
    department: Annotated[str | None, typer.Option(help="e.g. billing")] = None,
    breached: Annotated[bool, typer.Option("--breached", help="SLA breached only")] = False,
    limit: int = 50,
) -> None:
    """List complaints (Temporal visibility), newest first."""

    async def action(client: Client, config: Settings) -> list[str]:
        query = "WorkflowType = 'ComplaintWorkflow'"
        if status:
            query += f" AND ComplaintStatus = {json.dumps(status)}"
        if department:
            query += f" AND Department = {json.dumps(department)}"
        if breached:
            query += " AND SlaBreached = true"
        rows: list[str] = []
        async for execution in client.list_workflows(query, limit=limit):
            attrs = {pair.key.name: pair.value for pair in execution.typed_search_attributes}
            rows.append(
                f"{execution.id:<36} {attrs.get('ComplaintStatus', '-')!s:<20} "
                f"{attrs.get('Department', '-')!s:<16} level {attrs.get('EscalationLevel', 0)}"
                f"  due {attrs.get('SlaDeadline', '-')}"
            )
        return rows

    for row in _run(action):
        typer.echo(row)
