"""`promptly messages --pending [--channel email]`: the sends not gone out yet, as
`GET /messages?status=pending` lists them (promptly/db/pending_sends.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from psycopg import AsyncConnection

from promptly.cli.common import settings
from promptly.db.pending_sends import PendingSend, pending_sends
from promptly.domain.common import Channel
from promptly.domain.readable_time import readable


def _table(rows: list[PendingSend], zone: str) -> list[str]:
    lines = [f"{'pending since':<30}  {'channel':<7} {'tries':>5}  case  template  last error"]
    for row in rows:
        lines.append(
            f"{readable(row.pending_since, zone):<30}  {row.channel:<7} {row.attempts:>5}  "
            f"{row.case_id}  {row.template}  {' '.join((row.last_error or '-').split())}"
        )
    return lines


def messages_command(
    pending: Annotated[
        bool, typer.Option("--pending", help="the sends not gone out yet (retrying)")
    ] = False,
    channel: Annotated[Channel | None, typer.Option(help="only this channel's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
) -> None:
    """Sends not gone out yet, oldest first (office time): since when, channel, attempts, case,
    template, the last error. One leaves the list once sent, queued in the outbox, refused
    for good, or given up by its case."""
    if not pending:
        typer.secho("--pending: the only listing there is; give it", fg="red", err=True)
        raise typer.Exit(2)
    config = settings()

    async def main() -> list[PendingSend]:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return await pending_sends(conn, channel.value if channel else None, limit + 1)

    rows = asyncio.run(main())
    truncated, rows = len(rows) > limit, rows[:limit]
    if not rows:
        typer.echo("no pending sends" + (f" on {channel.value}" if channel else ""))
        return
    for line in _table(rows, config.office_timezone):
        typer.echo(line)
    if truncated:
        typer.secho(f"only the oldest {limit} are listed (--limit)", fg="yellow", err=True)
