"""Outbound webhooks end to end: the outbox written with the timeline, the dispatcher POSTing
to a local receiver (signed, retried with backoff, in order per case, recorded), and a booked
appointment's status changes arriving through the `promptly-webhooks` schedule.

A database of its own (the dispatcher claims every due row) and, for the schedule, a dev
server of its own, as in test_archive.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
)
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from typer.testing import CliRunner

from promptly.activities.archive import ArchiveActivities
from promptly.activities.records import RecordsActivities
from promptly.activities.webhooks import WebhookActivities
from promptly.api.app import create_app
from promptly.cli.main import app
from promptly.config import ApiRole, Settings
from promptly.domain.appointments.models import ConfirmInput, ReportDelayInput, RescheduleInput
from promptly.domain.common import (
    Actor,
    ActorKind,
    CaseKind,
    CaseSnapshot,
    TimelineEntry,
    TimelineKind,
)
from promptly.domain.inquiries.models import AnswerInquiryInput
from promptly.domain.maintenance import PurgeInput
from promptly.domain.webhooks import WebhookDispatchRequest, WebhookDispatchResult, verify_signature
from promptly.services.appointments import book
from promptly.services.inquiries import record_inquiry
from promptly.services.setup import (
    WEBHOOK_SCHEDULE_ID,
    ensure_schedules,
    schedules,
)
from promptly.services.webhooks import redeliver
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.inquiry import InquiryWorkflow
from tests.api_support import key, with_api_keys
from tests.complaint_helpers import inquiry
from tests.conftest import migrated_database, start_dev_server
from tests.helpers import CLIENT, appointment
from tests.webhook_receiver import Received, WebhookReceiver

SECRET = "whsec-test-0123456789abcdef"
ONE_ROUND = WebhookDispatchRequest(run_for=timedelta(0))
# Rounds back to back while rows are due, so a case's queue drains in one call.
# Long enough for a few rounds of local requests on a busy 2-core machine (1 s was not), far
# short of WEBHOOK_FIRST_RETRY (30 s): nothing retried comes due within one drain.
DRAIN = WebhookDispatchRequest(run_for=timedelta(seconds=3), poll_every=timedelta(seconds=0.05))
STAFF = Actor(kind=ActorKind.STAFF, id="desk-1")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def webhook_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_webhooks") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def webhook_pool(webhook_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(webhook_db, min_size=1, max_size=4) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="session")
async def pool(webhook_pool: AsyncConnectionPool) -> AsyncConnectionPool:
    """The module's database with an empty outbox: the dispatcher claims every due row."""
    async with webhook_pool.connection() as conn:
        await conn.execute("TRUNCATE webhook_deliveries")
    return webhook_pool


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def _case_id() -> str:
    return f"appointment-W{uuid.uuid4().hex[:8]}"


def _snapshot(
    case_id: str,
    statuses: list[tuple[str, str | None]],
    first_seq: int = 0,
    kind: CaseKind = CaseKind.APPOINTMENT,
) -> Any:
    """A snapshot whose entries are a message, then one status entry per (status, previous)."""
    entries = [
        TimelineEntry(
            at=T0,
            kind=TimelineKind.MESSAGE,
            actor=STAFF,
            detail="Confirmation sent to anna@example.com",
            data={"template": "confirmation"},
        )
    ]
    for n, (status, previous) in enumerate(statuses):
        data: dict[str, Any] = {"status": status, "reason": "Anna Nowak, +48600100200"}
        if previous is not None:
            data["previous"] = previous
        entries.append(
            TimelineEntry(
                at=T0 + timedelta(minutes=n),
                kind=TimelineKind.STATUS,
                actor=CLIENT,
                detail=f"{status}: Anna Nowak <anna@example.com>",
                data=data,
            )
        )
    return CaseSnapshot(
        case_id=case_id,
        kind=kind,
        business_id=case_id.removeprefix(f"{kind.value}-"),
        status=statuses[-1][0] if statuses else "Booked",
        client_id="C-17",
        first_seq=first_seq,
        entries=entries,
    )


async def _record(
    pool: AsyncConnectionPool,
    urls: list[str],
    case_id: str,
    statuses: list[tuple[str, str | None]],
    kind: CaseKind = CaseKind.APPOINTMENT,
) -> None:
    await ActivityEnvironment().run(
        RecordsActivities(pool, urls).record_case, _snapshot(case_id, statuses, kind=kind)
    )


