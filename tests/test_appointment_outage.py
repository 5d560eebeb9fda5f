"""Messages beside the plan, against SendGrid's fake answering 503 for hours of skipped time.

A channel that is down delays no timer, fails no workflow and leaves nobody uninformed: what
cannot go out becomes a flag and a front-desk task, and the ledger says `abandoned` and why.
A change cancels every send it makes moot: after recovery the fake receives only messages for
the new state (asserted on the fake's log, by each message's idempotency key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
    CancelInput,
    ConfirmInput,
    RescheduleInput,
)
from promptly.domain.common import Actor, ActorKind, TimelineKind
from promptly.services.appointments import book
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import (
    CLIENT,
    PROVIDER,
    appointment,
    close_to,
    end_workflows,
    messages,
    settled,
    stored_attention,
    tasks,
    timeline_rows,
    until,
)
from tests.sendgrid_fake import SendGridFake

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def always_open(settings: Settings) -> Settings:
    """Office open around the clock, no quiet hours: calls happen when the rules say."""
    settings.business_hours_start, settings.business_hours_end = 0, 24
    settings.business_days = [0, 1, 2, 3, 4, 5, 6]
    settings.quiet_hours_start = settings.quiet_hours_end = 0
    return settings


class Booked(NamedTuple):
    handle: WorkflowHandle[AppointmentWorkflow, AppointmentView]
    request: AppointmentRequest
    at: datetime


async def booked_while_email_is_down(
    env: WorkflowEnvironment,
    settings: Settings,
    sendgrid: SendGridFake,
    visit_in: timedelta = 5 * 24 * H,
) -> Booked:
    """Anna books a visit `visit_in` ahead while SendGrid answers 503 to everything."""
    sendgrid.outage(503)
    booked_at = await env.get_current_time()
    request = appointment(booked_at + visit_in, locale="en")
    return Booked(await book(env.client, request, settings, booked_at), request, booked_at)


async def flagged(
    handle: WorkflowHandle[AppointmentWorkflow, AppointmentView], *concerns: str
) -> AppointmentView:
    """The status once it asks someone about every one of `concerns`: a send that ran out of
    budget is recorded as the worker catches up with the skipped time."""

    async def all_raised() -> AppointmentView | None:
        view = await handle.query(AppointmentWorkflow.status)
        return view if set(concerns) <= set(view.needs_attention) else None

    found: AppointmentView = await until(all_raised, " and ".join(concerns))
    return found


@pytest_asyncio.fixture(loop_scope="session")
async def email_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> AsyncIterator[Worker]:
    always_open(settings)
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    async with create_worker(env.client, settings, pool=pool) as running:
        yield running


async def test_a_day_long_email_outage_delays_no_timer_and_fails_nothing(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, booked_at = await booked_while_email_is_down(env, settings, sendgrid, 6 * H)
    start = request.start
    await env.sleep(23 * H)
    # Every budget that ended by now, recorded as the worker catches up with the skipped time:
    # the confirmation's at 22h, the alerts' after theirs.
    view = await flagged(
        handle,
        "confirmation not sent",
        "provider notice not sent",
        "supervisor not reached: client unconfirmed",
        "supervisor not reached: provider has not acknowledged",
    )
    # The plan ran on time while every message was still retrying.
    calls = [e for e in view.timeline if e.data.get("template") == "call_task"]
    planned = [booked_at + 3 * H, booked_at + 5 * H]
    assert len(calls) == len(planned)
    assert all(close_to(e.at, at, MINUTE) for e, at in zip(calls, planned, strict=True))
    unconfirmed = next(e for e in view.timeline if e.data.get("status") == "Unconfirmed")
    assert close_to(unconfirmed.at, start, MINUTE)
    no_show = next(e for e in view.timeline if e.data.get("status") == "NoShow")
    assert close_to(no_show.at, start + timedelta(minutes=15), MINUTE)
    assert view.status is AppointmentStatus.NO_SHOW
    # What could not go out is flagged and handed to the front desk, the workflow goes on.
    for concern in (
        "confirmation not sent",
        "provider notice not sent",
        "supervisor not reached: client unconfirmed",
        "supervisor not reached: provider has not acknowledged",
    ):
        assert concern in view.needs_attention
    open_tasks = {
        (t["kind"], t["data"].get("template")): t
        for t in await tasks(pool, request.workflow_id)
        if t["status"] == "open"
    }
    assert ("send_confirmation_manually", "confirmation") in open_tasks
    assert ("deliver_message_manually", "supervisor_alert") in open_tasks
    assert ("deliver_message_manually", "provider_booking") in open_tasks
    confirmation_task = open_tasks[("send_confirmation_manually", "confirmation")]
    # Due by the visit: the confirmation's 24h deadline falls after it.
    assert close_to(confirmation_task["due_at"], start)
    # The desk phoned the provider: the task is done by hand, and says how.
    passed = open_tasks[("deliver_message_manually", "provider_booking")]
    desk = Actor(kind=ActorKind.STAFF, id="ola")
    done, _ = await complete_task(
        env.client,
        pool,
        settings,
        passed["id"],
        TaskCompletion(outcome="passed_on", note="phoned Jan at 9:10", actor=desk),
        desk,
    )
    assert (done.status, done.outcome, done.closed_by) == ("done", "passed_on", "staff:ola")
    # The case hears it: that flag goes (the others still ask for someone), in the workflow
    # and in the row the API reads, and the timeline says who passed it on and how.
    view = await handle.query(AppointmentWorkflow.status)
    assert "provider notice not sent" not in view.needs_attention
    assert "confirmation not sent" in view.needs_attention
    assert "provider notice not sent" not in await stored_attention(pool, request.workflow_id)
    # So does the confirmation read out by phone.
    sent = TaskCompletion(outcome="sent", actor=desk)
    await complete_task(env.client, pool, settings, confirmation_task["id"], sent, desk)
    view = await handle.query(AppointmentWorkflow.status)
    assert sorted(view.needs_attention) == sorted(await stored_attention(pool, request.workflow_id))
    assert not {"confirmation not sent", "provider notice not sent"} & set(view.needs_attention)
    assert "supervisor not reached: client unconfirmed" in view.needs_attention
    [passed_on] = [e for e in view.timeline if e.data.get("task_id") == passed["id"]][1:]
    assert passed_on.actor == desk and passed_on.detail.endswith(": phoned Jan at 9:10")
    description = await handle.describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    assert sendgrid.accepted == []

    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    assert ledger["confirmation"]["status"] == "abandoned"
    assert "503" in ledger["confirmation"]["last_error"]
    assert ledger["no_show_notice"]["status"] == "pending"  # still within its 24h budget

    sendgrid.recover()
    final = await handle.result()

    assert final.status is AppointmentStatus.NO_SHOW
    [notice] = sendgrid.accepted
    assert "/no_show/" in notice.idempotency_key and notice.recipients == ["anna@example.com"]
    # A stable Message-ID: a repeat of this message is the same message to a mail client.
    assert str(notice.body["headers"]["Message-ID"]).startswith("<")
    statuses = {m["template"]: m["status"] for m in await messages(pool, request.workflow_id)}
    assert statuses["no_show_notice"] == "sent"
    assert "pending" not in statuses.values()
    # The case ended: nothing of it is left in anyone's inbox, each task says why.
    closed = await tasks(pool, request.workflow_id)
    assert closed and all(t["status"] == "done" and t["outcome"] for t in closed)
    call_tasks = [t for t in closed if t["kind"] == "call_client"]
    # Both calls went unanswered: the second closed when the client was found unconfirmed.
    assert [t["outcome"] for t in call_tasks] == ["no_outcome", "no_outcome"]


async def test_a_confirmation_the_desk_gets_on_the_phone_clears_its_flag(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, _ = await booked_while_email_is_down(env, settings, sendgrid)
    await env.sleep(23 * H)
    await flagged(handle, "confirmation not sent")
    [task] = [
        t
        for t in await tasks(pool, request.workflow_id)
        if t["kind"] == "send_confirmation_manually" and t["status"] == "open"
    ]
    desk = Actor(kind=ActorKind.STAFF, id="ola")
    confirmed = TaskCompletion(outcome="confirmed", note="Anna confirmed on the phone")
    done, view = await complete_task(env.client, pool, settings, task["id"], confirmed, desk)

    assert done.status == "done" and view.status is AppointmentStatus.CONFIRMED
    view = await handle.query(AppointmentWorkflow.status)
    assert "confirmation not sent" not in view.needs_attention
    assert "confirmation not sent" not in await stored_attention(pool, request.workflow_id)
    sendgrid.recover()
    await end_workflows(env, handle.id)


async def test_a_change_that_makes_a_pass_it_on_task_moot_clears_its_flag(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """The client confirms after the confirmation gave up, then moves the visit: each change
    closes the tasks it made moot, and the flags only they answered go with them."""
    handle, request, _ = await booked_while_email_is_down(env, settings, sendgrid)
    await env.sleep(25 * H)  # both budgets (22h, 24h) spent
    await flagged(handle, "confirmation not sent", "provider notice not sent")

    async def open_task(template: str) -> dict[str, Any]:
        [task] = [
            t
            for t in await tasks(pool, request.workflow_id)
            if t["status"] == "open" and t["data"].get("template") == template
        ]
        return task

    confirmation_task = await open_task("confirmation")
    notice_task = await open_task("provider_booking")

    # The client confirms on their own (by the SMS link, say): nothing is left to confirm.
    view = await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    assert view.status is AppointmentStatus.CONFIRMED
    assert "confirmation not sent" not in view.needs_attention
    assert "provider notice not sent" in view.needs_attention  # the provider still does not know
    stored = await stored_attention(pool, request.workflow_id)
    assert "confirmation not sent" not in stored and "provider notice not sent" in stored
    by_id = {t["id"]: t for t in await tasks(pool, request.workflow_id)}
    assert (by_id[confirmation_task["id"]]["status"], by_id[notice_task["id"]]["status"]) == (
        "done",
        "open",
    )

    # Moved: the notice of the old time is moot, so is its task and its flag.
    new_start = request.start + 2 * 24 * H
    view = await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    assert "provider notice not sent" not in view.needs_attention
    assert "provider notice not sent" not in await stored_attention(pool, request.workflow_id)
    by_id = {t["id"]: t for t in await tasks(pool, request.workflow_id)}
    assert (by_id[notice_task["id"]]["status"], by_id[notice_task["id"]]["outcome"]) == (
        "done",
        "rescheduled",
    )
    # What did not go out is still on record, in the ledger and the timeline.
    ledger = {m["idempotency_key"]: m for m in await messages(pool, request.workflow_id)}
    assert ledger[f"{request.workflow_id}/confirmation/r0"]["status"] == "abandoned"
    failed = {e.data["template"] for e in view.timeline if e.kind is TimelineKind.MESSAGE_FAILED}
    assert {"confirmation", "provider_booking"} <= failed
    # The provider hears of the new time once the channel is back.
    sendgrid.recover()
    await env.sleep(H)
    sent = {r.idempotency_key for r in sendgrid.accepted}
    assert f"{request.workflow_id}/provider_booking/r1" in sent
    await end_workflows(env, handle.id)


async def test_an_acknowledgement_cancels_the_provider_notice_still_retrying(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, _ = await booked_while_email_is_down(env, settings, sendgrid)
    await env.sleep(H)
    assert "jan@example.com" in {a for r in sendgrid.requests for a in r.recipients}

    # The provider heard of it at the desk and acknowledged there.
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    sendgrid.recover()
    await env.sleep(2 * H)

    # The client's confirmation goes out once email is back; the provider's notice never does.
    assert [r.recipients for r in sendgrid.accepted] == [["anna@example.com"]]
    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    notice = ledger["provider_booking"]
    assert notice["status"] == "abandoned" and "cancelled" in notice["last_error"]
    view = await handle.query(AppointmentWorkflow.status)
    assert view.needs_attention == [] and await tasks(pool, request.workflow_id) == []
    await end_workflows(env, handle.id)


async def test_reschedule_while_the_confirmation_is_retrying_sends_only_the_new_time(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, _ = await booked_while_email_is_down(env, settings, sendgrid)
    await env.sleep(H)
    assert sendgrid.requests and sendgrid.accepted == []  # both emails retrying

    new_start = request.start + 2 * 24 * H
    await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    sendgrid.recover()
    await env.sleep(2 * H)

    sent = sorted(r.idempotency_key for r in sendgrid.accepted)
    assert sent == [
        f"{request.workflow_id}/confirmation/r1",
        f"{request.workflow_id}/provider_booking/r1",
    ]
    ledger = {m["idempotency_key"]: m for m in await messages(pool, request.workflow_id)}
    for old in ("confirmation", "provider_booking"):
        row = ledger[f"{request.workflow_id}/{old}/r0"]
        assert row["status"] == "abandoned" and "cancelled" in row["last_error"]
    view = await handle.query(AppointmentWorkflow.status)
    assert view.confirmation_sent and view.needs_attention == []
    cancelled = [e for e in view.timeline if e.data.get("outcome") == "cancelled"]
    assert {e.data["template"] for e in cancelled} == {"confirmation", "provider_booking"}
    await end_workflows(env, handle.id)


async def test_cancel_while_the_confirmation_is_retrying_sends_only_the_cancellation(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    handle, request, _ = await booked_while_email_is_down(env, settings, sendgrid)
    await env.sleep(H)

    view = await handle.execute_update(
        AppointmentWorkflow.cancel, CancelInput(reason="moving away", actor=CLIENT)
    )
    assert view.status is AppointmentStatus.CANCELLED
    sendgrid.recover()
    await env.sleep(2 * H)

    # The client hears of the cancellation only (not of the booking it undid); the provider,
    # who never heard of the booking either, is told the time is free again.
    sent = {r.idempotency_key: r.recipients for r in sendgrid.accepted}
    assert sent == {
        f"{request.workflow_id}/cancellation/r0": ["anna@example.com"],
        f"{request.workflow_id}/provider_cancellation/r0": [request.provider.email],
    }
    statuses = {m["template"]: m["status"] for m in await messages(pool, request.workflow_id)}
    assert statuses == {
        "confirmation": "abandoned",
        "provider_booking": "abandoned",
        "cancellation": "sent",
        "provider_cancellation": "sent",
    }
    view = await handle.query(AppointmentWorkflow.status)
    assert [e.kind for e in view.timeline if e.data.get("template") == "cancellation"] == [
        TimelineKind.MESSAGE
    ]
    await end_workflows(env, handle.id)


async def stored_view(pool: AsyncConnectionPool, case_id: str) -> dict[str, Any]:
    """The case as `GET /appointments/{id}` reads it (docs/status-reads.md)."""
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT view FROM cases WHERE case_id = %s", (case_id,))
        row = await cursor.fetchone()
    assert row is not None
    return dict(row[0])


async def test_a_retrying_reminder_is_stored_as_not_sent_until_it_has_gone(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    """The reminder step is stored with its message's outcome, in one record: while the
    channel refuses, the stored case says the reminder has not gone and the ledger says it
    is pending; once SendGrid accepts it, the stored case has it sent, with its entry."""
    booked_at = await env.get_current_time()
    request = appointment(booked_at + 3 * 24 * H, locale="en")
    handle = await book(env.client, request, settings, booked_at)
    # The booking's two emails out first: the updates below would cancel them in flight.
    await settled(env.client, handle.id)
    # Confirmed and acknowledged: nothing else is due between the reminder and the visit.
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    # What the confirmation set going (closing the calls it made moot) ends first: an update
    # that cancels an activity in flight can hang the time-skipping server (docs/testing.md).
    await settled(env.client, handle.id)
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    reminder_at = (await handle.query(AppointmentWorkflow.status)).reminder_at
    assert reminder_at is not None
    await env.sleep(reminder_at - booked_at - MINUTE)
    sendgrid.outage(503)
    await env.sleep(2 * H)

    retrying = await stored_view(pool, request.workflow_id)
    assert retrying["reminder_sent"] is False
    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    assert ledger["reminder"]["status"] == "pending" and "503" in ledger["reminder"]["last_error"]
    assert not [r for r in sendgrid.accepted if "/reminder/" in r.idempotency_key]

    sendgrid.recover()
    await env.sleep(H)
    [reminder] = [r for r in sendgrid.accepted if "/reminder/" in r.idempotency_key]
    assert reminder.recipients == ["anna@example.com"]
    assert (await stored_view(pool, request.workflow_id))["reminder_sent"] is True
    rows = await timeline_rows(pool, request.workflow_id)
    entries = [row for row in rows if row["data"].get("template") == "reminder"]
    assert [row["kind"] for row in entries] == [TimelineKind.MESSAGE.value]
    await end_workflows(env, handle.id)
