"""`promptly`: the operator's command line (typer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from promptly.config import Settings
from promptly.domain.models import (
    AcknowledgeInput,
    Actor,
    ActorKind,
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
from promptly.domain.policy import BookingRejected
from promptly.domain.readable_time import readable, readable_text
from promptly.starter.calendar_cli import calendar_app
from promptly.starter.cli_keys import IdempotencyKeyOption, cli_update_id, command_key
from promptly.starter.complaint_cli import complaint_app
from promptly.starter.db_cli import roles as db_roles
from promptly.starter.demo_cli import demo_command
from promptly.starter.history_cli import history_app
from promptly.starter.inquiry_cli import inquiry_app
from promptly.starter.outbox_cli import outbox_command
from promptly.starter.report import report_command
from promptly.starter.secret_files import secrets_app
from promptly.starter.sms_cli import sms_app
from promptly.starter.tasks_cli import tasks_app
from promptly.starter.views_cli import views_command
from promptly.starter.webhook_cli import webhooks_app

app = typer.Typer(
    help="Promptly: appointments and complaints on time, on the record.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("roles")(db_roles)
app.add_typer(complaint_app, name="complaint")
app.add_typer(inquiry_app, name="inquiry")
app.add_typer(history_app, name="history")
app.add_typer(tasks_app, name="tasks")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(calendar_app, name="calendar")
app.add_typer(sms_app, name="sms")
app.add_typer(secrets_app, name="secrets")
app.command("report")(report_command)

if TYPE_CHECKING:
    from promptly.workflows.appointment import AppointmentWorkflow

T = TypeVar("T")
A = TypeVar("A")
LOCAL_ENV = Path(".data/env")  # written by `promptly dev` for the other commands


def settings() -> Settings:
    return Settings(_env_file=LOCAL_ENV if LOCAL_ENV.exists() else None)


def _run(action: Callable[[Client, Settings], Awaitable[T]]) -> T:
    from promptly.worker import make_client

    async def main() -> T:
        config = settings()
        return await action(await make_client(config), config)

    try:
        return asyncio.run(main())
    except RuntimeError as err:
        refuse_if_unreachable(err)
        raise
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        typer.secho(f"refused: {cause or err}", fg="red", err=True)
        raise typer.Exit(1) from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            typer.secho(f"not found: {err.message}", fg="red", err=True)
            raise typer.Exit(1) from err
        raise


def refuse_if_unreachable(err: RuntimeError) -> None:
    """A client that could not connect: one sentence and exit 1 instead of a traceback."""
    if str(err).startswith("Failed client connect"):
        address = settings().temporal_address
        typer.secho(
            f"cannot reach Temporal at {address}: is `make run` going? ({err})", fg="red", err=True
        )
        raise typer.Exit(1) from err


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


@app.command()
def book(file: Annotated[Path, typer.Argument(help="AppointmentRequest as JSON")]) -> None:
    """Book an appointment from a JSON file."""
    from promptly.starter.appointments import AlreadyBooked
    from promptly.starter.appointments import book as start_booking

    try:
        request = AppointmentRequest.model_validate_json(file.read_text())
    except ValidationError as err:
        from promptly.starter.api_errors import validation_problems

        for field, reason in validation_problems(err.errors()):
            typer.secho(f"{field}: {reason}", fg="red", err=True)
        raise typer.Exit(2) from err

    async def action(client: Client, config: Settings) -> str:
        handle = await start_booking(client, request, config, datetime.now(UTC))
        return handle.id

    try:
        typer.echo(f"booked: {_run(action)}")
    except BookingRejected as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(2) from err
    except AlreadyBooked as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1) from err


@app.command()
def status(appointment_id: str) -> None:
    """Show an appointment's status, deadlines and timeline."""
    from promptly.starter.appointments import handle_for
    from promptly.workflows.appointment import AppointmentWorkflow

    async def action(client: Client, config: Settings) -> AppointmentView:
        return await handle_for(client, appointment_id).query(AppointmentWorkflow.status)

    _print_view(_run(action))


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
    from promptly.starter.appointments import handle_for

    key = command_key(idempotency_key)

    async def action(client: Client, config: Settings) -> AppointmentView:
        handle = handle_for(client, appointment_id)
        update_id = cli_update_id(key, handle.id, method)
        return await handle.execute_update(method, argument, id=update_id)

    _print_view(_run(action))


