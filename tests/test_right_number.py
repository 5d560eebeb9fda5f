"""The front desk records a client's right number after a wrong one (`correct_phone`, or the
task to find the number completed with it): calls and read-outs go to it from then on. While
the number is known wrong, a move keeps the task to find it and plans no call to it.

On the time-skipping server, as tests/test_api_tasks.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentRequest
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, serving_skipped
from tests.desk_calls import call_ended, first_call, listed_tasks, phone_client_called_to_confirm
from tests.helpers import appointment, messages, next_local, settled, sleep_until, until

RIGHT = "+48600100999"
WRONG_FLAG = "wrong phone number"


@pytest_asyncio.fixture(loop_scope="session")
async def desk(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving_skipped(env, settings, pool) as http:
        yield http


async def _find_number_task(http: httpx.AsyncClient, request: AppointmentRequest) -> dict[str, Any]:
    [task] = [
        t
        for t in await listed_tasks(http, request.workflow_id, kind="client_reply")
        if t["data"].get("error_code") == "wrong_number"
    ]
    return task


async def _case(http: httpx.AsyncClient, request: AppointmentRequest) -> dict[str, Any]:
    response = await http.get(f"/appointments/{request.appointment_id}", headers=STAFF_KEY)
    assert response.status_code == 200, response.text
    case: dict[str, Any] = response.json()
    return case


async def test_the_right_number_from_the_find_number_task_is_called_and_read_out_to(
    env: WorkflowEnvironment, desk: httpx.AsyncClient
) -> None:
    """A phone client's confirmation call reached a wrong number; the desk completes its task
    to find the right one with the number: the follow-up calls resume at once to it, and the
    next message read out (the cancellation) is read out to it."""
    http = desk
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "wrong_number", "a bakery")
    find = await _find_number_task(http, request)

    done = await http.post(
        f"/tasks/{find['id']}/complete",
        json={"outcome": "handled", "phone": RIGHT, "note": "from the referral"},
        headers=STAFF_KEY,
    )
    assert done.status_code == 200, done.text
    assert done.json()["task"]["status"] == "done"
    await settled(env.client, request.workflow_id)

    case = await _case(http, request)
    assert WRONG_FLAG not in case["needs_attention"]
    assert case["client_phone"] == RIGHT
    assert case["status"] == "Booked"
    [changed] = [e for e in case["timeline"] if e["detail"].startswith("Client's phone changed")]
    assert changed["detail"] == (
        f"Client's phone changed from {request.client.phone} to {RIGHT} (from the referral)"
    )
    assert changed["actor"]["kind"] == "staff"
    assert [t for t in await listed_tasks(http, request.workflow_id, kind="client_reply")] == []
    # The next follow-up attempt is the desk's call to the right number.
    [attempt] = [
        t
        for t in await listed_tasks(http, request.workflow_id, kind="call_client")
        if "attempt" in t["data"]
    ]
    assert attempt["data"]["phone"] == RIGHT
    assert f"Phone: {RIGHT}." in attempt["details"]

    cancelled = await http.post(
        f"/appointments/{request.appointment_id}/cancel",
        json={"reason": "client ill, phoned in"},
        headers=STAFF_KEY,
    )
    assert cancelled.status_code == 200, cancelled.text
    await settled(env.client, request.workflow_id)
    [read_out] = await listed_tasks(http, request.workflow_id, kind="call_client")
    assert "message_id" in read_out["data"], read_out
    assert read_out["data"]["phone"] == RIGHT
    assert request.client.phone not in read_out["details"]


async def test_correct_phone_refuses_bad_numbers_other_actors_and_closed_cases(
    env: WorkflowEnvironment, desk: httpx.AsyncClient
) -> None:
    http = desk
    request, _ = await first_call(env, http)
    path = f"/appointments/{request.appointment_id}/correct_phone"

    bad = await http.post(path, json={"phone": "600 100"}, headers=STAFF_KEY)
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["field"] == "phone"

    by_back_office = await http.post(path, json={"phone": RIGHT}, headers=BACKOFFICE_KEY)
    assert by_back_office.status_code == 403, by_back_office.text
    assert (await _case(http, request))["client_phone"] == request.client.phone

    same = await http.post(path, json={"phone": request.client.phone}, headers=STAFF_KEY)
    assert same.status_code == 200, same.text
    assert not [e for e in same.json()["timeline"] if "phone changed" in e["detail"]]

    # The number of a task that is not about a wrong number is no completion's to give.
    [call] = await listed_tasks(http, request.workflow_id, kind="call_client")
    misplaced = await http.post(
        f"/tasks/{call['id']}/complete",
        json={"outcome": "no_answer", "phone": RIGHT},
        headers=STAFF_KEY,
    )
    assert misplaced.status_code == 422, misplaced.text
    assert misplaced.json()["errors"][0]["field"] == "phone"

    await http.post(
        f"/appointments/{request.appointment_id}/cancel",
        json={"reason": "client ill, phoned in"},
        headers=STAFF_KEY,
    )
    closed = await http.post(path, json={"phone": RIGHT}, headers=STAFF_KEY)
    assert closed.status_code == 409, closed.text
    assert closed.json()["code"] == "conflict.already_ended"


async def test_a_move_keeps_the_find_number_task_and_calls_nobody_at_the_wrong_number(
    env: WorkflowEnvironment, desk: httpx.AsyncClient
) -> None:
    """A follow-up attempt reached a wrong number; the visit moves two days on. The desk still
    has to find the number, and no call to the wrong one is planned at the new time; the
    right number, once recorded, is called."""
    http = desk
    request, call = await first_call(env, http)
    await call_ended(env, http, request, call, "wrong_number", "a bakery")
    new_start = request.start + timedelta(days=2)
    moved = await http.post(
        f"/appointments/{request.appointment_id}/reschedule",
        json={"new_start": new_start.isoformat()},
        headers=STAFF_KEY,
    )
    assert moved.status_code == 200, moved.text
    assert WRONG_FLAG in moved.json()["needs_attention"]
    await settled(env.client, request.workflow_id)
    find = await _find_number_task(http, request)
    assert find["status"] == "open"

    # Past every call the new time would have had.
    await sleep_until(env, new_start - timedelta(hours=20))
    await settled(env.client, request.workflow_id)
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    assert (await _find_number_task(http, request))["id"] == find["id"]

    corrected = await http.post(
        f"/appointments/{request.appointment_id}/correct_phone",
        json={"phone": RIGHT},
        headers=STAFF_KEY,
    )
    assert corrected.status_code == 200, corrected.text
    assert WRONG_FLAG not in corrected.json()["needs_attention"]

    async def called() -> list[dict[str, Any]]:
        return await listed_tasks(http, request.workflow_id, kind="call_client")

    [attempt] = await until(called, "the call to the right number")
    assert attempt["data"] == {"attempt": 1, "phone": RIGHT}


async def test_a_wrong_number_closes_the_calls_still_open_to_read_out_to_it(
    env: WorkflowEnvironment, desk: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """Booked on the visit's day, a phone client heard the confirmation but did not confirm;
    the provider runs late, so the delay notice is the desk's call to make when the follow-up
    attempt reaches a wrong number: the notice is not read out to it."""
    http = desk
    now = max(await env.get_current_time(), datetime.now(UTC))
    tuesday_nine = next_local(now + timedelta(days=1), 1, 9, "Europe/Warsaw")
    await sleep_until(env, tuesday_nine)
    request = appointment(tuesday_nine + timedelta(hours=7), channel="phone", locale="en")
    booked = await http.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert booked.status_code == 201, booked.text
    http.booked.append(request.workflow_id)  # type: ignore[attr-defined]

    async def calls() -> list[dict[str, Any]]:
        return await listed_tasks(http, request.workflow_id, kind="call_client")

    [confirmation] = await until(calls, "the confirmation's call")
    await call_ended(env, http, request, confirmation, "reached", "will think about it")
    delayed = await http.post(
        f"/appointments/{request.appointment_id}/report_delay",
        json={"minutes": 20, "reason": "previous visit ran over"},
        headers=STAFF_KEY,
    )
    assert delayed.status_code == 200, delayed.text
    await sleep_until(env, tuesday_nine + timedelta(hours=4))
    await settled(env.client, request.workflow_id)
    open_calls = await calls()
    [attempt] = [c for c in open_calls if "attempt" in c["data"]]
    [read_out] = [c for c in open_calls if "message_id" in c["data"]]

    await call_ended(env, http, request, attempt, "wrong_number", "a bakery")
    assert await calls() == []
    closed = await http.get(f"/tasks/{read_out['id']}", headers=STAFF_KEY)
    assert closed.json()["outcome"] == "wrong_number", closed.text
    # The delay goes in writing instead.

    async def delay_emailed() -> list[tuple[str, str]]:
        return [
            (m["channel"], m["recipient"])
            for m in await messages(pool, request.workflow_id)
            if m["template"] == "delay_notice" and m["channel"] == "email"
        ]

    assert await until(delay_emailed, "the delay by email") == [("email", "anna@example.com")]
