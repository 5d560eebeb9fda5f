"""`promptly hold …`: legal holds, which keep a case or every case of a client from the
retention purge until released (promptly/services/legal_holds.py; the API's `/legal-holds`).
Recorded as the person running the command (`staff:<OS user> via cli`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from psycopg import AsyncConnection

from promptly.cli import common
from promptly.cli.actors import cli_actor
from promptly.services.errors import ServiceError
from promptly.services.legal_holds import LegalHold, list_holds, place_hold, release_hold

holds_app = typer.Typer(
    help="Legal holds: keep cases from the retention purge until released.",
    no_args_is_help=True,
)

T = TypeVar("T")


def _run(action: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
    config = common.settings()

    async def main() -> T:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return await action(conn)

    try:
        return asyncio.run(main())
    except ServiceError as err:
        typer.secho(err.reason, fg="red", err=True)
        raise typer.Exit(1 if err.status == 404 else 2) from err


def _line(hold: LegalHold) -> str:
    what = hold.case_id or f"client {hold.client_id}"
    state = (
        f"released {hold.released_at.isoformat(timespec='seconds')} by {hold.released_by}"
        + (f": {hold.release_note}" if hold.release_note else "")
        if hold.released_at is not None
        else "active"
    )
    return (
        f"{hold.id:>6}  {what}  held {hold.held_at.isoformat(timespec='seconds')} by "
        f"{hold.held_by}: {hold.reason}  [{state}]"
    )


@holds_app.command("add")
def add_command(
    reason: Annotated[str, typer.Argument(help="why, e.g. a matter number")],
    case: Annotated[
        str | None, typer.Option("--case", help="workflow id or reference, e.g. B-1")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client", help="every case of a client")
    ] = None,
) -> None:
    """Hold a case (--case) or every case of a client (--client) from the retention purge."""
    if (case is None) == (client_id is None):
        typer.secho("name what to hold: --case or --client (one of the two)", fg="red", err=True)
        raise typer.Exit(2)
    held_by = cli_actor(None, None).signature()
    placed, new = _run(
        lambda conn: place_hold(
            conn, case=case, client_id=client_id, reason=reason, held_by=held_by
        )
    )
    typer.echo(("held: " if new else "already held: ") + _line(placed))


@holds_app.command("release")
def release_command(
    hold_id: Annotated[int, typer.Argument(min=1, help="the hold's id (from `hold list`)")],
    note: Annotated[str, typer.Option(help="why it is released")] = "",
) -> None:
    """Release a hold: the next purge deletes what it kept, if the retention has run."""
    released_by = cli_actor(None, None).signature()
    released = _run(lambda conn: release_hold(conn, hold_id, released_by, note))
    typer.echo(_line(released))


@holds_app.command("list")
def list_command(
    include_released: Annotated[bool, typer.Option("--all", help="released holds too")] = False,
    case_id: Annotated[str | None, typer.Option("--case", help="a case's workflow id")] = None,
    client_id: Annotated[str | None, typer.Option("--client")] = None,
) -> None:
    """Legal holds, newest first: id, what is held, when and by whom, why, and its state."""
    holds = _run(
        lambda conn: list_holds(
            conn, active_only=not include_released, case_id=case_id, client_id=client_id
        )
    )
    for hold in holds:
        typer.echo(_line(hold))
    if not holds:
        typer.echo("no legal holds", err=True)
