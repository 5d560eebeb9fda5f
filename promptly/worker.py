"""Builds the Temporal client and the worker with every workflow and activity registered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from contextlib import AsyncExitStack

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from promptly import db, observability, worker_health
from promptly.activities.archive import ArchiveActivities
from promptly.activities.channels import (
    DeliveryChannel,
    OutboxChannel,
    StaffCallChannel,
    check_sent_once,
)
from promptly.activities.complaints import ComplaintRulesActivities
from promptly.activities.inquiries import InquiryActivities
from promptly.activities.messaging import LinkSettings, StaffDirectory
from promptly.activities.records import PolicyActivities, RecordsActivities
from promptly.activities.reports import ReportActivities
from promptly.activities.sendgrid_email import SendGridChannel
from promptly.activities.sms import SmsRoutingMessaging, TwilioSmsChannel
from promptly.activities.tasks import TaskActivities
from promptly.activities.webhooks import WebhookActivities
from promptly.client import connect_options, data_converter, make_client, open_pool
from promptly.config import Settings
from promptly.db import schema
from promptly.domain.common import Channel
from promptly.services import setup
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from promptly.workflows.maintenance import ArchiveWorkflow, PurgeWorkflow, WebhookDispatchWorkflow
from promptly.workflows.notices import ClientNoticeWorkflow
from promptly.workflows.report import QaReportWorkflow
from promptly.workflows.survey import SurveyWorkflow

WORKFLOWS = [
    AppointmentWorkflow,
    SurveyWorkflow,
    ComplaintWorkflow,
    InquiryWorkflow,
    ArchiveWorkflow,
    PurgeWorkflow,
    QaReportWorkflow,
    WebhookDispatchWorkflow,
    ClientNoticeWorkflow,
]


# Validation libraries behind pydantic's EmailStr are pure and costly to re-import.
PURE_LIBRARIES = ("email_validator", "idna", "dns")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox of every replay: it re-imports Promptly's workflow modules for each run, so
    its import restrictions (no clock, no randomness, no I/O) apply to every line replayed."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PURE_LIBRARIES)
    )


def worker_runner(settings: Settings) -> WorkflowRunner:
    """The worker's runner: the sandbox with Promptly's own modules passed through, or none
    when `workflow_sandbox` is off.

    Re-importing `promptly.workflows` for every workflow run cost 0.1–0.5 s of CPU each time
    a case is not in the sticky cache (a burst larger than the cache, every case after a
    worker restart): the largest item in the burst and chaos profiles. Passed through, the
    modules are imported once per process. What the sandbox checked at run time is checked
    before: ruff bans the clock, randomness and I/O in promptly/workflows and promptly/domain
    (their ruff.toml), and every stored history replays in the full sandbox
    (`workflow_runner`, tests/test_replay.py). Modules keep no state between runs: constants
    only.
    """
    if not settings.workflow_sandbox:
        return UnsandboxedWorkflowRunner()
    # The replay sandbox, with Promptly's own modules passed through as well.
    restrictions = workflow_runner().restrictions.with_passthrough_modules("promptly")
    return SandboxedWorkflowRunner(restrictions=restrictions)


def channels(settings: Settings) -> dict[Channel, DeliveryChannel]:
    outbox = OutboxChannel()
    email: DeliveryChannel = outbox
    if settings.sendgrid_api_key is not None:
        email = SendGridChannel(
            api_key=settings.sendgrid_api_key.get_secret_value(),
            sender=str(settings.email_from),
            host=settings.sendgrid_host,
        )
    sms: DeliveryChannel = outbox
    if settings.twilio_account_sid is not None and settings.twilio_auth_token is not None:
        sms = TwilioSmsChannel(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            sender=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            base_url=settings.twilio_base_url,
            status_callback=f"{settings.public_base_url.rstrip('/')}/inbound/sms/status",
        )
    chosen = {Channel.EMAIL: email, Channel.SMS: sms, Channel.PHONE: StaffCallChannel()}
    check_sent_once(chosen)  # DoubleSendRisk: a provider that could get a message twice
    return chosen


def create_worker(
    client: Client, settings: Settings | None = None, *, pool: AsyncConnectionPool | None = None
) -> Worker:
    """A worker on the settings' task queue with every workflow and activity.

    `pool` must be open while the worker runs; without one, a pool is made from the
    settings and opened on first use.
    """
    settings = settings or Settings()
    secret = settings.master_secret()  # MissingSecret: a worker signs links, none without it
    pool = pool or AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.pool_size(),
        check=AsyncConnectionPool.check_connection,
    )
    messaging = SmsRoutingMessaging(
        pool,
        channels(settings),
        StaffDirectory(
            str(settings.supervisor_email),
            str(settings.front_desk_email),
            settings.office_timezone,
        ),
        LinkSettings(
            base_url=settings.public_base_url.rstrip("/"),
            secret=secret,
            ttl=settings.link_ttl,
            calendar_domain=settings.calendar_domain,
        ),
    )
    webhook_urls = [str(url) for url in settings.webhook_urls]
    if settings.webhook_secret is not None and len(webhook_urls) > 1:
        logging.getLogger("promptly").warning(
            "PROMPTLY_WEBHOOK_SECRET signs the events to every webhook URL, so any receiver "
            "can forge events to the others: unset it and give each receiver its own secret "
            "(`promptly webhooks secret URL`, docs/webhooks.md)"
        )
    records = RecordsActivities(pool, webhook_urls)
    webhooks = WebhookActivities(
        pool,
        webhook_urls,
        settings.webhook_signing() if webhook_urls else None,
        settings.webhook_timeout,
    )
    tasks = TaskActivities(pool)
    archive = ArchiveActivities(client, pool, settings.retention, settings.office_timezone)
    reports = ReportActivities(pool, settings.office_timezone)
    rules = PolicyActivities(settings.appointment_policy())
    # Settings refuse a bad matrix as they load; read again here, a file changed since too.
    # A complaint keeps out of the customer's quiet hours as the reminders do (the same
    # PROMPTLY_QUIET_HOURS_*; none in a scaled demo, where clock-of-day rules do not apply).
    complaint_policy = settings.complaint_policy().model_copy(
        update={"quiet_hours": settings.appointment_policy().quiet_hours}
    )
    complaint_rules = ComplaintRulesActivities(
        settings.complaint_matrix(),
        complaint_policy,
        settings.time_scale,
        settings.office_timezone,
    )
    # Staff read an inquiry's times in the office's zone (its alerts, the Temporal UI).
    inquiry_policy = settings.inquiry_policy().model_copy(
        update={"office_timezone": settings.office_timezone}
    )
    inquiry = InquiryActivities(client, settings.task_queue, inquiry_policy, settings.time_scale)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=worker_runner(settings),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=settings.sticky_queue_timeout,
        graceful_shutdown_timeout=settings.graceful_shutdown_timeout,
        activities=[
            messaging.send_message,
            messaging.abandon_message,
            records.record_case,
            records.record_billing,
            records.client_standing,
            records.record_survey_answer,
            tasks.create_task,
            tasks.close_task,
            tasks.add_to_task,
            tasks.close_case_tasks,
            rules.current_appointment_policy,
            complaint_rules.complaint_rules,
            inquiry.inquiry_policy,
            inquiry.open_complaint,
            archive.archive_closed_histories,
            archive.purge_expired,
            reports.qa_report_summary,
            webhooks.deliver_webhooks,
        ],
    )


async def run_worker(settings: Settings | None = None) -> None:
    """Apply migrations (or, not migrating, refuse a schema that lacks some), then run until
    SIGINT/SIGTERM, letting in-flight work finish."""
    settings = settings or Settings()
    settings.master_secret()  # MissingSecret before the database is touched
    if settings.migrate_at_start:
        db.migrate(settings.database_url, settings.migration_database_url)
    else:  # SchemaNotCurrent: activities would fail on every case until someone migrates
        schema.require_current(settings.database_url)
    client = await make_client(settings, metrics=True)
    # SearchAttributesMissing: every case that sets one would stop until `promptly setup`.
    await setup.require_search_attributes(client)
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(open_pool(settings))
        worker = create_worker(client, settings, pool=pool)
        served = observability.runtime(settings, metrics=True)
        if settings.metrics_bind and served is not None:  # the gauges go where it is scraped
            gauges = observability.PendingSendGauges(served.metric_meter)
            counting = asyncio.create_task(gauges.run(pool))
            stack.push_async_callback(_cancelled, counting)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log = logging.getLogger("promptly")
        async with worker:
            log.info("worker polling %s", settings.task_queue)
            if settings.worker_health_file is not None:  # compose's health check reads it
                contact = asyncio.create_task(
                    worker_health.keep_recording_contact(client, settings.worker_health_file)
                )
                stack.callback(contact.cancel)
            await stop.wait()
            # Leaving the block stops polling; running activities get the grace period to
            # finish, then are cancelled and retried by another worker.
            log.info(
                "stopping: in-flight activities have %s to finish",
                settings.graceful_shutdown_timeout,
            )
        log.info("worker stopped")


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    """`promptly worker`: run until SIGINT/SIGTERM, then end without the native-runtime crash."""
    from promptly.process import run_then_exit

    def work() -> None:
        settings = Settings()
        settings.refuse_unsafe_start()
        observability.configure_logging(settings)
        asyncio.run(run_worker(settings))

    run_then_exit(work)


if __name__ == "__main__":
    main()


__all__ = [
    "WORKFLOWS",
    "connect_options",
    "create_worker",
    "data_converter",
    "make_client",
    "open_pool",
    "run_worker",
    "workflow_runner",
]
