"""`promptly tasks …`: the staff task inbox from the terminal, as `GET /tasks` and
`POST /tasks/{id}/complete` serve it (both over services/task_list.py and staff_tasks.py)."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from promptly.cli import common
from promptly.cli.actors import ActorIdOption, cli_actor, refuse_foreign_party
from promptly.cli.keys import IdempotencyKeyOption, command_key
from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind
from promptly.domain.readable_time import readable
from promptly.domain.tasks import TaskKind
from promptly.domain.text_patterns import BUSINESS_ID
from promptly.services import staff_tasks, task_list
from promptly.services.case_kinds import CASE_KINDS
from promptly.services.errors import ServiceError
from promptly.services.idempotency import derived_id
from promptly.services.staff_tasks import TaskCompletion
from promptly.services.task_list import StaffTask

tasks_app = typer.Typer(help="Staff tasks: calls to make, decisions to take.", no_args_is_help=True)


def _table(tasks: list[StaffTask], timezone: str) -> list[str]:
    rows = [
        f"{'id':>6}  {'due':<30}  {'visit':<30}  {'kind':<26} {'assignee':<11} {'status':<5}  title"
    ]
    for task in tasks:
        state = task.status if task.outcome is None else f"{task.status}: {task.outcome}"
        visit = readable(task.visit_start, timezone)
        rows.append(
            f"{task.id:>6}  {readable(task.due_at, timezone):<30}  {visit:<30}  {task.kind:<26} "
            f"{task.assignee:<11} {state:<5}  {task.title}  [{task.case_id}"
            + (f", case {task.case_status}]" if task.case_ended else "]")
        )
    return rows


def _provider_id(value: str | None) -> str | None:
    """A provider's id as the API takes it (`GET /tasks?provider_id=`): exit 2 naming it."""
    if value is not None and not re.match(BUSINESS_ID.regex, value):
        raise typer.BadParameter(f"{value!r} is no provider id: must be {BUSINESS_ID.meaning}")
    return value


@tasks_app.command("list")
def list_command(
    assignee: Annotated[str | None, typer.Option(help="e.g. front_desk, provider")] = None,
    kind: Annotated[TaskKind | None, typer.Option(help="e.g. call_client")] = None,
    status: Annotated[str, typer.Option(help="open, done or all")] = "open",
    case_id: Annotated[str | None, typer.Option("--case", help="a workflow id")] = None,
    provider_id: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help="a provider's id, e.g. P-3: the tasks that provider decides, not every provider's",
            callback=_provider_id,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Tasks, soonest due first (office time): id, due, the visit's start (an appointment's
    task), kind, assignee, status, title, case. A call is due by its promise's deadline."""
    from promptly.client import open_pool

    if status not in ("open", "done", "all"):
        typer.secho("--status: open, done or all", fg="red", err=True)
        raise typer.Exit(2)
    try:
        case_id = case_id if case_id is None else task_list.case_filter(case_id)
    except ValueError as err:
        typer.secho(f"--case: {err}", fg="red", err=True)
        raise typer.Exit(2) from err

    async def action(client: Client, config: Settings) -> list[StaffTask]:
        async with open_pool(config) as pool:
            return await task_list.find_tasks(
                pool,
                assignee=assignee,
                kind=kind,
                status=status,
                case_id=case_id,
                provider_id=provider_id,
                limit=limit,
            )

    found = common.run_with_client(action)
    for row in _table(found, common.settings().office_timezone) if found else ["no tasks"]:
        typer.echo(row)


@tasks_app.command("show")
def show_command(task_id: int) -> None:
    """One task whole: its details (the number to call, the client's words, the excuse), its
    data, and how it ended."""
    from promptly.client import open_pool

    async def action(client: Client, config: Settings) -> StaffTask | None:
        async with open_pool(config) as pool:
            return await task_list.load_task(pool, task_id)

    task = common.run_with_client(action)
    if task is None:
        typer.secho(f"no task {task_id}", fg="red", err=True)
        raise typer.Exit(1)
    zone = common.settings().office_timezone
    typer.echo(f"task {task.id} [{task.case_id}] {task.kind} for {task.assignee}: {task.title}")
    typer.echo(f"  due {readable(task.due_at, zone)}  {task.status}")
    typer.echo(f"  {task.details}")
    for name, value in task.data.items():
        typer.echo(f"  {name}: {value}")
    if task.outcome is not None:
        closed = readable(task.closed_at, zone)
        typer.echo(f"  ended {closed}: {task.outcome} ({task.closed_by}) {task.note or ''}")


