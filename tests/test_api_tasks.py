"""Staff tasks over HTTP, on the time-skipping server so the follow-up calls come due.

Completing a task drives its case: a call outcome runs `record_call_outcome` (the workflow
closes the task), a provider's decision on a no-show excuse runs `waive_fee`.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentRequest
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, serving_skipped, sign
from tests.desk_calls import (
    book_wednesday,
    call_ended,
    first_call,
    listed_tasks,
    phone_client_called_to_confirm,
    the_one_call,
)
from tests.helpers import (
    appointment,
    messages,
    next_local,
    provider_decisions,
    settled,
    sleep_until,
    until,
)


@pytest_asyncio.fixture(loop_scope="session")
async def skipping_api(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving_skipped(env, settings, pool) as http:
        yield http


async def _missed_visit(
    env: WorkflowEnvironment, http: httpx.AsyncClient
) -> tuple[AppointmentRequest, str]:
    """A confirmed Wednesday visit the client did not come to, and its API path."""
    request = await book_wednesday(env, http)
    base = f"/appointments/{request.appointment_id}"
    await http.post(f"{base}/confirm", headers=BACKOFFICE_KEY)
    await sleep_until(env, request.start + timedelta(minutes=20))
    return request, base


async def test_call_tasks_are_listed_and_completing_one_records_the_call(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    http = skipping_api
    request, first = await first_call(env, http)
    assert first["assignee"] == "front_desk" and first["status"] == "open"
    assert first["data"]["attempt"] == 1 and "Anna Nowak" in first["title"]
    inbox = await http.get("/tasks?assignee=front_desk&kind=call_client", headers=STAFF_KEY)
    assert first["id"] in {task["id"] for task in inbox.json()["items"]}

    unknown = await http.post(
        f"/tasks/{first['id']}/complete", json={"outcome": "maybe"}, headers=STAFF_KEY
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "outcome"
    assert "no_answer" in unknown.json()["errors"][0]["reason"]

    # A double click: one completion records the call, the other is refused.
    done, clash = sorted(
        await asyncio.gather(
            *(
                http.post(
                    f"/tasks/{first['id']}/complete",
                    json={"outcome": "no_answer", "note": "voicemail"},
                    headers=STAFF_KEY,
                )
                for _ in range(2)
            )
        ),
        key=lambda response: response.status_code,
    )
    assert done.status_code == 200, done.text
    assert clash.status_code == 409, clash.text
    # Refused while the other runs (with where to read how it ended), or once it is done.
    reason = clash.json()["reason"]
    assert f"GET /tasks/{first['id']}" in reason or "already done (no_answer" in reason
    task, case = done.json()["task"], done.json()["case"]
    assert task["status"] == "done" and task["outcome"] == "no_answer"
    assert task["note"] == "voicemail" and task["closed_by"] == "staff:desk"
    assert case["status"] == "Booked" and case["call_attempts"] == 1
    recorded = [e for e in case["timeline"] if e["detail"].startswith("Call attempt 1")]
    desk = {"kind": "staff", "id": "desk", "via": "desk"}
    assert len(recorded) == 1 and recorded[0]["actor"] == desk
    assert recorded[-1]["detail"] == "Call attempt 1: no_answer (voicemail)"

    twice = await http.post(
        f"/tasks/{first['id']}/complete", json={"outcome": "no_answer"}, headers=STAFF_KEY
    )
    assert twice.status_code == 409 and "already done" in twice.json()["reason"]

    await env.sleep(timedelta(hours=2))  # attempt 2 (Monday 17:45), left unanswered
    # Attempt 3 at Tuesday 08:00 (office hours): attempt 2's task is closed for the desk.
    await sleep_until(env, (request.start - timedelta(days=1)).replace(hour=8, minute=5))
    [open_call] = await listed_tasks(http, request.workflow_id, kind="call_client")
    assert open_call["data"]["attempt"] == 3
    superseded = next(
        t
        for t in await listed_tasks(http, request.workflow_id, status="done")
        if t["data"]["attempt"] == 2
    )
    assert superseded["outcome"] == "no_outcome" and superseded["closed_by"] == "system:promptly"
    assert superseded["note"] == "superseded by call attempt 3"
    stale = await http.post(
        f"/tasks/{superseded['id']}/complete",
        json={"outcome": "reached_confirmed"},
        headers=STAFF_KEY,
    )
    assert stale.status_code == 409
    assert "already done (no_outcome" in stale.json()["reason"]

    as_ewa = {"outcome": "reached_confirmed", "actor": {"kind": "staff", "id": "ewa"}}
    forged = await http.post(
        f"/tasks/{open_call['id']}/complete", json=as_ewa, headers=BACKOFFICE_KEY
    )
    assert forged.status_code == 403, forged.text  # a back-office key is not a staff member
    confirmed = await http.post(
        f"/tasks/{open_call['id']}/complete", json=as_ewa, headers=STAFF_KEY
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["case"]["status"] == "Confirmed"
    # Ewa took the call; the desk's key recorded it, and the task says both, as the timeline.
    assert confirmed.json()["task"]["closed_by"] == "staff:ewa via desk"
    done_calls = await listed_tasks(http, request.workflow_id, status="done")
    assert [(t["data"]["attempt"], t["outcome"]) for t in done_calls] == [
        (1, "no_answer"),
        (2, "no_outcome"),
        (3, "reached_confirmed"),
    ]

    missing = await http.post("/tasks/987654321/complete", json={"outcome": "no_answer"})
    assert missing.status_code == 401
    missing = await http.post(
        "/tasks/987654321/complete", json={"outcome": "no_answer"}, headers=STAFF_KEY
    )
    assert missing.status_code == 404


async def test_the_desk_records_a_reschedule_agreed_on_the_call_from_the_task(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    http = skipping_api
    request, call = await first_call(env, http)
    # Still free to cancel: no warning, but from when a change is charged.
    assert ". Phone: +48600100200. Cancelling or moving the visit is free until " in call["details"]
    assert call["details"].endswith("; from then on, it counts as held and is charged.")
    one = await http.get(f"/tasks/{call['id']}", headers=STAFF_KEY)
    assert one.status_code == 200 and one.json() == call  # the whole task, details and data
    assert (await http.get("/tasks/987654321", headers=STAFF_KEY)).status_code == 404
    short = await http.get("/tasks", params={"case_id": "A-1"}, headers=STAFF_KEY)
    assert short.status_code == 422  # a business id alone names no kind: say how to write it
    assert "e.g. appointment-A-1" in short.json()["errors"][0]["reason"]
    path = f"/tasks/{call['id']}/complete"

    # Without the time agreed: bad input naming the field, and the task stays open for it.
    vague = await http.post(path, json={"outcome": "reached_rescheduled"}, headers=STAFF_KEY)
    assert vague.status_code == 422, vague.text
    assert vague.json()["errors"] == [
        {
            "field": "new_start",
            "reason": "required with reached_rescheduled: the time agreed with the client",
        }
    ]
    assert (await http.get(f"/tasks/{call['id']}", headers=STAFF_KEY)).json() == call
    agreed = request.start + timedelta(days=7)
    moved = await http.post(
        path,
        json={"outcome": "reached_rescheduled", "new_start": agreed.isoformat()},
        headers=STAFF_KEY,
    )
    assert moved.status_code == 200, moved.text
    case = moved.json()["case"]
    # The client agreed the new time on the call: it is confirmed, nobody calls about it.
    assert case["status"] == "Confirmed" and datetime.fromisoformat(case["start"]) == agreed
    assert case["next_call_at"] is None
    assert moved.json()["task"]["outcome"] == "rescheduled"
    assert moved.json()["task"]["closed_by"] == "staff:desk"  # who took the call


async def test_when_the_fee_stands_the_case_says_so_and_the_client_is_told_why(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    http = skipping_api
    request, base = await _missed_visit(env, http)
    client = {"kind": "client", "id": "C-17"}
    excused = await http.post(
        f"{base}/excuse_no_show", json={"reason": "bus", "actor": client}, headers=BACKOFFICE_KEY
    )
    assert excused.status_code == 200, excused.text
    [decision] = await listed_tasks(http, request.workflow_id, kind="provider_decision")
    kept = await http.post(
        f"/tasks/{decision['id']}/complete",
        json={"outcome": "fee_stands", "note": "bus delays are not force majeure"},
        headers=STAFF_KEY,
    )
    assert kept.status_code == 200, kept.text
    case = kept.json()["case"]
    assert case["billing"] == "no_show"
    # The decision, whatever the client's message (sent meanwhile) added after it.
    decided = [entry for entry in case["timeline"] if entry["kind"] == "decision"][-1]
    assert decided["detail"] == "The fee stands: bus delays are not force majeure"
    assert decided["actor"]["id"] == "desk"
    await settled(env.client, request.workflow_id)
    [told] = [m for m in await messages(pool, request.workflow_id) if m["template"] == "fee_stands"]
    assert (
        "bus delays are not force majeure" in told["body"]
        and told["recipient"] == "anna@example.com"
    )
    # A client cannot decide it, even through a key that acts for clients.
    again = await http.post(
        f"{base}/fee_stands", json={"reason": "fine", "actor": client}, headers=BACKOFFICE_KEY
    )
    assert again.status_code == 403 and "decided by the provider" in again.json()["reason"]


async def test_a_further_excuse_joins_the_providers_open_decision(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """The client adds to their no-show excuse (a doctor's note) while the provider decides:
    the provider's task shows it, no second decision is opened; once the fee stands, a
    further excuse is refused."""
    http = skipping_api
    request, base = await _missed_visit(env, http)
    client = {"kind": "client", "id": "C-17"}
    first = await http.post(
        f"{base}/excuse_no_show", json={"reason": "flu", "actor": client}, headers=BACKOFFICE_KEY
    )
    assert first.status_code == 200, first.text
    more = await http.post(
        f"{base}/excuse_no_show",
        json={"reason": "a doctor's note confirms it", "actor": client},
        headers=BACKOFFICE_KEY,
    )
    assert more.status_code == 200, more.text
    assert more.json()["timeline"][-1]["detail"] == (
        "Added to the no-show excuse with the provider: a doctor's note confirms it"
    )

    async def decision_with_the_note() -> list[dict[str, Any]]:
        # Added to the provider's task by an activity once the update has answered.
        decisions = await listed_tasks(http, request.workflow_id, kind="provider_decision")
        return [d for d in decisions if "a doctor's note confirms it" in d["details"]]

    [decision] = await until(decision_with_the_note, "the note on the provider's task")
    assert "Excuse: flu." in decision["details"]
    assert len(await listed_tasks(http, request.workflow_id, kind="provider_decision")) == 1

    await settled(env.client, request.workflow_id)  # the provider's email has gone
    kept = await http.post(
        f"/tasks/{decision['id']}/complete",
        json={"outcome": "fee_stands", "note": "the note is dated after the visit"},
        headers=STAFF_KEY,
    )
    assert kept.status_code == 200, kept.text
    again = await http.post(
        f"{base}/excuse_no_show",
        json={"reason": "please reconsider", "actor": client},
        headers=BACKOFFICE_KEY,
    )
    assert again.status_code == 409, again.text
    assert "already decided" in again.json()["reason"]
    assert not await listed_tasks(http, request.workflow_id, kind="provider_decision")


async def test_no_show_links_are_final_until_the_provider_waives_the_fee(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient, settings: Settings
) -> None:
    http = skipping_api
    request, base = await _missed_visit(env, http)
    view = (await http.get(base, headers=STAFF_KEY)).json()
    assert view["status"] == "NoShow" and view["billing"] == "no_show"

    links = {
        action: f"/c/{sign(settings, request.workflow_id, action, timedelta(days=1))}"
        for action in ("confirm", "cancel", "reschedule")
    }
    for action, link in links.items():
        page = await http.get(link)
        assert page.status_code == 409, (action, page.text)
        assert "Tego nie można już zmienić" in page.text
        assert "nieodbyta" in page.text

    excuse = await http.post(
        f"{base}/excuse_no_show",
        json={"reason": "flu", "actor": {"kind": "client", "id": "C-17"}},
        headers=BACKOFFICE_KEY,
    )
    assert excuse.status_code == 200, excuse.text
    [decision] = await listed_tasks(http, request.workflow_id, kind="provider_decision")
    assert decision["assignee"] == "provider"
    # The visit's provider finds it among their own decisions; another provider does not.
    assert await listed_tasks(http, request.workflow_id, provider_id="P-3") == [decision]
    assert await listed_tasks(http, request.workflow_id, provider_id="P-4") == []
    # The provider decides knowing which visit, and that their reason reaches the client.
    assert decision["details"].startswith("Physiotherapy consultation on ")
    assert "Excuse: flu." in decision["details"] and "sent to the client" in decision["details"]
    waived = await http.post(
        f"/tasks/{decision['id']}/complete",
        json={"outcome": "waive_fee", "note": "doctor's note"},
        headers=STAFF_KEY,
    )
    assert waived.status_code == 200, waived.text
    assert waived.json()["case"]["billing"] == "waived"
    assert waived.json()["case"]["free_reschedule"] is True
    assert waived.json()["task"]["status"] == "done"
    assert waived.json()["task"]["outcome"] == "waive_fee"

    # A free reschedule is open again; confirming the missed visit is not.
    assert (await http.get(links["reschedule"])).status_code == 200
    assert (await http.get(links["confirm"])).status_code == 409


async def test_a_decision_made_with_the_update_itself_closes_the_providers_task(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """The desk waives the fee for the provider from the case, not from the decision task:
    the task closes, so nobody decides again and the client hears one decision."""
    http = skipping_api
    request, base = await _missed_visit(env, http)
    excused = await http.post(
        f"{base}/excuse_no_show",
        json={"reason": "flu", "actor": {"kind": "client", "id": "C-17"}},
        headers=BACKOFFICE_KEY,
    )
    assert excused.status_code == 200, excused.text
    [decision] = await listed_tasks(http, request.workflow_id, kind="provider_decision")
    # The email telling the provider a decision waits has gone (the waiver would cancel it in
    # flight, which stalls the time-skipping server for good: docs/testing.md).
    await settled(env.client, request.workflow_id)
    waived = await http.post(
        f"{base}/waive_fee", json={"reason": "doctor's note"}, headers=STAFF_KEY
    )
    assert waived.status_code == 200, waived.text
    assert not await listed_tasks(http, request.workflow_id, kind="provider_decision")
    [closed] = await listed_tasks(
        http, request.workflow_id, kind="provider_decision", status="done"
    )
    assert (closed["id"], closed["outcome"], closed["note"]) == (
        decision["id"],
        "waive_fee",
        "doctor's note",
    )
    assert closed["closed_by"] == "staff:desk"
    late = await http.post(
        f"/tasks/{decision['id']}/complete", json={"outcome": "fee_stands"}, headers=STAFF_KEY
    )
    assert late.status_code == 409 and "already done (waive_fee" in late.json()["reason"]
    await settled(env.client, request.workflow_id)
    told = [m["template"] for m in await messages(pool, request.workflow_id)]
    assert "fee_waived" in told and "fee_stands" not in told


async def test_a_provider_lists_their_own_decisions_not_every_providers(
    skipping_api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """Every no-show excuse goes to the role `provider`, so `assignee=provider` lists every
    provider's; `provider_id` lists the decisions one provider takes."""
    http = skipping_api
    mine, theirs = (f"P-{uuid.uuid4().hex[:8]}" for _ in range(2))
    filed = await provider_decisions(pool, mine, theirs)

    async def listed(provider_id: str) -> list[tuple[int, str]]:
        filters = {"assignee": "provider", "provider_id": provider_id}
        response = await http.get("/tasks", params=filters, headers=STAFF_KEY)
        assert response.status_code == 200, response.text
        return [(task["id"], task["data"]["provider_id"]) for task in response.json()["items"]]

    assert await listed(mine) == [(filed[mine], mine)]
    assert await listed(theirs) == [(filed[theirs], theirs)]
    wrong = await http.get("/tasks", params={"provider_id": "P 3"}, headers=STAFF_KEY)
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["errors"][0]["field"] == "provider_id"
    assert wrong.json()["errors"][0]["reason"].startswith("must be 1 to 64 letters")


async def test_a_client_reached_after_a_wrong_number_clears_its_alert(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """The desk found the right number and got through: the case no longer asks anyone to
    find it."""
    http = skipping_api
    request, call = await first_call(env, http)
    wrong = await http.post(
        f"/tasks/{call['id']}/complete", json={"outcome": "wrong_number"}, headers=STAFF_KEY
    )
    assert wrong.status_code == 200, wrong.text
    assert "wrong phone number" in wrong.json()["case"]["needs_attention"]
    await settled(env.client, request.workflow_id)
    reached = await http.post(
        f"/appointments/{request.appointment_id}/record_call_outcome",
        json={"outcome": "reached_confirmed", "note": "right number from the referral"},
        headers=STAFF_KEY,
    )
    assert reached.status_code == 200, reached.text
    assert reached.json()["status"] == "Confirmed"
    assert "wrong phone number" not in reached.json()["needs_attention"]


async def test_a_phone_client_due_both_calls_at_once_is_called_once(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """The reminder and the first follow-up attempt wait for the confirmation call, and
    confirming on that call was both: no second call, before or after."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    assert "to confirm" in confirmation["title"]
    # An hour and a half on (a call nobody records holds the others until 13:45 at most,
    # the reminder's latest): still that one call.
    await sleep_until(env, monday_noon + timedelta(hours=1, minutes=30))
    await settled(env.client, request.workflow_id)
    assert (await the_one_call(http, request.workflow_id))["id"] == confirmation["id"]

    confirmed = await http.post(
        f"/tasks/{confirmation['id']}/complete",
        json={"outcome": "reached_confirmed", "note": "will come"},
        headers=STAFF_KEY,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["case"]["status"] == "Confirmed"
    # Past every call planned: none was opened.
    await sleep_until(env, monday_noon + timedelta(hours=4))
    await settled(env.client, request.workflow_id)
    assert await listed_tasks(http, request.workflow_id) == []
    done = await listed_tasks(http, request.workflow_id, status="done")
    assert [t["id"] for t in done] == [confirmation["id"]], [t["title"] for t in done]


async def test_an_unanswered_confirmation_call_was_the_first_follow_up_attempt(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """The confirmation call nobody answered took the place of the attempt that waited for
    it, and the desk is never asked to ring the client straight back: the reminder is the
    next call (13:45, the latest it may wait, not at once), and after it too goes unanswered
    attempt 2 of 2 comes a follow-up interval on (15:45, before the free-cancellation line at
    16:00), not at 14:30; one call open at a time."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "no_answer", "voicemail")
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    await sleep_until(env, monday_noon + timedelta(hours=1, minutes=40))
    await settled(env.client, request.workflow_id)
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    # The reminder is read out as a call of its own (the client was not reached).
    await sleep_until(env, monday_noon + timedelta(hours=1, minutes=50))
    await settled(env.client, request.workflow_id)
    reminder = await the_one_call(http, request.workflow_id)
    assert reminder["id"] != confirmation["id"] and "attempt" not in reminder["title"], reminder
    await call_ended(env, http, request, reminder, "no_answer", "no answer")
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    # Attempt 2 was due at 14:30, 40 minutes after that call: it waits for the ring-back.
    await sleep_until(env, monday_noon + timedelta(hours=3, minutes=30))
    await settled(env.client, request.workflow_id)
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    await sleep_until(env, monday_noon + timedelta(hours=3, minutes=50))
    await settled(env.client, request.workflow_id)
    attempt = await the_one_call(http, request.workflow_id)
    assert "(attempt 2 of 2)" in attempt["title"], attempt["title"]
    # Due by the free-cancellation line (a cancellation on this call is free).
    assert datetime.fromisoformat(attempt["due_at"]) == monday_noon + timedelta(hours=4)


async def test_an_attempt_that_waited_out_its_hold_leaves_the_next_one_where_planned(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """Nobody records the confirmation call; the reminder's call, opened beside it at 13:45,
    ends unanswered: attempt 1 waits for the confirmation call until 14:00 and then goes
    beside it. Attempt 2 is still 2h on, and the client is not found unconfirmed at once."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    await sleep_until(env, monday_noon + timedelta(hours=1, minutes=50))
    await settled(env.client, request.workflow_id)
    [reminder] = [
        c
        for c in await listed_tasks(http, request.workflow_id, kind="call_client")
        if c["id"] != confirmation["id"]
    ]
    await call_ended(env, http, request, reminder, "no_answer", "no answer")
    await sleep_until(env, monday_noon + timedelta(hours=2, minutes=10))
    await settled(env.client, request.workflow_id)
    calls = await listed_tasks(http, request.workflow_id, kind="call_client")
    attempts = [c["title"] for c in calls if "attempt" in c["title"]]
    assert len(attempts) == 1 and "(attempt 1 of 2)" in attempts[0], attempts
    case = await http.get(f"/appointments/{request.appointment_id}", headers=STAFF_KEY)
    assert case.json()["status"] == "Booked", case.json()["status"]
    assert datetime.fromisoformat(case.json()["next_call_at"]) == monday_noon + timedelta(hours=4)


async def test_a_wrong_number_on_the_confirmation_call_stops_the_follow_up_calls(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """The desk would dial the same wrong number again: as after an attempt's wrong number,
    the client is unconfirmed, the supervisor alerted, no follow-up attempt comes, and the
    one task to find the right number is the read-out's."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "wrong_number", "a bakery")
    case = await http.get(f"/appointments/{request.appointment_id}", headers=STAFF_KEY)
    assert case.status_code == 200, case.text
    assert case.json()["status"] == "Unconfirmed"
    assert "wrong phone number" in case.json()["needs_attention"]
    # Past both attempts' times (12:30, 14:30): no attempt called the number again.
    await sleep_until(env, monday_noon + timedelta(hours=3))
    await settled(env.client, request.workflow_id)
    calls = await listed_tasks(http, request.workflow_id, kind="call_client")
    assert [c["title"] for c in calls if "attempt" in c["title"]] == []
    find = await listed_tasks(http, request.workflow_id, kind="client_reply")
    assert [t["title"] for t in find] == [
        f"Wrong number for {request.client.name}: {request.client.phone}"
    ]


async def test_after_a_wrong_number_the_reminder_is_emailed_not_read_out_to_it(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    """The reminder waited for the confirmation call, which reached a wrong number: the desk
    is not asked to read it out to that number; the client has an email and gets it there."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "wrong_number", "a bakery")
    await sleep_until(env, monday_noon + timedelta(hours=1))
    await settled(env.client, request.workflow_id)
    calls = await listed_tasks(http, request.workflow_id, kind="call_client")
    assert [c["title"] for c in calls] == []
    reminders = [
        (m["channel"], m["recipient"])
        for m in await messages(pool, request.workflow_id)
        if m["template"] == "reminder"
    ]
    assert reminders == [("email", "anna@example.com")]


async def test_after_a_wrong_number_without_an_email_the_desk_passes_the_reminder_on(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """No email on record either: no call to the wrong number; the desk's list has the task
    to find the right number and one to pass the reminder on by hand."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http, email=None)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "wrong_number", "a bakery")
    await sleep_until(env, monday_noon + timedelta(hours=1))
    await settled(env.client, request.workflow_id)
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    tasks = sorted((t["kind"], t["title"]) for t in await listed_tasks(http, request.workflow_id))
    assert tasks == [
        ("client_reply", f"Wrong number for {request.client.name}: {request.client.phone}"),
        ("deliver_message_manually", f"Pass on the reminder to {request.client.name}"),
    ], tasks


async def test_a_follow_up_attempt_due_while_the_reminder_call_is_open_is_that_call(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """The reminder read out asks the client to confirm, as attempt 2 would: while its call
    is open the attempt is that call, not a second one; the client still unconfirmed once it
    ends, every attempt is made."""
    http = skipping_api
    request, monday_noon, confirmation = await phone_client_called_to_confirm(env, http)
    await sleep_until(env, monday_noon + timedelta(minutes=30))
    await call_ended(env, http, request, confirmation, "no_answer", "voicemail")
    # The desk rings the client back with the reminder at 13:45 (the latest it may wait).
    await sleep_until(env, monday_noon + timedelta(hours=1, minutes=50))
    await settled(env.client, request.workflow_id)
    reminder = await the_one_call(http, request.workflow_id)
    assert "attempt" not in reminder["title"], reminder["title"]
    assert "(ask the client)" in reminder["details"], reminder["details"]
    # Attempt 2 was due at 14:30, the reminder's call still open: that call is the attempt.
    await sleep_until(env, monday_noon + timedelta(hours=2, minutes=45))
    await settled(env.client, request.workflow_id)
    assert (await the_one_call(http, request.workflow_id))["id"] == reminder["id"]
    done = await http.post(
        f"/tasks/{reminder['id']}/complete",
        json={"outcome": "no_answer", "note": "no answer"},
        headers=STAFF_KEY,
    )
    assert done.status_code == 200, done.text
    # Every attempt made: no call after it, the client unconfirmed.
    await sleep_until(env, monday_noon + timedelta(hours=5))
    await settled(env.client, request.workflow_id)
    assert await listed_tasks(http, request.workflow_id, kind="call_client") == []
    case = await http.get(f"/appointments/{request.appointment_id}", headers=STAFF_KEY)
    assert case.json()["status"] == "Unconfirmed", case.json()["status"]


async def _call_list(
    http: httpx.AsyncClient, case_ids: set[str], **filters: str
) -> list[dict[str, Any]]:
    """The desk's open calls, page by page as the list serves them: those of `case_ids`."""
    rows: list[dict[str, Any]] = []
    params: dict[str, str | int] = {
        "assignee": "front_desk",
        "kind": "call_client",
        "page_size": 2,
        **filters,
    }
    while True:
        page = await http.get("/tasks", params=params, headers=STAFF_KEY)
        assert page.status_code == 200, page.text
        rows += [task for task in page.json()["items"] if task["case_id"] in case_ids]
        token = page.json()["next_page_token"]
        if token is None:
            return rows
        params = {**params, "page_token": token}


async def test_the_call_for_the_sooner_visit_is_listed_first_with_each_visits_start(
    env: WorkflowEnvironment, skipping_api: httpx.AsyncClient
) -> None:
    """At 09:00 a visit on Thursday is booked, then one at 14:00 the same day, both by phone:
    the confirmation call for 14:00 is due by 14:00, the Thursday one within 24h of its
    booking, so the desk's list puts 14:00 first (each opened due now, it came second); each
    row says its visit's start."""
    http = skipping_api
    now = max(await env.get_current_time(), datetime.now(UTC))
    monday_nine = next_local(now + timedelta(days=1), 0, 9, "Europe/Warsaw")
    await sleep_until(env, monday_nine)
    later = appointment(monday_nine + timedelta(days=3, hours=1), channel="phone", locale="en")
    sooner = appointment(monday_nine + timedelta(hours=5), channel="phone", locale="en")
    for request in (later, sooner):
        booked = await http.post(
            "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
        )
        assert booked.status_code == 201, booked.text
        http.booked.append(request.workflow_id)  # type: ignore[attr-defined]
        await until(
            functools.partial(listed_tasks, http, request.workflow_id, kind="call_client"),
            "the confirmation's call",
        )
    ids = {later.workflow_id, sooner.workflow_id}
    calls = await _call_list(http, ids)
    assert [c["case_id"] for c in calls] == [sooner.workflow_id, later.workflow_id], calls
    assert [datetime.fromisoformat(c["visit_start"]) for c in calls] == [
        sooner.start,
        later.start,
    ]
    assert datetime.fromisoformat(calls[0]["due_at"]) == sooner.start
    assert (
        sooner.start
        < datetime.fromisoformat(calls[1]["due_at"])
        <= monday_nine + timedelta(hours=24, minutes=5)
    )
    # The calls about visits before Tuesday 09:00: today's only.
    before = (monday_nine + timedelta(days=1)).isoformat()
    today = await _call_list(http, ids, visit_before=before)
    assert [c["case_id"] for c in today] == [sooner.workflow_id]
