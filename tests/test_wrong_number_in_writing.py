"""After a call found a phone client's number wrong, nothing of the case is read out to that
number: each message goes by email, or to the desk by hand; a call reaching the client since
lets the calls resume (patch `client-messages-after-wrong-number-in-writing`).

On the time-skipping server, as the other calls of tests/test_api_tasks.py; email goes
through the real SendGrid client to its fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.commands import (
    CallOutcome,
    CancelInput,
    CheckInInput,
    CompleteInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
)
from promptly.domain.appointments.models import AppointmentRequest
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import serving_skipped
from tests.desk_calls import call_ended, listed_tasks, phone_client_called_to_confirm
from tests.helpers import CLIENT, PROVIDER, STAFF, messages, settled, sleep_until, until
from tests.sendgrid_fake import SendGridFake


@pytest_asyncio.fixture(loop_scope="session")
async def desk(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, sendgrid: SendGridFake
) -> AsyncIterator[httpx.AsyncClient]:
    """The API and a worker whose email reaches the SendGrid fake."""
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    async with serving_skipped(env, settings, pool) as http:
        yield http


async def _number_found_wrong(
    env: WorkflowEnvironment, http: httpx.AsyncClient, email: str | None = "anna@example.com"
) -> AppointmentRequest:
    """A phone client (Tuesday 16:00, booked Monday 12:00) whose confirmation call reached a
    wrong number at 12:30; the reminder after it has gone its way (13:00)."""
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http, email)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "wrong_number", "a bakery")
    await sleep_until(env, monday_noon + timedelta(hours=1))
    await settled(env.client, request.workflow_id)
    return request


async def _cancelled(env: WorkflowEnvironment, request: AppointmentRequest) -> None:
    handle = env.client.get_workflow_handle(request.workflow_id)
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT))
    await settled(env.client, request.workflow_id)


def _emailed(sendgrid: SendGridFake, request: AppointmentRequest) -> list[tuple[str, list[str]]]:
    return [
        (r.template, r.recipients)
        for r in sendgrid.requests
        if r.idempotency_key.startswith(f"{request.workflow_id}/")
    ]


async def _read_outs(pool: AsyncConnectionPool, request: AppointmentRequest) -> list[str]:
    """The templates of the case's messages sent as the desk's calls."""
    return [
        m["template"] for m in await messages(pool, request.workflow_id) if m["channel"] == "phone"
    ]


async def test_after_a_wrong_number_a_delay_and_the_cancellation_are_emailed_not_read_out(
    env: WorkflowEnvironment,
    desk: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    request = await _number_found_wrong(env, desk)
    # On the visit's day the provider runs late, then the client cancels.
    await sleep_until(env, request.start - timedelta(hours=6))
    handle = env.client.get_workflow_handle(request.workflow_id)
    await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=20, reason="previous visit ran over", actor=PROVIDER),
    )
    await settled(env.client, request.workflow_id)
    await _cancelled(env, request)

    assert await listed_tasks(desk, request.workflow_id, kind="call_client") == []
    emailed = _emailed(sendgrid, request)
    # (each keyed by its purpose: the delay notice by its minutes)
    for purpose in ("reminder", "delay-20", "cancellation"):
        assert (purpose, ["anna@example.com"]) in emailed, emailed
    # The only call the desk was asked to make is the confirmation's, before the wrong number.
    assert await _read_outs(pool, request) == ["phone_confirmation"]


async def test_after_a_wrong_number_without_an_email_the_desk_passes_the_cancellation_on(
    env: WorkflowEnvironment, desk: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    request = await _number_found_wrong(env, desk, email=None)
    await _cancelled(env, request)

    assert await listed_tasks(desk, request.workflow_id, kind="call_client") == []

    async def passed_on_by_hand() -> list[dict[str, Any]]:
        return await listed_tasks(desk, request.workflow_id, kind="deliver_message_manually")

    # The task follows the send's refusal (no email, no number) beside the plan.
    [by_hand] = await until(passed_on_by_hand, "the cancellation's task to pass it on")
    assert by_hand["title"] == f"Pass on the cancellation to {request.client.name}"
    assert f"the number on file, {request.client.phone}, is wrong" in by_hand["details"]
    assert "by phone" not in by_hand["details"], by_hand["details"]
    assert await _read_outs(pool, request) == ["phone_confirmation"]


async def test_once_a_call_reached_the_client_the_cancellation_is_read_out_again(
    env: WorkflowEnvironment,
    desk: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    request = await _number_found_wrong(env, desk)
    # The desk found the right number and reached the client (the flag goes).
    handle = env.client.get_workflow_handle(request.workflow_id)
    reached = await handle.execute_update(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput(
            outcome=CallOutcome.REACHED_CONFIRMED, note="new number", actor=STAFF
        ),
    )
    assert "wrong phone number" not in reached.needs_attention
    await _cancelled(env, request)

    assert [t for t, _ in _emailed(sendgrid, request) if t == "cancellation"] == []
    assert await _read_outs(pool, request) == ["phone_confirmation", "cancellation"]


async def test_after_a_wrong_number_a_moved_visit_is_confirmed_by_email(
    env: WorkflowEnvironment,
    desk: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """A move does not make the number right: the new time is emailed, not read out."""
    request = await _number_found_wrong(env, desk)
    handle = env.client.get_workflow_handle(request.workflow_id)
    moved = await handle.execute_update(
        AppointmentWorkflow.reschedule,
        RescheduleInput(new_start=request.start + timedelta(days=2), actor=STAFF),
    )
    assert "wrong phone number" in moved.needs_attention
    await env.sleep(timedelta(minutes=10))
    await settled(env.client, request.workflow_id)

    assert await listed_tasks(desk, request.workflow_id, kind="call_client") == []
    assert ("confirmation", ["anna@example.com"]) in _emailed(sendgrid, request)
    assert await _read_outs(pool, request) == ["phone_confirmation"]


async def test_after_a_wrong_number_the_survey_is_emailed_not_read_out(
    env: WorkflowEnvironment, desk: httpx.AsyncClient, sendgrid: SendGridFake
) -> None:
    request = await _number_found_wrong(env, desk)
    handle = env.client.get_workflow_handle(request.workflow_id)
    await sleep_until(env, request.start - timedelta(minutes=5))
    await handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=STAFF))
    await sleep_until(env, request.end)
    await handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    # The survey goes 2h after the end (18:50 Warsaw, before the quiet hours).
    await sleep_until(env, request.end + timedelta(hours=2, minutes=10))
    survey = f"survey-{request.workflow_id}"
    await settled(env.client, survey)

    assert await listed_tasks(desk, survey, kind="call_client") == []
    assert [r.recipients for r in sendgrid.requests if r.idempotency_key == f"{survey}/survey"] == [
        ["anna@example.com"]
    ]
