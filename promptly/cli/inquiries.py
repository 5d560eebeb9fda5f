"""`promptly inquiry …`: record an inquiry, read its status, answer or promote it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.workflow import UpdateMethodMultiParam

from promptly.cli import common
from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import Severity
from promptly.domain.inquiries import (
    AnswerInquiryInput,
    InquiryRequest,
    InquiryView,
    PromoteInquiryInput,
)

if TYPE_CHECKING:
    from promptly.workflows.inquiry import InquiryWorkflow

inquiry_app = typer.Typer(help="Inquiries: record, inspect, answer, promote.", no_args_is_help=True)

T = TypeVar("T")
A = TypeVar("A")
ActorId = Annotated[str, typer.Option("--actor-id", help="who acts (staff id)")]


def _run(action: Callable[[Client, Settings], Awaitable[T]]) -> T:

    return common.run_with_client(action)


def _print_view(view: InquiryView) -> None:
    typer.echo(f"{view.inquiry_id}  {view.status.value}  {view.subject}")
    typer.echo(
        f"  received {view.received_at}  answer due {view.answer_deadline}  "
        f"alerts {view.alerts}" + (f"  complaint {view.complaint_id}" if view.complaint_id else "")
    )
    if view.needs_attention:
        typer.echo(f"  needs attention: {', '.join(view.needs_attention)}")
    for entry in view.timeline:
        typer.echo(f"  {entry.at.isoformat()}  {entry.kind.value:<14} {entry.detail}")


def _update(
    inquiry_id: str,
    method: UpdateMethodMultiParam[[InquiryWorkflow, A], InquiryView],
    argument: A,
) -> None:
    from promptly.services.inquiries import inquiry_handle

    async def action(client: Client, config: Settings) -> InquiryView:
        return await inquiry_handle(client, inquiry_id).execute_update(method, argument)

    _print_view(_run(action))


@inquiry_app.command("record")
def record(file: Annotated[Path, typer.Argument(help="InquiryRequest as JSON")]) -> None:
    """Record an inquiry from a JSON file (the customer is acknowledged at once)."""
    from promptly.services.cases import CaseExists
    from promptly.services.inquiries import record_inquiry

    try:
        request = InquiryRequest.model_validate_json(file.read_text())
    except ValidationError as err:
        for problem in err.errors():
            field = ".".join(str(part) for part in problem["loc"]) or "request"
            typer.secho(f"{field}: {problem['msg']}", fg="red", err=True)
        raise typer.Exit(2) from err

    async def action(client: Client, config: Settings) -> str:
        return (await record_inquiry(client, request, config)).id

    try:
        typer.echo(f"recorded: {_run(action)}")
    except CaseExists as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1) from err


@inquiry_app.command("status")
def status(inquiry_id: str) -> None:
    """Show an inquiry's status, answer deadline and timeline."""
    from promptly.domain.common import CaseKind
    from promptly.services.case_views import read_case_view_once
    from promptly.services.inquiries import inquiry_handle
    from promptly.workflows.inquiry import InquiryWorkflow

    async def action(client: Client, config: Settings) -> InquiryView:
        # From PostgreSQL as the API's GET; the query as fallback (services/case_views.py).
        read = await read_case_view_once(
            client,
            config.database_url,
            workflow_id=inquiry_handle(client, inquiry_id).id,
            kind=CaseKind.INQUIRY,
            view_model=InquiryView,
            run=InquiryWorkflow.run,
            status_query=InquiryWorkflow.status,
            status_reads=config.status_reads,
        )
        view: InquiryView = read.view
        return view

    _print_view(_run(action))


@inquiry_app.command("answer")
def answer(inquiry_id: str, text: str, actor_id: ActorId = "cli") -> None:
    """Send the answer to the customer."""
    from promptly.workflows.inquiry import InquiryWorkflow

    _update(
        inquiry_id,
        InquiryWorkflow.answer,
        AnswerInquiryInput(text=text, actor=Actor(kind=ActorKind.STAFF, id=actor_id)),
    )


@inquiry_app.command("promote")
def promote(
    inquiry_id: str,
    category: str,
    severity: Annotated[Severity, typer.Option(help="the complaint's severity")] = Severity.NORMAL,
    actor_id: ActorId = "cli",
) -> None:
    """It is a complaint: file one with the same reference."""
    from promptly.workflows.inquiry import InquiryWorkflow

    _update(
        inquiry_id,
        InquiryWorkflow.promote,
        PromoteInquiryInput(
            category=category, severity=severity, actor=Actor(kind=ActorKind.STAFF, id=actor_id)
        ),
    )
