"""`promptly complaint …`: file a complaint, read its status, and act on it.

File, status and the updates come from the case-kind registry (promptly/cli/case_commands.py);
`assign` and `note` are written here (their options are not the input model's fields), and
`list`, which filters by department and SLA breach too."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from promptly.cli.actors import ActorIdOption, cli_actor
from promptly.cli.case_commands import (
    AttentionOption,
    ListLimit,
    add_case_commands,
    print_listing,
    readable_attribute,
    refuse,
    run_case_update,
)
from promptly.cli.keys import IdempotencyKeyOption
from promptly.config import Settings
from promptly.domain.complaints.models import ComplaintStatus, ComplaintView, NoteVisibility
from promptly.domain.readable_time import readable, readable_duration
from promptly.domain.text_patterns import DEPARTMENT_ID
from promptly.services.case_kinds import COMPLAINT
from promptly.services.errors import validation_problems

complaint_app = typer.Typer(help="Complaints: file, inspect, act.", no_args_is_help=True)


def _print_view(view: ComplaintView, zone: str) -> None:
    typer.echo(
        f"{view.complaint_id}  {view.status.value}  {view.department} "
        f"({view.category}, {view.severity.value})  level {view.escalation_level}"
        + ("  SLA BREACHED" if view.sla_breached else "")
    )
    due = readable(view.sla_deadline, zone) if view.sla_deadline else "- (clock stopped)"
    typer.echo(
        f"  resolution due {due}"
        f"  next escalation {readable(view.next_escalation_at, zone)}"
        f"  next update {readable(view.next_status_update_at, zone)}"
    )
    held = readable_duration(view.time_on_hold)
    typer.echo(
        f"  contact {view.contact.name} <{view.contact.email}>  time on hold {held}"
        + (
            f" + since {readable(view.on_hold_since, zone)} ({view.hold_reason})"
            if view.on_hold_since
            else ""
        )
    )
    if view.verdict_deadline:
        typer.echo(f"  verdict due {readable(view.verdict_deadline, zone)}")
    if view.needs_attention:
        typer.echo(f"  needs attention: {', '.join(view.needs_attention)}")


add_case_commands(
    complaint_app,
    COMPLAINT,
    _print_view,
    start="file",
    start_help="File a complaint from a JSON file.",
)


def _update(
    complaint_id: str, action: str, values: dict[str, Any], idempotency_key: str | None
) -> None:
    """Run the complaint's update `action` with the input of `values` (bad input: exit 2)."""
    update = COMPLAINT.updates[action]
    try:
        argument = update.input.model_validate(values)
    except ValidationError as err:
        refuse(validation_problems(err.errors()))
    run_case_update(COMPLAINT, complaint_id, update, argument, idempotency_key, _print_view)


@complaint_app.command("assign")
def assign(
    complaint_id: str,
    assignee_id: Annotated[str, typer.Option(help="staff id of the new owner")],
    name: Annotated[str, typer.Option(help="their name")],
    email: Annotated[str | None, typer.Option(help="notified when given")] = None,
    actor_id: ActorIdOption = None,
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Assign the complaint to a member of staff."""
    assignee = {"id": assignee_id, "name": name, "email": email}
    values = {"assignee": assignee, "actor": cli_actor(None, actor_id)}
    _update(complaint_id, "assign", values, idempotency_key)


@complaint_app.command("note")
def note(
    complaint_id: str,
    text: str,
    customer: Annotated[bool, typer.Option("--customer", help="send it to the customer")] = False,
    actor_id: ActorIdOption = None,
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Add an internal note, or (--customer) a note the customer receives."""
    visibility = NoteVisibility.CUSTOMER if customer else NoteVisibility.INTERNAL
    values = {"text": text, "visibility": visibility, "actor": cli_actor(None, actor_id)}
    _update(complaint_id, "add_note", values, idempotency_key)


def _department_name(name: str | None) -> str | None:
    """A department id as the routing matrix writes it (lower case, digits, - and _)."""
    if name is not None and not re.match(DEPARTMENT_ID.regex, name):
        raise typer.BadParameter(f"{name!r} is no department id: must be {DEPARTMENT_ID.meaning}")
    return name


# The list's columns, one format for the header and the rows so that they line up.
_LIST_COLUMNS = "{:<36} {:<20} {:<16} {:<7}  {}"


@complaint_app.command("list")
def list_complaints(
    status: Annotated[ComplaintStatus | None, typer.Option(help="e.g. OnHold")] = None,
    department: Annotated[
        str | None, typer.Option(help="e.g. billing", callback=_department_name)
    ] = None,
    breached: Annotated[bool, typer.Option("--breached", help="SLA breached only")] = False,
    attention: AttentionOption = False,
    limit: ListLimit = 50,
) -> None:
    """List complaints (Temporal visibility), newest first."""

    def row(workflow_id: str, attributes: dict[str, Any], config: Settings) -> str:
        due = readable_attribute(attributes, "SlaDeadline", config.office_timezone)
        return _LIST_COLUMNS.format(
            workflow_id,
            str(attributes.get("ComplaintStatus", "-")),
            str(attributes.get("Department", "-")),
            f"level {attributes.get('EscalationLevel', 0)}",
            f"due {due}",
        )

    print_listing(
        COMPLAINT,
        limit,
        row,
        _LIST_COLUMNS.format("id", "status", "department", "level", "resolution due"),
        attention=attention,
        ComplaintStatus=status,
        Department=department,
        SlaBreached=True if breached else None,
    )
