"""The appointment commands: `promptly book`, `status`, `confirm`, `reschedule`, … and `list`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.workflow import UpdateMethodMultiParam

from promptly.cli.common import run_with_client, settings
from promptly.cli.keys import IdempotencyKeyOption, cli_update_id, command_key
from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentView,
    CallOutcome,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    ExcuseNoShowInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
)
from promptly.domain.appointments.rules import BookingRejected
from promptly.domain.common import Actor, ActorKind
from promptly.domain.readable_time import readable, readable_text

appointments_app = typer.Typer()

if TYPE_CHECKING:
    from promptly.workflows.appointment import AppointmentWorkflow

T = TypeVar("T")
A = TypeVar("A")


def _print_view(view: AppointmentView) -> None:
    zone = settings().office_timezone
    typer.echo(f"{view.appointment_id}  {view.status.value}  visit {readable(view.start, zone)}")
    typer.echo(
        f"  reminder at {readable(view.reminder_at, zone)}"
        f"  response deadline {readable(view.response_deadline, zone)}"
    )
    typer.echo(
        f"  calls {view.call_attempts}/{view.max_call_attempts}"
        f"  needs attention: {', '.join(view.needs_attention) or '-'}"
    )
    for entry in view.timeline:
        typer.echo(
            f"  {readable(entry.at, zone)}  {entry.kind.value:<14} "
            f"{entry.actor.kind.value}:{entry.actor.id:<12} {readable_text(entry.detail, zone)}"
        )


@appointments_app.command()
def book(file: Annotated[Path, typer.Argument(help="AppointmentRequest as JSON")]) -> None:
    """Book an appointment from a JSON file."""
    from promptly.services.appointments import book as start_booking
    from promptly.services.cases import CaseExists

    try:
        request = AppointmentRequest.model_validate_json(file.read_text())
    except ValidationError as err:
        from promptly.services.errors import validation_problems

        for field, reason in validation_problems(err.errors()):
            typer.secho(f"{field}: {reason}", fg="red", err=True)
        raise typer.Exit(2) from err

    async def action(client: Client, config: Settings) -> str:
        handle = await start_booking(client, request, config, datetime.now(UTC))
        return handle.id

    try:
        typer.echo(f"booked: {run_with_client(action)}")
    except BookingRejected as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(2) from err
    except CaseExists as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1) from err


@appointments_app.command()
def status(appointment_id: str) -> None:
    """Show an appointment's status, deadlines and timeline."""
    from promptly.domain.common import CaseKind
    from promptly.services.appointments import handle_for
    from promptly.services.case_views import read_case_view_once
    from promptly.workflows.appointment import AppointmentWorkflow

    async def action(client: Client, config: Settings) -> AppointmentView:
        # From PostgreSQL as the API's GET (the query waits behind a busy worker); the query
        # when the case stored no view yet (services/case_views.py).
        read = await read_case_view_once(
            client,
            config.database_url,
            workflow_id=handle_for(client, appointment_id).id,
            kind=CaseKind.APPOINTMENT,
            view_model=AppointmentView,
            run=AppointmentWorkflow.run,
            status_query=AppointmentWorkflow.status,
            status_reads=config.status_reads,
        )
        view: AppointmentView = read.view
        return view

    _print_view(run_with_client(action))


ActorKindOption = Annotated[ActorKind, typer.Option(help="who acts")]
ActorIdOption = Annotated[str, typer.Option(help="their id")]
ReasonArgument = Annotated[str, typer.Argument(help="why, on the record")]


def _act(
    appointment_id: str,
    method: UpdateMethodMultiParam[[AppointmentWorkflow, A], AppointmentView],
    argument: A,
    idempotency_key: str | None,
) -> None:
    """Run one update of the appointment's workflow and print the case after it."""
    from promptly.services.appointments import handle_for

    key = command_key(idempotency_key)

    async def action(client: Client, config: Settings) -> AppointmentView:
        handle = handle_for(client, appointment_id)
        update_id = cli_update_id(key, handle.id, method)
        return await handle.execute_update(method, argument, id=update_id)

    _print_view(run_with_client(action))