def _dispatcher(pool: AsyncConnectionPool, *urls: str, secret: str = SECRET) -> WebhookActivities:
    return WebhookActivities(pool, list(urls), secret, timedelta(seconds=5))


async def _dispatch(
    acts: WebhookActivities, request: WebhookDispatchRequest = ONE_ROUND
) -> WebhookDispatchResult:
    return await ActivityEnvironment().run(acts.deliver_webhooks, request)


async def _deliveries(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM webhook_deliveries WHERE case_id = %s ORDER BY url, seq", (case_id,)
        )
        return await cur.fetchall()


async def _make_due(pool: AsyncConnectionPool, case_id: str) -> None:
    """What waiting out the backoff would do: every pending row of the case is due now."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second'"
            " WHERE case_id = %s AND status = 'pending'",
            (case_id,),
        )


def _seqs(received: list[Received], case_id: str) -> list[int]:
    return [int(r.event["id"].rsplit("/", 1)[1]) for r in received if r.event["case_id"] == case_id]


# --- the outbox ------------------------------------------------------------------------------


async def test_nothing_is_queued_without_webhook_urls(pool: AsyncConnectionPool) -> None:
    case_id = _case_id()
    await _record(pool, [], case_id, [("Booked", None), ("Confirmed", "Booked")])
    assert await _deliveries(pool, case_id) == []


async def test_each_status_change_is_queued_once_per_url_ids_only(
    pool: AsyncConnectionPool,
) -> None:
    case_id = _case_id()
    urls = ["https://crm.example.com/a", "https://erp.example.com/b"]
    statuses: list[tuple[str, str | None]] = [("Booked", None), ("Confirmed", "Booked")]
    await _record(pool, urls, case_id, statuses)
    await _record(pool, urls, case_id, statuses)  # a retried activity adds nothing

    rows = await _deliveries(pool, case_id)
    assert [(r["url"], r["event_id"], r["status"], r["attempts"]) for r in rows] == [
        (url, f"{case_id}/{seq}", "pending", 0) for url in urls for seq in (1, 2)
    ]
    booked, confirmed = rows[0]["payload"], rows[1]["payload"]
    assert booked == {
        "id": f"{case_id}/1",
        "type": "appointment.status_changed",
        "change": "status",
        "case_id": case_id,
        "business_id": case_id.removeprefix("appointment-"),
        "kind": "appointment",
        "status": "Booked",
        "previous": None,
        "at": "2026-11-20T09:00:00Z",
        "actor": {"kind": "client", "id": "C-17"},
        "start": None,
        "previous_start": None,
        "minutes": None,
        "expected_start": None,
        "no_show_at": None,
    }
    assert (confirmed["status"], confirmed["previous"]) == ("Confirmed", "Booked")
    assert rows[0]["event_type"] == "appointment.status_changed"
    for row in rows:
        text = str(row["payload"])
        for pii in ("Anna", "Nowak", "anna@example.com", "+48600100200"):
            assert pii not in text


@pytest.mark.parametrize("kind", list(CaseKind))
async def test_every_case_kind_queues_its_status_changes_under_its_own_type(
    pool: AsyncConnectionPool, kind: CaseKind
) -> None:
    case_id = f"{kind.value}-W{uuid.uuid4().hex[:8]}"
    await _record(pool, ["https://crm.example.com/a"], case_id, [("Open", None)], kind)

    [row] = await _deliveries(pool, case_id)
    assert row["event_type"] == f"{kind.value}.status_changed"
    assert (row["payload"]["kind"], row["payload"]["status"]) == (kind.value, "Open")


# --- delivery --------------------------------------------------------------------------------


async def test_delivery_is_signed_and_recorded(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, url = _case_id(), receiver.url("crm")
    await _record(pool, [url], case_id, [("Booked", None)])

    result = await _dispatch(_dispatcher(pool, url))

    assert result == WebhookDispatchResult(delivered=1, retried=0, failed=0)
    [request] = receiver.received("crm")
    [row] = await _deliveries(pool, case_id)
    assert request.header("Content-Type") == "application/json"
    assert request.header("Promptly-Event-Id") == f"{case_id}/1" == request.event["id"]
    assert request.event == row["payload"]
    signature = request.header("Promptly-Signature") or ""
    now = datetime.now(UTC)
    assert verify_signature(SECRET, signature, request.body, now)
    assert not verify_signature("another-secret-0123456789", signature, request.body, now)
    assert not verify_signature(SECRET, signature, request.body.replace(b"Booked", b"Nooked"), now)
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert row["last_status_code"] == 200 and row["last_error"] is None
    assert row["delivered_at"] is not None

    # Delivered is done: nothing is sent again.
    assert await _dispatch(_dispatcher(pool, url)) == WebhookDispatchResult(
        delivered=0, retried=0, failed=0
    )
    assert len(receiver.received()) == 1


async def test_a_failed_post_is_retried_after_the_backoff(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, url = _case_id(), receiver.url("crm")
    await _record(pool, [url], case_id, [("Booked", None)])
    receiver.script("crm", f"{case_id}/1", 500, 503)
    acts = _dispatcher(pool, url)

    before = datetime.now(UTC)
    assert await _dispatch(acts) == WebhookDispatchResult(delivered=0, retried=1, failed=0)
    after = datetime.now(UTC)
    [row] = await _deliveries(pool, case_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 500)
    assert row["last_error"] == "HTTP 500 Internal Server Error"
    assert before + timedelta(seconds=30) <= row["next_attempt_at"]
    assert row["next_attempt_at"] <= after + timedelta(seconds=30)

    # Not due yet: not sent.
    await _dispatch(acts)
    assert len(receiver.received()) == 1

    await _make_due(pool, case_id)
    before = datetime.now(UTC)
    assert await _dispatch(acts) == WebhookDispatchResult(delivered=0, retried=1, failed=0)
    [row] = await _deliveries(pool, case_id)
    assert (row["attempts"], row["last_status_code"]) == (2, 503)
    assert row["next_attempt_at"] >= before + timedelta(minutes=1)  # the second wait doubles

    await _make_due(pool, case_id)
    assert await _dispatch(acts) == WebhookDispatchResult(delivered=1, retried=0, failed=0)
    [row] = await _deliveries(pool, case_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 3, 200)
    assert row["last_error"] is None
    assert [r.answered for r in receiver.received()] == [500, 503, 200]
    # Every attempt is signed when sent; the event id stays, so the receiver can dedupe.
    for request in receiver.received():
        signature = request.header("Promptly-Signature") or ""
        assert verify_signature(SECRET, signature, request.body, datetime.now(UTC))
    assert {r.header("Promptly-Event-Id") for r in receiver.received()} == {f"{case_id}/1"}


async def test_an_unreachable_receiver_counts_an_attempt_without_a_status_code(
    pool: AsyncConnectionPool,
) -> None:
    with WebhookReceiver() as gone:
        url = gone.url("crm")
    case_id = _case_id()
    await _record(pool, [url], case_id, [("Booked", None)])

    assert await _dispatch(_dispatcher(pool, url)) == WebhookDispatchResult(
        delivered=0, retried=1, failed=0
    )
    [row] = await _deliveries(pool, case_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, None)
    assert row["last_error"].startswith("ConnectError")


async def test_later_events_of_a_case_wait_for_the_earlier_one_at_that_url_only(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, other_case = _case_id(), _case_id()
    failing, healthy = receiver.url("failing"), receiver.url("healthy")
    statuses: list[tuple[str, str | None]] = [
        ("Booked", None),
        ("Confirmed", "Booked"),
        ("Cancelled", "Confirmed"),
    ]
    await _record(pool, [failing, healthy], case_id, statuses)
    await _record(pool, [failing], other_case, [("Booked", None)])
    receiver.script("failing", f"{case_id}/1", 500)
    acts = _dispatcher(pool, failing, healthy)

    result = await _dispatch(acts, DRAIN)

    # The failing URL got only the case's first event; the other case and URL were not held.
    assert _seqs(receiver.received("failing"), case_id) == [1]
    assert _seqs(receiver.received("failing"), other_case) == [1]
    assert _seqs(receiver.received("healthy"), case_id) == [1, 2, 3]
    assert result == WebhookDispatchResult(delivered=4, retried=1, failed=0)

    await _make_due(pool, case_id)
    assert await _dispatch(acts, DRAIN) == WebhookDispatchResult(delivered=3, retried=0, failed=0)
    assert _seqs(receiver.received("failing"), case_id) == [1, 1, 2, 3]
    events = [r.event for r in receiver.received("failing") if r.event["case_id"] == case_id]
    assert [(e["previous"], e["status"]) for e in events[1:]] == [
        (None, "Booked"),
        ("Booked", "Confirmed"),
        ("Confirmed", "Cancelled"),
    ]
    assert {r["status"] for r in await _deliveries(pool, case_id)} == {"delivered"}


async def test_gone_gives_up_at_once_and_the_next_event_goes_out(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, url = _case_id(), receiver.url("crm")
    await _record(pool, [url], case_id, [("Booked", None), ("Confirmed", "Booked")])
    receiver.script("crm", f"{case_id}/1", 410)

    result = await _dispatch(_dispatcher(pool, url), DRAIN)

    assert result == WebhookDispatchResult(delivered=1, retried=0, failed=1)
    first, second = await _deliveries(pool, case_id)
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("failed", 1, 410)
    assert first["last_error"] == "HTTP 410 Gone"
    assert second["status"] == "delivered"
    assert _seqs(receiver.received(), case_id) == [1, 2]


async def test_a_redelivered_failure_is_sent_again_with_a_fresh_day_of_retries(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, url = _case_id(), receiver.url("crm")
    await _record(pool, [url], case_id, [("Booked", None), ("Confirmed", "Booked")])
    receiver.script("crm", f"{case_id}/1", 410)
    await _dispatch(_dispatcher(pool, url), DRAIN)
    async with pool.connection() as conn:  # the event happened two days ago
        await conn.execute(
            "UPDATE webhook_deliveries SET created_at = now() - interval '2 days'"
            " WHERE case_id = %s",
            (case_id,),
        )
        failed = (await _deliveries(pool, case_id))[0]
        assert failed["status"] == "failed"
        assert await redeliver(conn, case_id=case_id) == [failed["id"]]
        assert await redeliver(conn, ids=[failed["id"]]) == []  # pending now: left alone
        with pytest.raises(ValueError, match="ids or a case"):
            await redeliver(conn)

    receiver.script("crm", f"{case_id}/1", 503)  # still down once: retried, not given up
    assert await _dispatch(_dispatcher(pool, url), ONE_ROUND) == WebhookDispatchResult(
        delivered=0, retried=1, failed=0
    )
    requeued = (await _deliveries(pool, case_id))[0]
    assert (requeued["status"], requeued["attempts"]) == ("pending", 1)
    assert requeued["requeued_at"] is not None
    await _make_due(pool, case_id)
    await _dispatch(_dispatcher(pool, url), DRAIN)
    assert (await _deliveries(pool, case_id))[0]["status"] == "delivered"
    assert _seqs(receiver.received(), case_id) == [1, 2, 1, 1]  # 410, 200, 503, 200


async def test_a_row_another_dispatcher_holds_is_skipped_and_so_is_its_queue(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, url = _case_id(), receiver.url("crm")
    await _record(pool, [url], case_id, [("Booked", None), ("Confirmed", "Booked")])
    acts = _dispatcher(pool, url)

    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM webhook_deliveries WHERE event_id = %s FOR UPDATE",
            (f"{case_id}/1",),
        )
        assert await _dispatch(acts) == WebhookDispatchResult(delivered=0, retried=0, failed=0)
        assert receiver.received() == []

    assert await _dispatch(acts, DRAIN) == WebhookDispatchResult(delivered=2, retried=0, failed=0)
    assert _seqs(receiver.received(), case_id) == [1, 2]


async def test_rows_for_a_url_taken_out_of_the_settings_fail_after_a_day(
    pool: AsyncConnectionPool, receiver: WebhookReceiver
) -> None:
    case_id, kept, removed = _case_id(), receiver.url("kept"), receiver.url("removed")
    await _record(pool, [kept, removed], case_id, [("Booked", None)])
    acts = _dispatcher(pool, kept)

    # Another worker may still have the URL configured (a rolling deploy): left alone at first.
    assert await _dispatch(acts) == WebhookDispatchResult(delivered=1, retried=0, failed=0)
    assert [r["status"] for r in await _deliveries(pool, case_id)] == ["delivered", "pending"]

    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE webhook_deliveries SET created_at = now() - interval '25 hours'"
            " WHERE case_id = %s",
            (case_id,),
        )
    assert await _dispatch(acts) == WebhookDispatchResult(delivered=0, retried=0, failed=1)
    kept_row, removed_row = await _deliveries(pool, case_id)
    assert kept_row["status"] == "delivered"
    assert removed_row["status"] == "failed" and "no longer configured" in removed_row["last_error"]
    assert receiver.received("removed") == []


async def test_the_purge_deletes_the_deliveries_of_purged_cases(
    pool: AsyncConnectionPool,
) -> None:
    case_id = _case_id()
    await _record(pool, ["https://crm.example.com/a"], case_id, [("Completed", None)])
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE cases SET status = 'Completed', updated_at = %s WHERE case_id = %s",
            (T0 - timedelta(days=400), case_id),
        )
    acts = ArchiveActivities(None, pool, timedelta(days=395))  # type: ignore[arg-type]

    result = await ActivityEnvironment().run(acts.purge_expired, PurgeInput(now=T0))

    assert result.webhook_deliveries == 1
    assert await _deliveries(pool, case_id) == []


# --- the schedule and a real appointment -----------------------------------------------------


def test_the_webhook_schedule_exists_only_with_webhook_urls(database_url: str) -> None:
    assert WEBHOOK_SCHEDULE_ID not in schedules(Settings(database_url=database_url))
    configured = Settings(webhook_urls=["https://crm.example.com/a"], webhook_secret=SECRET)
    schedule = schedules(configured)[WEBHOOK_SCHEDULE_ID]
    assert isinstance(schedule.action, ScheduleActionStartWorkflow)
    assert schedule.action.workflow == "WebhookDispatchWorkflow"
    assert schedule.spec.intervals[0].every == timedelta(minutes=1)
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server() as environment:
        yield environment


async def _until(received: WebhookReceiver, case_id: str, count: int) -> list[Received]:
    for _ in range(200):
        found = [r for r in received.received() if r.event["case_id"] == case_id]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} webhooks for {case_id} never arrived: {received.received()}")


@pytest_asyncio.fixture(loop_scope="session")
async def dispatching(
    dev: WorkflowEnvironment, pool: AsyncConnectionPool, webhook_db: str, receiver: WebhookReceiver
) -> AsyncIterator[Settings]:
    """A worker and the `promptly-webhooks` schedule POSTing to `receiver`'s `crm` URL; yields
    the worker's settings."""
    client = dev.client
    settings = Settings(
        database_url=webhook_db,
        task_queue=f"promptly-webhooks-{uuid.uuid4().hex[:8]}",
        webhook_urls=[receiver.url("crm")],
        webhook_secret=SECRET,
    )
    async with create_worker(client, settings, pool=pool):
        assert WEBHOOK_SCHEDULE_ID in await ensure_schedules(client, settings)
        dispatcher = client.get_schedule_handle(WEBHOOK_SCHEDULE_ID)
        try:
            # The schedule's first run would start at the next whole minute: start it now.
            await dispatcher.trigger()
            yield settings
        finally:
            described = await dispatcher.describe()
            for schedule_id in schedules(settings):
                await client.get_schedule_handle(schedule_id).delete()
            for action in described.info.running_actions:
                if isinstance(action, ScheduleActionExecutionStartWorkflow):
                    await client.get_workflow_handle(action.workflow_id).terminate("test over")


