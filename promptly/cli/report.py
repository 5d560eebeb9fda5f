"""`promptly report`: the QA report of a period from PostgreSQL, as a table, CSV or HTML.

Figures and formats: promptly/domain/qa_report.py; the SQL: promptly/db/qa_facts.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from psycopg import AsyncConnection

from promptly.cli.common import FirstDayOption, LastDayOption, office_period, settings
from promptly.db.qa_facts import build_report
from promptly.domain.qa_report import QaReport, ReportFormat
from promptly.domain.qa_report_render import render


def report_command(
    first: FirstDayOption,
    last: LastDayOption,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = (
        ReportFormat.TABLE
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """QA report of a period from PostgreSQL: confirmations, reminders, calls, no-shows,
    late cancellations, complaints, escalations and NPS, with a trend by week."""
    config = settings()
    period = office_period(first, last, config)

    async def main() -> QaReport:
        async with await AsyncConnection.connect(config.database_url) as conn:
            return await build_report(conn, period)

    text = render(asyncio.run(main()), fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"written: {output}", err=True)
