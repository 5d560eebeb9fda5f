"""`promptly billing`: the fee events of a period, as `GET /billing` lists them; `--csv` for a
billing system to import."""

from __future__ import annotations

import asyncio
import csv
import sys
from typing import Annotated

import typer
from psycopg import AsyncConnection

from promptly.cli.common import FirstDayOption, LastDayOption, office_period, settings
from promptly.domain.readable_time import readable
from promptly.services.billing_record import MAX_ROWS, FeeRow, fees_decided

# The CSV's columns, in order (FeeRow's fields; times in UTC, ISO 8601).
CSV_COLUMNS = list(FeeRow.model_fields)


def billing_command(
    first: FirstDayOption,
    last: LastDayOption,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV with a header row (times in UTC, ISO 8601).")
    ] = False,
) -> None:
    """Fees charged, waived or let stand in a period: case, client, provider, fee, amount,
    who decided and when."""
    config = settings()
    zone = config.office_timezone
    period = office_period(first, last, config)

    async def main() -> list[FeeRow]:
        async with await AsyncConnection.connect(config.database_url) as conn:
            return await fees_decided(conn, period.start, period.end, limit=MAX_ROWS + 1)

    rows = asyncio.run(main())
    truncated, rows = len(rows) > MAX_ROWS, rows[:MAX_ROWS]
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            values = row.model_dump(mode="json")
            writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    else:
        for row in rows:
            cost = f"{row.amount:.2f} {row.currency}" if row.amount is not None else "(no amount)"
            typer.echo(
                f"{readable(row.decided_at, zone)}  {row.case_id}  client {row.client_id}  "
                f"provider {row.provider_id or '?'}  {row.fee or '(fee not recorded)'}  "
                f"{cost}  {row.outcome}  by {row.decided_by}"
            )
    typer.echo(f"{len(rows)} fee event(s) {period.first} – {period.last}", err=True)
    if truncated:
        typer.secho(
            f"only the first {MAX_ROWS} are listed: more were decided; narrow the period",
            fg="yellow",
            err=True,
        )
