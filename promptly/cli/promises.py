"""`promptly promises`: the promise ledger of a period, as `GET /promises` lists it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from psycopg import AsyncConnection

from promptly.cli.common import FirstDayOption, LastDayOption, office_period, settings
from promptly.domain.readable_time import readable
from promptly.services.promise_ledger import MAX_ROWS, LedgerRow, promises_due


def promises_command(
    first: FirstDayOption,
    last: LastDayOption,
    broken: Annotated[
        bool, typer.Option("--broken", help="Only the promises that were broken.")
    ] = False,
) -> None:
    """Promises due in a period with their verdicts: due, met, cause and actor."""
    config = settings()
    zone = config.office_timezone
    period = office_period(first, last, config)

    async def main() -> list[LedgerRow]:
        async with await AsyncConnection.connect(config.database_url) as conn:
            return await promises_due(
                conn, period.start, period.end, kept=False if broken else None, limit=MAX_ROWS + 1
            )

    rows = asyncio.run(main())
    truncated, rows = len(rows) > MAX_ROWS, rows[:MAX_ROWS]
    for row in rows:
        typer.echo(
            f"{readable(row.due_at, zone)}  {row.case_id}  {row.promise}  {row.verdict}"
            + (f"  met {readable(row.met_at, zone)}" if row.met_at else "")
            + (f"  cause: {row.cause}" if row.cause else "")
            + (f"  by {row.actor}" if row.actor else "")
        )
    typer.echo(f"{len(rows)} promise(s) due {period.first} – {period.last}", err=True)
    if truncated:  # as GET /promises says truncated: true (a next page)
        typer.secho(
            f"only the first {MAX_ROWS} are listed: more fell due; narrow the period",
            fg="yellow",
            err=True,
        )
