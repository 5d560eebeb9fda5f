"""The desk's call tasks over HTTP on the time-skipping server, as the task tests drive them:
a visit booked so its calls come due, the open call tasks, a call's outcome recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from promptly.domain.appointments.models import AppointmentRequest
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY
from tests.helpers import appointment, next_local, settled, sleep_until, until


async def book_wednesday(env: WorkflowEnvironment, http: httpx.AsyncClient) -> AppointmentRequest:
    """A visit on a Wednesday 10:00 at least three days ahead of both clocks."""
    now = max(await env.get_current_time(), datetime.now(UTC))
    request = appointment(next_local(now + timedelta(hours=72), 2, 10, "Europe/Warsaw"))
    response = await http.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert response.status_code == 201, response.text
    http.booked.append(request.workflow_id)  # type: ignore[attr-defined]
    return request


async def first_call(
    env: WorkflowEnvironment, http: httpx.AsyncClient
) -> tuple[AppointmentRequest, dict[str, Any]]:
    """A Wednesday visit and its first call task: planned before the free-cancellation line
    (Tuesday 10:00), on Monday 15:45."""
    request = await book_wednesday(env, http)
    deadline = (request.start - timedelta(days=2)).replace(hour=15, minute=45)
    await sleep_until(env, deadline + timedelta(minutes=5))
    [call] = await listed_tasks(http, request.workflow_id, kind="call_client")
    return request, call


async def listed_tasks(
    http: httpx.AsyncClient, case_id: str, **filters: str
) -> list[dict[str, Any]]:
    """The case's tasks as `GET /tasks` lists them (filtered by kind, status, ...)."""
    response = await http.get("/tasks", params={"case_id": case_id, **filters}, headers=STAFF_KEY)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def book_phone_client_for_tomorrow(
    env: WorkflowEnvironment, http: httpx.AsyncClient, email: str | None = "anna@example.com"
) -> tuple[AppointmentRequest, datetime]:
    """Booked a Monday 12:00 for Tuesday 16:00 (Warsaw), a phone client is due at once the
    confirmation's call, the reminder's and the first of 2 follow-up attempts (12:00, 14:00,
    before the free-cancellation line at 16:00)."""
    now = max(await env.get_current_time(), datetime.now(UTC))
    monday_noon = next_local(now + timedelta(days=1), 0, 12, "Europe/Warsaw")
    await sleep_until(env, monday_noon)
    request = appointment(
        monday_noon + timedelta(hours=28), channel="phone", locale="en", email=email
    )
    booked = await http.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert booked.status_code == 201, booked.text
    http.booked.append(request.workflow_id)  # type: ignore[attr-defined]
    return request, monday_noon


async def the_one_call(http: httpx.AsyncClient, case_id: str) -> dict[str, Any]:
    """The client's only open call task (the desk calls them once at a time)."""
    calls = await listed_tasks(http, case_id, kind="call_client")
    assert len(calls) == 1, [c["title"] for c in calls]
    return calls[0]


async def phone_client_called_to_confirm(
    env: WorkflowEnvironment, http: httpx.AsyncClient, email: str | None = "anna@example.com"
) -> tuple[AppointmentRequest, datetime, dict[str, Any]]:
    """`book_phone_client_for_tomorrow`, once the case has settled on its first call: the
    confirmation's, the client's only open call."""
    request, monday_noon = await book_phone_client_for_tomorrow(env, http, email)

    async def confirmation_call() -> list[dict[str, Any]]:
        calls = await listed_tasks(http, request.workflow_id, kind="call_client")
        return calls if any("to confirm" in c["title"] for c in calls) else []

    await until(confirmation_call, "the confirmation's call")
    await settled(env.client, request.workflow_id)
    return request, monday_noon, await the_one_call(http, request.workflow_id)


async def call_ended(
    env: WorkflowEnvironment,
    http: httpx.AsyncClient,
    request: AppointmentRequest,
    call: dict[str, Any],
    outcome: str,
    note: str,
) -> None:
    """The desk records how `call` ended; the case has acted on it."""
    ended = await http.post(
        f"/tasks/{call['id']}/complete",
        json={"outcome": outcome, "note": note},
        headers=STAFF_KEY,
    )
    assert ended.status_code == 200, ended.text
    await settled(env.client, request.workflow_id)
