"""The activity the weekly QA report schedule runs: last weeks' report as the email's table
(the reads: promptly/db/qa_facts.py)."""

from __future__ import annotations

from dataclasses import asdict

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from promptly.db.qa_facts import build_report
from promptly.domain.maintenance import QaReportInput, QaReportSummary
from promptly.domain.qa_report import previous_weeks
from promptly.domain.qa_report_render import render_table


class ReportActivities:
    def __init__(self, pool: AsyncConnectionPool, office_timezone: str) -> None:
        self._pool = pool
        self._timezone = office_timezone

    @activity.defn
    async def qa_report_summary(self, request: QaReportInput) -> QaReportSummary:
        """The report of the full weeks before `as_of`, as the text table for the email."""
        period = previous_weeks(request.as_of, self._timezone, request.weeks)
        async with self._pool.connection() as conn:
            report = await build_report(conn, period)
        return QaReportSummary(
            **asdict(period),
            appointments=report.appointments,
            complaints=report.complaints,
            table=render_table(report),
        )