@tasks_app.command("complete")
def complete_command(
    task_id: int,
    outcome: Annotated[
        str,
        typer.Argument(
            help="a follow-up call: reached_confirmed, reached_cancelled, "
            "reached_rescheduled, no_answer, wrong_number; a message read out by phone: "
            "reached, reached_confirmed, no_answer, wrong_number; send_confirmation_manually: "
            "sent, confirmed; provider_decision: waive_fee, fee_stands; "
            "deliver_message_manually, resend_staff_message: passed_on; client_reply: handled"
        ),
    ],
    note: Annotated[
        str,
        typer.Option(help="what happened; for waive_fee the reason, which the client is sent"),
    ] = "",
    new_start: Annotated[
        str | None,
        typer.Option(
            help="reached_rescheduled: the agreed time with its UTC offset, e.g. "
            "2026-12-03T10:00:00+01:00"
        ),
    ] = None,
    score: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=10,
            help="reached, for a survey or a complaint's follow-up read out: the client's 0-10 "
            "answer (the note is their comment)",
        ),
    ] = None,
    satisfied: Annotated[
        bool | None,
        typer.Option(
            "--satisfied/--not-satisfied",
            help="reached, for a complaint's resolution proposal read out: the customer's "
            "verdict (the note is their comment)",
            show_default=False,
        ),
    ] = None,
    plea: Annotated[
        str | None,
        typer.Option(
            help="reached, reached_confirmed, for a message read out: the client asks for the "
            "fee of a late cancellation, a late reschedule or a no-show to be waived, and why; "
            "it goes to the provider's decision (as `promptly excuse`)",
        ),
    ] = None,
    phone: Annotated[
        str | None,
        typer.Option(
            help="handled, on the task to find a client's right number: the number found "
            "(E.164, e.g. +48600100300); the case uses it from now on"
        ),
    ] = None,
    actor_kind: Annotated[
        ActorKind | None,
        typer.Option(help="act for someone else, with --actor-id; default: you, as staff"),
    ] = None,
    actor_id: ActorIdOption = None,
    idempotency_key: IdempotencyKeyOption = None,
) -> None:
    """Complete a task with its outcome; the outcome drives the case (a call's outcome runs
    record_call_outcome, waive_fee runs waive_fee, ...). What a phone client answered to the
    message read out goes with reached: --score, or --satisfied/--not-satisfied; a plea to
    waive a fee: --plea. Recorded as
    you (staff:<OS user> via cli), or as whom --actor-kind/--actor-id name, via cli: a client
    or provider must be the task's case's own (exit 2)."""
    from promptly.client import open_pool

    actor = cli_actor(actor_kind, actor_id)
    completion = TaskCompletion.model_validate(
        {
            "outcome": outcome,
            "note": note,
            "new_start": new_start,
            "score": score,
            "satisfied": satisfied,
            "plea": plea,
            "phone": phone,
            "actor": actor,
        }
    )
    update_id = derived_id(command_key(idempotency_key), "cli", "task", str(task_id))

    async def action(client: Client, config: Settings) -> StaffTask:
        async with open_pool(config) as pool:
            await _refuse_foreign_party(client, config, pool, task_id, actor)
            task, _ = await staff_tasks.complete_task(
                client, pool, config, task_id, completion, actor, update_id
            )
            return task

    try:
        task = common.run_with_client(action)
    except ServiceError as err:
        common.say_refused(err.reason)
        raise typer.Exit(1) from err
    typer.echo(f"task {task.id} {task.status}: {task.outcome} ({task.closed_by})")


async def _refuse_foreign_party(
    client: Client, config: Settings, pool: AsyncConnectionPool, task_id: int, actor: Actor
) -> None:
    """Exit 2 when `actor` is a client or provider the task's case is not about (an unknown
    task is left to the completion, which says so)."""
    if actor.kind not in (ActorKind.CLIENT, ActorKind.PROVIDER):
        return
    task = await task_list.load_task(pool, task_id)
    if task is None:
        return
    for kind in CASE_KINDS:
        if task.case_id.startswith(f"{kind.noun}-"):
            await refuse_foreign_party(client, config, kind, task.case_id, actor, pool)