@app.command()
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


@app.command()
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


@app.command("call-outcome")
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


@app.command("check-in")
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command("waive-fee")
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


@app.command("list")
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

    for row in _run(action):
        typer.echo(row)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations as the schema owner (PROMPTLY_MIGRATION_DATABASE_URL when
    set), then grant the application's role (PROMPTLY_DATABASE_URL) its privileges."""
    from promptly import db

    config = settings()
    applied = db.migrate(config.database_url, config.migration_database_url)
    typer.echo(f"applied {applied} migration(s)")


@app.command()
def setup(
    create_namespace: Annotated[
        bool,
        typer.Option(
            help="register the namespace when it is missing (self-hosted clusters), with "
            "PROMPTLY_RETENTION as its history retention"
        ),
    ] = False,
) -> None:
    """Prepare the configured namespace (idempotent): check it, register Promptly's search
    attributes, create or update the archive, purge and QA report schedules."""
    from promptly.starter.setup import (
        NamespaceCheck,
        NamespaceProblem,
        check_namespace,
        ensure_schedules,
        register_search_attributes,
    )

    async def action(
        client: Client, config: Settings
    ) -> tuple[NamespaceCheck, list[str], list[str]]:
        namespace = await check_namespace(
            client,
            client.namespace,
            create_with_retention=config.retention if create_namespace else None,
        )
        added = await register_search_attributes(client, client.namespace)
        return namespace, added, await ensure_schedules(client, config)

    try:
        namespace, added, created = _run(action)
    except NamespaceProblem as problem:
        typer.secho(str(problem), fg="red", err=True)
        raise typer.Exit(1) from problem
    retention = f"{namespace.retention.days}d" if namespace.retention else "unlimited"
    typer.echo(
        f"namespace {namespace.namespace}: {'created' if namespace.created else 'exists'}, "
        f"history retention {retention}"
    )
    for warning in namespace.warnings:
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    typer.echo(f"search attributes added: {', '.join(added) or 'none (all present)'}")
    typer.echo(f"schedules created: {', '.join(created) or 'none (all present, updated)'}")


@app.command()
def worker() -> None:
    """Run the worker (migrations applied first)."""
    from promptly.worker import main

    main()


@app.command()
def dev(
    port: int = 7233, ui_port: int = 8233, api_port: int = 8000, data: Path = Path(".data")
) -> None:
    """Embedded stack: Temporal dev server + UI, PostgreSQL, worker, API :8000. Ctrl-C stops all."""
    from promptly.starter import devstack
    from promptly.starter.ports import PortTaken

    try:
        devstack.run(data, port, ui_port, api_port)
    except PortTaken as taken:
        typer.secho(str(taken), fg="red", err=True)
        raise typer.Exit(1) from taken


@app.command()
def api(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_config: Annotated[
        Path | None, typer.Option(help="uvicorn logging config (JSON or YAML)")
    ] = None,
) -> None:
    """Serve the HTTP API alone (production: one process per replica, behind a proxy)."""
    from promptly.starter.api_server import serve
    from promptly.starter.ports import PortTaken

    try:
        serve(host, port, log_config)
    except PortTaken as taken:
        typer.secho(str(taken), fg="red", err=True)
        raise typer.Exit(1) from taken


app.command("demo")(demo_command)
app.command("outbox")(outbox_command)
app.command("views")(views_command)


def main() -> None:
    """The `promptly` console script: every command ends without the native-runtime crash."""
    from promptly.process import run_then_exit

    run_then_exit(app)


if __name__ == "__main__":
    main()
