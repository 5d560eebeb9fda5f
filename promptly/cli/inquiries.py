"""`promptly inquiry …`: record an inquiry, read its status, answer or promote it, and list
them (the commands of the case-kind registry, promptly/cli/case_commands.py)."""

from __future__ import annotations

from typing import Any

import typer

from promptly.cli.case_commands import (
    add_case_commands,
    add_list_command,
    readable_attribute,
)
from promptly.config import Settings
from promptly.domain.inquiries.models import InquiryView
from promptly.domain.readable_time import readable
from promptly.services.case_kinds import INQUIRY

inquiry_app = typer.Typer(help="Inquiries: record, inspect, answer, promote.", no_args_is_help=True)


def _print_view(view: InquiryView, zone: str) -> None:
    typer.echo(f"{view.inquiry_id}  {view.status.value}  {view.subject}")
    typer.echo(
        f"  received {readable(view.received_at, zone)}  answer due "
        f"{readable(view.answer_deadline, zone)}  alerts {view.alerts}"
        + (f"  complaint {view.complaint_id}" if view.complaint_id else "")
    )
    if view.needs_attention:
        typer.echo(f"  needs attention: {', '.join(view.needs_attention)}")


add_case_commands(
    inquiry_app,
    INQUIRY,
    _print_view,
    start="record",
    start_help="Record an inquiry from a JSON file (the customer is acknowledged at once).",
)


# The list's columns, one format for the header and the rows so that they line up.
_COLUMNS = "{:<36} {:<10} {}"


def _row(workflow_id: str, attributes: dict[str, Any], config: Settings) -> str:
    due = readable_attribute(attributes, "SlaDeadline", config.office_timezone)
    return _COLUMNS.format(workflow_id, str(attributes.get("InquiryStatus", "-")), f"due {due}")


add_list_command(
    inquiry_app,
    INQUIRY,
    _row,
    header=_COLUMNS.format("id", "status", "answer due"),
    status_example="Open",
    list_help="List inquiries (Temporal visibility), newest first; an open one with its "
    "answer due.",
)
