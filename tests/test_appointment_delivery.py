"""What the client and the front desk see when email delivery fails (SendGrid fake server)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentStatus,
    ExcuseNoShowInput,
    WaiveFeeInput,
)
from promptly.domain.common import Actor, ActorKind
from promptly.domain.readable_time import readable
from promptly.services.appointments import book
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import (
    PROVIDER,
    appointment,
    close_to,
    end_workflows,
    messages,
    settled,
    sleep_until,
    stored_attention,
    tasks,
    until,
)
from tests.sendgrid_fake import RecordedRequest, SendGridFake, error_body


async def test_rejected_address_gives_the_front_desk_a_task_at_once(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5), email="bounce@example.com")
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))

    view = await handle.query(AppointmentWorkflow.status)
    assert view.status is AppointmentStatus.BOOKED
    assert not view.confirmation_sent
    assert "confirmation not sent" in view.needs_attention
    failure = next(e for e in view.timeline if e.kind == "message_failed")
    assert "SendGrid answered 400" in failure.detail

    [task] = await tasks(pool, request.workflow_id)
    assert task["kind"] == "send_confirmation_manually"
    assert close_to(task["due_at"], booked_at + timedelta(hours=24))
    # What the front desk reads: whom to confirm, why the email failed, and by when.
    assert task["title"] == "Confirm Anna Nowak by hand"
    assert task["details"].startswith(
        "The email confirmation to Anna Nowak could not be sent "
        "(DeliveryRejected: SendGrid answered 400"
    )
    deadline = readable(view.confirmation_deadline, request.client.timezone)
    assert f"pass it on before {deadline}." in task["details"]  # to the minute, zone named
    # And what to pass on: the visit, on the client's clock, where, and its reference.
    visit = readable(request.start, request.client.timezone)
    assert task["details"].endswith(
        f" The visit: Physiotherapy consultation on {visit} at ul. Prosta 1, Warszawa "
        f"(client Anna Nowak, provider Jan Kowalski). Reference {request.appointment_id}. "
        "Instructions for the client: Bring previous test results."
    ), task["details"]
    [confirmation] = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "confirmation"
    ]
    assert confirmation["status"] == "failed" and confirmation["attempts"] == 1
    # Rejected is permanent: SendGrid was asked once for the client, never again.
    assert sum("bounce@example.com" in r.recipients for r in sendgrid.requests) == 1
    await handle.terminate("test over")


async def test_failing_channel_is_retried_then_handed_to_the_front_desk_before_24h(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    for _ in range(200):
        sendgrid.script(503)
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5))
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(hours=23))

    view = await handle.query(AppointmentWorkflow.status)
    assert "confirmation not sent" in view.needs_attention
    [task] = await tasks(pool, request.workflow_id)
    assert task["kind"] == "send_confirmation_manually"
    handed_over = next(e for e in view.timeline if e.kind == "task")
    # Retries stop with margin: the front desk has the task before the 24h mark.
    assert booked_at + timedelta(hours=20) < handed_over.at < booked_at + timedelta(hours=24)
    [confirmation] = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "confirmation"
    ]
    # Given up, not left `pending`: the ledger says it will not go out, and why.
    assert confirmation["status"] == "abandoned" and confirmation["attempts"] > 10
    assert "503" in confirmation["last_error"]
    # Not one failure but a day of them: how long it was tried, how often, the last answer.
    failed = next(e for e in view.timeline if e.kind == "message_failed")
    attempts = confirmation["attempts"]
    assert failed.detail.startswith(
        f"confirmation to client via email gave up after 22h ({attempts} attempts): "
        "SendGrid answered 503"
    ), failed.detail
    await handle.terminate("test over")


async def test_a_revoked_key_is_retried_and_the_message_goes_once_it_is_fixed(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 401 is Promptly's account, not the client's address: no front-desk task, no flag;
    the confirmation and the provider's notice go, once each, when the key works again."""
    revoked = error_body("The provided authorization grant is invalid, expired, or revoked")
    sendgrid.script(401, revoked)
    sendgrid.script(401, revoked)
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5))
    caplog.set_level(logging.INFO)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))

    view = await handle.query(AppointmentWorkflow.status)
    assert view.confirmation_sent and view.needs_attention == []
    assert not [e for e in view.timeline if e.kind == "message_failed"]
    assert await tasks(pool, request.workflow_id) == []
    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    assert {t: (m["status"], m["attempts"]) for t, m in ledger.items()} == {
        "confirmation": ("sent", 2),
        "provider_booking": ("sent", 2),
    }
    assert [r.recipients for r in sendgrid.accepted] in (
        [["anna@example.com"], ["jan@example.com"]],
        [["jan@example.com"], ["anna@example.com"]],
    )
    # Said where ops look, once per refused attempt, and no SDK warning with a traceback.
    case = [r for r in caplog.records if request.workflow_id in r.getMessage()]
    refused = [r for r in case if "refused Promptly's credentials" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.ERROR, logging.ERROR]
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    await handle.terminate("test over")