async def _settled_deliveries(pool: AsyncConnectionPool, case_id: str) -> list[dict[str, Any]]:
    """The case's deliveries once the dispatcher has recorded what the receiver answered."""
    for _ in range(50):
        rows = await _deliveries(pool, case_id)
        if all(r["status"] != "pending" for r in rows):
            break
        await asyncio.sleep(0.1)
    return rows


async def test_a_booked_then_confirmed_appointment_reaches_the_back_office_in_order(
    dev: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    dispatching: Settings,
) -> None:
    client, settings = dev.client, dispatching
    now = datetime.now(UTC)
    request = appointment(now + timedelta(days=3))
    handle = await book(client, request, settings, now)
    [booked] = await _until(receiver, handle.id, 1)

    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    confirmed_at = asyncio.get_running_loop().time()
    first, confirmed = await _until(receiver, handle.id, 2)
    latency = confirmed.at - confirmed_at

    assert first == booked
    assert [(r.event["previous"], r.event["status"]) for r in (booked, confirmed)] == [
        (None, "Booked"),
        ("Booked", "Confirmed"),
    ]
    assert confirmed.event["actor"] == {"kind": "client", "id": "C-17"}
    assert confirmed.event["business_id"] == request.appointment_id
    assert latency < 5, f"delivered {latency:.1f}s after the confirmation"
    for received in (booked, confirmed):
        signature = received.header("Promptly-Signature") or ""
        assert verify_signature(SECRET, signature, received.body, datetime.now(UTC))
        text = received.body.decode()
        for private in (
            request.client.name,
            str(request.client.email),
            str(request.client.phone),
            request.provider.name,
            request.service,
            request.location,
        ):
            assert private not in text
    rows = await _settled_deliveries(pool, handle.id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 2
    await handle.terminate("test over")


async def test_a_reschedule_and_a_delay_reach_the_back_office_as_what_they_are(
    dev: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    dispatching: Settings,
) -> None:
    client, settings = dev.client, dispatching
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    old_start, new_start = now + timedelta(days=3), now + timedelta(minutes=40)
    handle = await book(client, appointment(old_start), settings, now)
    await handle.execute_update(
        AppointmentWorkflow.reschedule, RescheduleInput(new_start=new_start, actor=CLIENT)
    )
    await handle.execute_update(
        AppointmentWorkflow.report_delay,
        ReportDelayInput(minutes=15, reason="Anna Nowak's previous visit overran"),
    )
    booked, moved, delayed = (r.event for r in await _until(receiver, handle.id, 3))

    assert booked["start"] == _json_time(old_start)
    assert {key: moved[key] for key in ("type", "change", "status", "start", "previous_start")} == {
        "type": "appointment.status_changed",
        "change": "rescheduled",
        "status": "Booked",
        "start": _json_time(new_start),
        "previous_start": _json_time(old_start),
    }
    assert {
        key: delayed[key]
        for key in ("type", "change", "status", "start", "minutes", "expected_start", "no_show_at")
    } == {
        "type": "appointment.delayed",
        "change": "provider_delay",
        "status": "Booked",
        "start": _json_time(new_start),
        "minutes": 15,
        "expected_start": _json_time(new_start + timedelta(minutes=15)),
        "no_show_at": _json_time(new_start + timedelta(minutes=15 + 15)),
    }
    assert delayed["actor"]["kind"] == "provider" and "Anna" not in json.dumps(delayed)
    await handle.terminate("test over")


def _json_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_an_answered_inquiry_reaches_the_back_office_and_its_records_are_saved(
    dev: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    dispatching: Settings,
) -> None:
    client, settings = dev.client, dispatching
    request = inquiry()
    handle = await record_inquiry(client, request, settings)
    await _until(receiver, handle.id, 1)
    await handle.execute_update(
        InquiryWorkflow.answer, AnswerInquiryInput(text="Yes, 9 to 13.", actor=STAFF)
    )
    opened, answered = await _until(receiver, handle.id, 2)

    assert [r.event["type"] for r in (opened, answered)] == ["inquiry.status_changed"] * 2
    assert [(r.event["previous"], r.event["status"]) for r in (opened, answered)] == [
        (None, "Open"),
        ("Open", "Answered"),
    ]
    assert answered.event["business_id"] == request.inquiry_id
    assert request.subject not in answered.body.decode()
    rows = await _settled_deliveries(pool, handle.id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 2
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT status FROM cases WHERE case_id = %s", (handle.id,))
        assert await cursor.fetchone() == ("Answered",)


# --- what admins see -------------------------------------------------------------------------


async def test_admins_list_deliveries_by_status_in_the_cli_and_the_api(
    dev: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    webhook_db: str,
    receiver: WebhookReceiver,
) -> None:
    case_id, url = _case_id(), receiver.url("crm")
    await _record(pool, [url], case_id, [("Booked", None), ("Confirmed", "Booked")])
    receiver.script("crm", f"{case_id}/1", 410)
    await _dispatch(_dispatcher(pool, url), DRAIN)

    env = {
        "PROMPTLY_DATABASE_URL": webhook_db,
        "PROMPTLY_WEBHOOK_URLS": json.dumps([url]),
        "PROMPTLY_WEBHOOK_SECRET": SECRET,
    }
    listed = await asyncio.to_thread(
        lambda: CliRunner().invoke(app, ["webhooks", "list", "--status", "failed"], env=env)
    )
    assert listed.exit_code == 0, listed.output
    [line] = listed.stdout.splitlines()
    assert f"{case_id}/1" in line and "failed" in line and "410" in line
    assert "HTTP 410 Gone" in line
    everything = await asyncio.to_thread(
        lambda: CliRunner().invoke(app, ["webhooks", "list", "--case", case_id], env=env)
    )
    assert [line.split()[2] for line in everything.stdout.splitlines()] == [
        "delivered",
        "failed",
    ]

    api = create_app(with_api_keys(Settings(database_url=webhook_db)), client=dev.client, pool=pool)
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url="http://promptly.test"
        ) as http,
    ):
        path = "/webhooks/deliveries"
        answer = await http.get(path, params={"status": "failed"}, headers=key(ApiRole.ADMIN))
        assert answer.status_code == 200, answer.text
        [item] = [i for i in answer.json()["items"] if i["case_id"] == case_id]
        assert (item["event_id"], item["status"], item["last_status_code"]) == (
            f"{case_id}/1",
            "failed",
            410,
        )
        assert "payload" not in item
        assert (await http.get(path, headers=key(ApiRole.STAFF))).status_code == 403
        assert (await http.get(path, headers=key(ApiRole.COMPLIANCE))).status_code == 403
        assert (await http.get(path)).status_code == 401
        bad = await http.get(path, params={"status": "lost"}, headers=key(ApiRole.ADMIN))
        assert bad.status_code == 422

        again = f"{path}/redeliver"
        empty = await http.post(again, json={}, headers=key(ApiRole.ADMIN))
        assert (
            empty.status_code == 422
            and "ids, case_id, since, status or url" in empty.json()["reason"]
        )
        requeued = await http.post(again, json={"ids": [item["id"]]}, headers=key(ApiRole.ADMIN))
        assert requeued.status_code == 200 and requeued.json() == {"requeued": [item["id"]]}
        assert (await http.post(again, json={"ids": [item["id"]]})).status_code == 401
        staff = await http.post(again, json={"ids": [item["id"]]}, headers=key(ApiRole.STAFF))
        assert staff.status_code == 403

    receiver.script("crm", f"{case_id}/1", 410)  # gone again: failed again
    await _dispatch(_dispatcher(pool, url), DRAIN)
    cli_redelivery = await asyncio.to_thread(
        lambda: CliRunner().invoke(app, ["webhooks", "redeliver", "--case", case_id], env=env)
    )
    assert cli_redelivery.exit_code == 0, cli_redelivery.output
    assert cli_redelivery.stdout.strip() == f"requeued 1: {item['id']}"
    nothing = await asyncio.to_thread(
        lambda: CliRunner().invoke(app, ["webhooks", "redeliver"], env=env)
    )
    assert nothing.exit_code == 2 and "ids, --case, --since, --status or --url" in nothing.output


