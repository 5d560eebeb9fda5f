"""`promptly history …`: readable case histories for compliance review."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from psycopg import AsyncConnection
from temporalio.client import Client

from promptly.cli import common
from promptly.config import Settings
from promptly.services.history import CaseAmbiguous, CaseNotFound, load_case, load_client
from promptly.services.history_models import Format
from promptly.services.history_render import render_case, render_client_markdown, render_json
from promptly.services.history_replay import ReplayOutcome, replay_archived, replay_running

history_app = typer.Typer(
    help="Compliance: a case's complete history, a client's cases and messages.",
    no_args_is_help=True,
)

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="md, json or html")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="write to this file (default: stdout)")
]


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"written: {output}", err=True)


@history_app.command("export")
def export(
    case_id: Annotated[
        str, typer.Argument(help="workflow id (appointment-A-1001) or reference (A-1001)")
    ],
    fmt: FormatOption = Format.MD,
    output: OutputOption = None,
) -> None:
    """A case's timeline: time (office timezone), actor, channel, the text sent, decisions.

    Running cases are read from Temporal and PostgreSQL, closed and archived ones from
    PostgreSQL.
    """
    import asyncio

    from promptly.client import make_client

    config = common.settings()

    async def main() -> str:
        client: Client | None
        try:
            client = await make_client(config)
        except RuntimeError as err:  # Temporal unreachable: what PostgreSQL holds is complete
            typer.secho(f"Temporal not reachable ({err}); PostgreSQL only", fg="yellow", err=True)
            client = None
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            found = await load_case(conn, case_id, config.office_timezone, client)
        return render_case(found, fmt)

    try:
        text = asyncio.run(main())
    except CaseNotFound as err:
        typer.secho(f"not found: {err}", fg="red", err=True)
        raise typer.Exit(1) from err
    except CaseAmbiguous as err:
        typer.secho(f"ambiguous: {err}", fg="red", err=True)
        raise typer.Exit(1) from err
    _emit(text, output)


@history_app.command("client")
def client_cases(
    client_id: str,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="md or json")] = Format.MD,
    output: OutputOption = None,
) -> None:
    """Every case (appointments, complaints, surveys) and every message of a client."""
    import asyncio

    if fmt is Format.HTML:
        typer.secho("--format html is for case exports; use md or json", fg="red", err=True)
        raise typer.Exit(2)
    config = common.settings()

    async def main() -> str:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            found = await load_client(conn, client_id, config.office_timezone)
        return render_json(found) if fmt is Format.JSON else render_client_markdown(found)

    try:
        text = asyncio.run(main())
    except CaseNotFound as err:  # as GET /history/clients/… answers 404
        typer.secho(f"not found: {err}", fg="red", err=True)
        raise typer.Exit(1) from err
    _emit(text, output)


@history_app.command("replay")
def replay(
    since: Annotated[
        datetime | None,
        typer.Option(
            help="only running cases started, and archived ones closed, at or after this (UTC)"
        ),
    ] = None,
) -> None:
    """Replay every running case's history (from Temporal) and the archived histories against
    this code; exit 1 if any would not replay."""
    from promptly.client import data_converter

    moment = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since

    async def action(client: Client, config: Settings) -> list[ReplayOutcome]:
        converter = data_converter(config)
        running = await replay_running(client, converter, moment)
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return running + await replay_archived(conn, converter, moment)

    outcomes = common.run_with_client(action)
    failed = [o for o in outcomes if o.failure]
    for outcome in failed:
        kind = "running" if outcome.running else "archived"
        typer.secho(
            f"{kind} {outcome.case_id} {outcome.run_id}: {outcome.failure}", fg="red", err=True
        )
    running = sum(o.running for o in outcomes)
    typer.echo(
        f"replayed {running} running, {len(outcomes) - running} archived, {len(failed)} failed"
    )
    if failed:
        raise typer.Exit(1)