async def test_a_throttled_attempt_logs_one_line_and_no_warning(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Throttling is not an error: one INFO line naming the message and SendGrid's answer,
    not the SDK's WARNING `Completing activity as failed` with its traceback."""
    sendgrid.script(429, headers={"Retry-After": "3"})
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5))
    caplog.set_level(logging.INFO)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=1))

    view = await handle.query(AppointmentWorkflow.status)
    assert view.confirmation_sent and view.needs_attention == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [throttled] = [r for r in caplog.records if "SendGrid answered 429" in r.getMessage()]
    assert throttled.levelno == logging.INFO
    assert throttled.getMessage().startswith(f"{request.workflow_id}/")  # the message's key
    await handle.terminate("test over")


async def test_transient_failures_are_retried_and_the_client_gets_one_message(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    sendgrid.script(429, headers={"Retry-After": "3"})
    sendgrid.script(500)
    booked_at = await env.get_current_time()
    # The provider notice would go out beside the confirmation and take a scripted answer.
    request = appointment(booked_at + timedelta(days=5), provider_email=None)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))

    view = await handle.query(AppointmentWorkflow.status)
    # The provider has no email: the desk tells them (its own test, below).
    assert view.confirmation_sent and view.needs_attention == ["provider notice not sent"]
    [confirmation] = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "confirmation"
    ]
    assert confirmation["status"] == "sent" and confirmation["attempts"] == 3
    client_requests = [r for r in sendgrid.requests if "anna@example.com" in r.recipients]
    assert len(client_requests) == 3
    assert confirmation["provider_id"] == client_requests[-1].message_id
    await handle.terminate("test over")


async def _booked_for_a_provider_without_email(
    env: WorkflowEnvironment, settings: Settings
) -> tuple[WorkflowHandle[Any, Any], AppointmentRequest, datetime]:
    """Booked five days ahead with a provider who has no email, ten minutes on (the desk's
    task to tell him is open by then): the case's handle, its request and when it was booked."""
    booked_at = await env.get_current_time()
    request = appointment(booked_at + timedelta(days=5), locale="en", provider_email=None)
    handle = await book(env.client, request, settings, booked_at)
    await env.sleep(timedelta(minutes=10))
    return handle, request, booked_at


