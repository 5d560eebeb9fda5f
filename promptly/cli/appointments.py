"""The appointment commands: `promptly book`, `status`, `confirm`, `reschedule`, … and `list`.

Book, status, one command per update and the list come from the case-kind registry
(promptly/services/case_kinds.py, spelled by promptly/cli/case_commands.py)."""

from __future__ import annotations

from typing import Any

import typer

from promptly.cli.case_commands import (
    add_case_commands,
    add_list_command,
    readable_attribute,
)
from promptly.config import Settings
from promptly.domain.appointments.models import (
    FINAL_APPOINTMENT_STATUSES,
    REMINDER_NOT_SENT_FLAG,
    AppointmentStatus,
    AppointmentView,
)
from promptly.domain.readable_time import readable
from promptly.services.case_kinds import APPOINTMENT

appointments_app = typer.Typer()


def _print_view(view: AppointmentView, zone: str) -> None:
    typer.echo(f"{view.appointment_id}  {view.status.value}  visit {readable(view.start, zone)}")
    typer.echo(_what_is_ahead(view, zone))
    if view.fee is not None:  # the latest fee: a late move's shows while the visit stands
        fee = view.fee
        cost = f"  {fee.amount:.2f} {fee.currency}" if fee.amount is not None else ""
        typer.echo(f"  fee {fee.fee.value}{cost}  {fee.state.value}")
    typer.echo(
        f"  calls {view.call_attempts}/{view.max_call_attempts}"
        f"  needs attention: {', '.join(view.needs_attention) or '-'}"
    )


def _what_is_ahead(view: AppointmentView, zone: str) -> str:
    """The reminder and the client's response deadline while they still matter: a closed
    visit has none ahead (its billing outcome instead), a confirmed client has answered."""
    if view.status in FINAL_APPOINTMENT_STATUSES:
        billing = view.billing.value if view.billing else "-"
        return f"  closed: no reminder or call ahead  billing {billing}"
    if view.reminder_sent:
        reminder = "sent"
    elif REMINDER_NOT_SENT_FLAG in view.needs_attention:
        reminder = "not sent"
    else:
        reminder = f"at {readable(view.reminder_at, zone)}"
    if view.status is AppointmentStatus.CONFIRMED:
        response = "client confirmed"
    else:
        response = f"response deadline {readable(view.response_deadline, zone)}"
    return f"  reminder {reminder}  {response}"


add_case_commands(
    appointments_app,
    APPOINTMENT,
    _print_view,
    start="book",
    start_help="Book an appointment from a JSON file.",
)


# The list's columns, one format for the header and the rows so that they line up.
_COLUMNS = "{:<40} {:<14} {}"


def _row(workflow_id: str, attributes: dict[str, Any], config: Settings) -> str:
    visit = readable_attribute(attributes, "AppointmentStart", config.office_timezone)
    return _COLUMNS.format(workflow_id, str(attributes.get("AppointmentStatus", "-")), visit)


add_list_command(
    appointments_app,
    APPOINTMENT,
    _row,
    header=_COLUMNS.format("id", "status", "visit"),
    status_example="Unconfirmed",
    list_help="List appointments (Temporal visibility), newest first.",
)
