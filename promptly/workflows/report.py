"""The weekly QA report, mailed to the supervisors (run by the Temporal Schedule that
`promptly setup` creates). Orchestration only: one activity computes, the messaging activity
sends through the ledger, so a retried or repeated run for the same week mails it once."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from promptly.activities.messaging import MessagingActivities
    from promptly.activities.reports import ReportActivities
    from promptly.domain import errors
    from promptly.domain.common import Channel, RecipientRole
    from promptly.domain.maintenance import QaReportInput, QaReportRequest, QaReportSummary
    from promptly.domain.messages import Recipient, SendMessageRequest

RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=20,
    non_retryable_error_types=[errors.INVALID_RECIPIENT, errors.UNKNOWN_TEMPLATE],
)


@workflow.defn
class QaReportWorkflow:
    @workflow.run
    async def run(self, request: QaReportRequest) -> QaReportSummary:
        as_of = request.as_of or workflow.info().start_time
        workflow.set_current_details(f"QA report of the {request.weeks} week(s) before {as_of}")
        summary = await workflow.execute_activity_method(
            ReportActivities.qa_report_summary,
            QaReportInput(as_of=as_of, weeks=request.weeks),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RETRY,
            summary="compute the QA report",
        )
        period = f"{summary.first.isoformat()}/{summary.last.isoformat()}"
        await workflow.execute_activity_method(
            MessagingActivities.send_message,
            SendMessageRequest(
                idempotency_key=f"qa-report/{period}",
                case_id=f"qa-report-{summary.first.isoformat()}",
                template="qa_report",
                channel=Channel.EMAIL,
                to=Recipient(role=RecipientRole.SUPERVISOR, timezone=summary.timezone),
                context={
                    "first": summary.first.isoformat(),
                    "last": summary.last.isoformat(),
                    "timezone": summary.timezone,
                    "report": summary.table,
                },
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
            summary=f"mail the QA report {period} to the supervisors",
        )
        return summary