async def test_a_provider_without_email_is_told_by_the_front_desk(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, booked_at = await _booked_for_a_provider_without_email(env, settings)

    # The client hears as always; nothing is emailed to an address the provider lacks.
    assert [r.recipients for r in sendgrid.accepted] == [["anna@example.com"]]
    view = await handle.query(AppointmentWorkflow.status)
    assert view.confirmation_sent and view.needs_attention == ["provider notice not sent"]
    # The front desk is asked at once to tell the provider, and told why.
    [task] = [t for t in await tasks(pool, request.workflow_id) if t["status"] == "open"]
    assert (task["kind"], task["title"]) == (
        "deliver_message_manually",
        "Pass on the provider booking to Jan Kowalski",
    )
    assert "provider has no email" in task["details"]
    # What to tell him: the visit, whose it is and how to reach the client.
    visit = readable(request.start, request.client.timezone)  # the office is in Warsaw too
    assert f"The visit: Physiotherapy consultation on {visit} at " in task["details"]
    assert "client Anna Nowak" in task["details"] and "+48600100200" in task["details"]
    assert close_to(task["due_at"], booked_at, timedelta(minutes=2))
    notice = [e for e in view.timeline if e.data.get("template") == "provider_booking"]
    assert [e.kind for e in notice] == ["message_failed", "task"]
    assert "has no email" in notice[0].detail

    # The desk phoned him: the task is done and the flag goes, in the row the API reads too.
    desk = Actor(kind=ActorKind.STAFF, id="ola")
    done = TaskCompletion(outcome="passed_on", note="phoned Jan", actor=desk)
    await complete_task(env.client, pool, settings, task["id"], done, desk)
    view = await handle.query(AppointmentWorkflow.status)
    assert view.needs_attention == []
    assert await stored_attention(pool, request.workflow_id) == []
    await end_workflows(env, handle.id)


async def test_the_providers_acknowledgement_closes_the_task_to_tell_them(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, _ = await _booked_for_a_provider_without_email(env, settings)
    [task] = [t for t in await tasks(pool, request.workflow_id) if t["status"] == "open"]

    # The provider dropped by the desk and acknowledged there: nobody has to phone him now.
    desk = Actor(kind=ActorKind.STAFF, id="ola")
    view = await handle.execute_update(
        AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=desk)
    )
    assert view.provider_acknowledged and view.needs_attention == []
    [closed] = [t for t in await tasks(pool, request.workflow_id) if t["id"] == task["id"]]
    assert (closed["status"], closed["outcome"], closed["closed_by"]) == (
        "done",
        "acknowledged",
        "staff:ola",
    )
    assert await stored_attention(pool, request.workflow_id) == []
    await end_workflows(env, handle.id)


async def test_a_decision_on_the_excuse_stops_the_email_asking_the_provider_for_it(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """SendGrid is down when the client excuses the no-show; the provider waives the fee
    before it is back: the email saying a decision waits never reaches him."""
    booked_at = await env.get_current_time()
    start = booked_at + timedelta(hours=30)
    request = appointment(start, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    await sleep_until(env, start + timedelta(minutes=16))
    assert (await handle.query(AppointmentWorkflow.status)).status is AppointmentStatus.NO_SHOW
    await settled(env.client, handle.id)

    sendgrid.outage(503)
    await handle.execute_update(
        AppointmentWorkflow.excuse_no_show, ExcuseNoShowInput(reason="car accident")
    )

    def asked_for_a_decision() -> list[RecordedRequest]:
        return [r for r in sendgrid.requests if r.template == "provider_decision"]

    await until(_async(asked_for_a_decision), "the provider_decision email tried")
    await handle.execute_update(
        AppointmentWorkflow.waive_fee, WaiveFeeInput(reason="force majeure", actor=PROVIDER)
    )
    sendgrid.recover()
    await env.sleep(timedelta(hours=2))
    await settled(env.client, handle.id)

    assert [r for r in sendgrid.accepted if r.template == "provider_decision"] == []
    # The client still hears of the waiver.
    assert [r.recipients for r in sendgrid.accepted if r.template == "fee_waived"] == [
        ["anna@example.com"]
    ]
    [told] = [
        m for m in await messages(pool, request.workflow_id) if m["template"] == "provider_decision"
    ]
    assert told["status"] != "sent"
    await end_workflows(env, handle.id)


def _async(check: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def asked() -> Any:
        return check()

    return asked