async def test_after_an_outage_an_admin_pages_through_the_failures_since_then_and_sends_them_again(
    dev: WorkflowEnvironment, pool: AsyncConnectionPool, webhook_db: str, receiver: WebhookReceiver
) -> None:
    url = receiver.url("crm")
    earlier, during = _case_id(), _case_id()
    await _record(pool, [url], earlier, [("Booked", None), ("Confirmed", "Booked")])
    await _dispatch(_dispatcher(pool, url), DRAIN)  # delivered before the outage
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE webhook_deliveries SET created_at = now() - interval '2 days'"
            " WHERE case_id = %s",
            (earlier,),
        )
    outage_began = datetime.now(UTC) - timedelta(hours=1)
    statuses: list[tuple[str, str | None]] = [
        ("Booked", None),
        ("Confirmed", "Booked"),
        ("CheckedIn", "Confirmed"),
    ]
    await _record(pool, [url], during, statuses)
    for seq in (1, 2, 3):
        receiver.script("crm", f"{during}/{seq}", 410)
    await _dispatch(_dispatcher(pool, url), DRAIN)

    api = create_app(with_api_keys(Settings(database_url=webhook_db)), client=dev.client, pool=pool)
    admin = key(ApiRole.ADMIN)
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url="http://promptly.test"
        ) as http,
    ):
        path = "/webhooks/deliveries"
        pages, token = [], None
        while True:
            params = {"page_size": 2} | ({"page_token": token} if token else {})
            answer = await http.get(path, params=params, headers=admin)
            assert answer.status_code == 200, answer.text
            pages.append([item["event_id"] for item in answer.json()["items"]])
            token = answer.json()["next_page_token"]
            if token is None:
                break
        assert [len(page) for page in pages] == [2, 2, 1]
        assert sorted(sum(pages, [])) == sorted(
            [f"{earlier}/1", f"{earlier}/2", f"{during}/1", f"{during}/2", f"{during}/3"]
        )
        since = {"since": outage_began.isoformat()}
        first = await http.get(path, params=since | {"page_size": 2}, headers=admin)
        assert [i["case_id"] for i in first.json()["items"]] == [during, during]
        other_list = {"page_token": first.json()["next_page_token"]}
        refused = await http.get(path, params=other_list | {"status": "failed"}, headers=admin)
        assert refused.status_code == 422 and "page_token" in refused.text
        forged = await http.get(path, params={"page_token": "AAAA" * 8}, headers=admin)
        assert forged.status_code == 422

        again = f"{path}/redeliver"
        failed_since = {"status": "failed", "since": outage_began.isoformat()}
        requeued = await http.post(again, json=failed_since, headers=admin)
        assert requeued.status_code == 200, requeued.text
        failed = [i for page in pages for i in page if i.startswith(during)]
        assert len(requeued.json()["requeued"]) == len(failed) == 3

        # A receiver that lost its data has a delivered event sent again, by id or since when.
        delivered = await http.get(
            path, params={"case_id": earlier, "status": "delivered"}, headers=admin
        )
        [_, first_of_earlier] = delivered.json()["items"]  # newest first
        replay = await http.post(again, json={"ids": [first_of_earlier["id"]]}, headers=admin)
        assert replay.json() == {"requeued": [first_of_earlier["id"]]}
        pending = await http.post(again, json={"status": "pending"}, headers=admin)
        assert pending.status_code == 422

    before = len(receiver.received())
    await _dispatch(_dispatcher(pool, url), DRAIN)
    sent_again = [r.event["id"] for r in receiver.received()[before:]]
    assert sorted(sent_again) == sorted(
        [f"{earlier}/1", f"{during}/1", f"{during}/2", f"{during}/3"]
    )
    assert {r["status"] for r in await _deliveries(pool, during)} == {"delivered"}

    env = {"PROMPTLY_DATABASE_URL": webhook_db, "PROMPTLY_WEBHOOK_URLS": json.dumps([url])}
    env["PROMPTLY_WEBHOOK_SECRET"] = SECRET
    cli = CliRunner()
    when = outage_began.isoformat()
    listed = await asyncio.to_thread(
        lambda: cli.invoke(app, ["webhooks", "list", "--since", when], env=env)
    )
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.splitlines()) == 3 and earlier not in listed.stdout
    replayed = await asyncio.to_thread(
        lambda: cli.invoke(
            app, ["webhooks", "redeliver", "--status", "delivered", "--since", when], env=env
        )
    )
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout.startswith("requeued 3: ")