@appointments_app.command()
def confirm(
    appointment_id: str,
    actor_kind: ActorKindOption = ActorKind.STAFF,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Record that the client confirmed the appointment."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.confirm,
        ConfirmInput(actor=Actor(kind=actor_kind, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command()
def acknowledge(
    appointment_id: str,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Record that the provider acknowledged the booking."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.acknowledge,
        AcknowledgeInput(actor=Actor(kind=ActorKind.PROVIDER, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command("call-outcome")
def call_outcome(
    appointment_id: str,
    outcome: CallOutcome,
    note: Annotated[str, typer.Option(help="what the client said")] = "",
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Record the outcome of the current follow-up call."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=outcome, note=note, actor=Actor(kind=ActorKind.STAFF, id=actor_id)
        ),
        idempotency_key,
    )


@appointments_app.command("check-in")
def check_in(
    appointment_id: str,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """The client arrived (opens 2h before the start)."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.check_in,
        CheckInInput(actor=Actor(kind=ActorKind.STAFF, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command()
def complete(
    appointment_id: str,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """The visit is over: the survey follows."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.complete,
        CompleteInput(actor=Actor(kind=ActorKind.PROVIDER, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command()
def cancel(
    appointment_id: str,
    reason: ReasonArgument,
    actor_kind: ActorKindOption = ActorKind.CLIENT,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Cancel: under 24h before the visit it is late (counts as held); by the provider, free
    with a free reschedule offered."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.cancel,
        CancelInput(reason=reason, actor=Actor(kind=actor_kind, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command()
def reschedule(
    appointment_id: str,
    new_start: Annotated[
        datetime, typer.Argument(help="with its UTC offset, e.g. 2026-12-01T10:00:00+01:00")
    ],
    actor_kind: ActorKindOption = ActorKind.CLIENT,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Move the visit; every timer is planned again for the new time."""
    from promptly.workflows.appointment import AppointmentWorkflow

    if new_start.tzinfo is None:
        typer.secho("new_start: give the UTC offset, e.g. +01:00", fg="red", err=True)
        raise typer.Exit(2)
    from promptly.domain.future_times import not_in_future

    past = not_in_future(new_start, datetime.now(UTC))
    if past is not None:
        typer.secho(f"new_start: {past}", fg="red", err=True)
        raise typer.Exit(2)
    _act(
        appointment_id,
        AppointmentWorkflow.reschedule,
        RescheduleInput(new_start=new_start, actor=Actor(kind=actor_kind, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command()
def delay(
    appointment_id: str,
    minutes: Annotated[int, typer.Argument(min=1, max=480)],
    reason: ReasonArgument,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """The provider runs late: the client is told at once, the no-show rule moves."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.report_delay,
        ReportDelayInput(
            minutes=minutes, reason=reason, actor=Actor(kind=ActorKind.PROVIDER, id=actor_id)
        ),
        idempotency_key,
    )


@appointments_app.command()
def excuse(
    appointment_id: str,
    reason: ReasonArgument,
    actor_kind: ActorKindOption = ActorKind.CLIENT,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """The client's excuse for a no-show: the provider is asked to decide on the fee."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.excuse_no_show,
        ExcuseNoShowInput(reason=reason, actor=Actor(kind=actor_kind, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command("waive-fee")
def waive_fee(
    appointment_id: str,
    reason: ReasonArgument,
    actor_kind: ActorKindOption = ActorKind.PROVIDER,
    actor_id: ActorIdOption = "cli",
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Force majeure: no fee for the no-show or late cancellation, a free reschedule."""
    from promptly.workflows.appointment import AppointmentWorkflow

    _act(
        appointment_id,
        AppointmentWorkflow.waive_fee,
        WaiveFeeInput(reason=reason, actor=Actor(kind=actor_kind, id=actor_id)),
        idempotency_key,
    )


@appointments_app.command("list")
def list_cases(
    status: Annotated[str | None, typer.Option(help="e.g. Unconfirmed")] = None,
    limit: int = 50,
) -> None:
    """List appointments (Temporal visibility), newest first."""

    async def action(client: Client, config: Settings) -> list[str]:
        query = "WorkflowType = 'AppointmentWorkflow'"
        if status:
            query += f" AND AppointmentStatus = {json.dumps(status)}"
        rows: list[str] = []
        async for execution in client.list_workflows(query, limit=limit):
            attrs = execution.typed_search_attributes
            state = next((p.value for p in attrs if p.key.name == "AppointmentStatus"), "-")
            start = next((p.value for p in attrs if p.key.name == "AppointmentStart"), None)
            visit = readable(start, config.office_timezone) if isinstance(start, datetime) else "-"
            rows.append(f"{execution.id:<40} {state!s:<14} {visit}")
        return rows

    for row in run_with_client(action):
        typer.echo(row)
