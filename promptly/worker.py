"""Builds the Temporal client and the worker with every workflow and activity registered."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from promptly import db
from promptly.activities.complaints import ComplaintRulesActivities
from promptly.activities.messaging import (
    DeliveryChannel,
    LinkSettings,
    MessagingActivities,
    OutboxChannel,
    SendGridChannel,
    StaffCallChannel,
    StaffDirectory,
)
from promptly.activities.records import PolicyActivities, RecordsActivities
from promptly.activities.tasks import TaskActivities
from promptly.config import Settings
from promptly.domain.models import Channel
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.survey import SurveyWorkflow

WORKFLOWS = [AppointmentWorkflow, SurveyWorkflow, ComplaintWorkflow]


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter every Promptly client must use (pydantic models on the wire)."""
    return pydantic_data_converter


async def make_client(settings: Settings | None = None) -> Client:
    """Connects via Temporal env config (TEMPORAL_* variables, TOML profiles), else settings."""
    settings = settings or Settings()
    connect = ClientConfig.load_client_connect_config()
    connect.setdefault("target_host", settings.temporal_address)
    connect.setdefault("namespace", settings.temporal_namespace)
    return await Client.connect(**connect, data_converter=data_converter(settings))


def open_pool(settings: Settings) -> AsyncConnectionPool:
    return AsyncConnectionPool(settings.database_url, min_size=1, max_size=10, open=False)


def channels(settings: Settings) -> dict[Channel, DeliveryChannel]:
    outbox = OutboxChannel()
    email: DeliveryChannel = outbox
    if settings.sendgrid_api_key is not None:
        email = SendGridChannel(
            api_key=settings.sendgrid_api_key.get_secret_value(),
            sender=str(settings.email_from),
            host=settings.sendgrid_host,
        )
    return {Channel.EMAIL: email, Channel.SMS: outbox, Channel.PHONE: StaffCallChannel()}


def create_worker(
    client: Client, settings: Settings | None = None, *, pool: AsyncConnectionPool | None = None
) -> Worker:
    """A worker on the settings' task queue with every workflow and activity.

    `pool` must be open while the worker runs; without one, a pool is made from the
    settings and opened on first use.
    """
    settings = settings or Settings()
    pool = pool or AsyncConnectionPool(settings.database_url, min_size=1, max_size=10)
    messaging = MessagingActivities(
        pool,
        channels(settings),
        StaffDirectory(str(settings.supervisor_email), str(settings.front_desk_email)),
        LinkSettings(
            base_url=settings.public_base_url.rstrip("/"),
            secret=settings.link_secret.get_secret_value(),
            ttl=settings.link_ttl,
        ),
    )
    records = RecordsActivities(pool)
    tasks = TaskActivities(pool)
    rules = PolicyActivities(settings.appointment_policy())
    # A bad escalation matrix stops the worker here, with file:line: path: reason.
    complaint_rules = ComplaintRulesActivities(
        settings.complaint_matrix(), settings.complaint_policy(), settings.time_scale
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        # Validation libraries behind pydantic's EmailStr are pure and costly to re-import.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "email_validator", "idna", "dns"
            )
        ),
        activities=[
            messaging.send_message,
            records.record_case,
            records.record_billing,
            records.record_survey_answer,
            tasks.create_task,
            tasks.close_task,
            rules.current_appointment_policy,
            complaint_rules.complaint_rules,
        ],
    )


async def run_worker(settings: Settings | None = None) -> None:
    """Apply migrations, then run until SIGINT/SIGTERM, letting in-flight work finish."""
    settings = settings or Settings()
    db.upgrade(settings.database_url)
    client = await make_client(settings)
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(open_pool(settings))
        worker = create_worker(client, settings, pool=pool)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            logging.getLogger("promptly").info("worker polling %s", settings.task_queue)
            await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker())


if __name__ == "__main__":
    main()