async def test_a_receiver_that_lost_its_data_gets_its_events_again_and_no_other_receiver_does(
    dev: WorkflowEnvironment, pool: AsyncConnectionPool, webhook_db: str, receiver: WebhookReceiver
) -> None:
    case_id, crm, erp = _case_id(), receiver.url("crm"), receiver.url("erp")
    lost_since = datetime.now(UTC) - timedelta(minutes=5)
    await _record(pool, [crm, erp], case_id, [("Booked", None), ("Confirmed", "Booked")])
    await _dispatch(_dispatcher(pool, crm, erp), DRAIN)
    assert len(receiver.received("crm")) == len(receiver.received("erp")) == 2

    api = create_app(with_api_keys(Settings(database_url=webhook_db)), client=dev.client, pool=pool)
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url="http://promptly.test"
        ) as http,
    ):
        body = {"status": "delivered", "since": lost_since.isoformat(), "url": crm}
        again = await http.post(
            "/webhooks/deliveries/redeliver", json=body, headers=key(ApiRole.ADMIN)
        )
        assert again.status_code == 200, again.text
        assert len(again.json()["requeued"]) == 2
    await _dispatch(_dispatcher(pool, crm, erp), DRAIN)
    assert [r.event["id"] for r in receiver.received("crm")[2:]] == [f"{case_id}/1", f"{case_id}/2"]
    assert len(receiver.received("erp")) == 2  # the receiver that kept its data gets nothing

    env = {
        "PROMPTLY_DATABASE_URL": webhook_db,
        "PROMPTLY_WEBHOOK_URLS": json.dumps([crm, erp]),
    }
    cli = await asyncio.to_thread(
        lambda: CliRunner().invoke(
            app,
            ["webhooks", "redeliver", "--status", "delivered", "--case", case_id, "--url", erp],
            env=env,
        )
    )
    assert cli.exit_code == 0 and cli.stdout.startswith("requeued 2:"), cli.output
    await _dispatch(_dispatcher(pool, crm, erp), DRAIN)
    assert len(receiver.received("crm")) == 4 and len(receiver.received("erp")) == 4
