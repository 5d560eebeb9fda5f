"""Messages read out by phone, end to end: the front desk's call outcome is the message's
receipt, a client the desk could not reach gets the message another way, and what a client
reached answers there and then (a survey's score, a complaint's verdict) answers the case.

The HTTP app and a worker run on the Temporal dev server and PostgreSQL; email goes through the
real SendGrid client to its local fake, so what a client was sent is what the fake received.
"""

from __future__ import annotations

import contextlib
import random
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from babel.dates import format_datetime
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from promptly.config import ApiRole, Settings
from promptly.domain.appointments.models import AppointmentRequest, Price
from promptly.domain.surveys.models import SurveyRequest, survey_workflow_id
from promptly.workflows.survey import SurveyWorkflow
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, key, serving, with_api_keys
from tests.complaint_helpers import complaint_payload
from tests.helpers import appointment, message_of, messages, settled, tasks, until
from tests.sendgrid_fake import RecordedRequest, SendGridFake

pytestmark = pytest.mark.asyncio(loop_scope="session")

PUBLIC = "https://promptly.example.com"


@dataclass
class Desk:
    http: httpx.AsyncClient
    sendgrid: SendGridFake
    pool: AsyncConnectionPool
    booked: list[str] = field(default_factory=list)

    async def book(
        self, *, email: str | None, ahead: timedelta = timedelta(days=5), price: str = ""
    ) -> AppointmentRequest:
        """A phone client of their own (the number is unique), five days ahead by default."""
        start = (datetime.now(UTC) + ahead).replace(second=0, microsecond=0)
        request = appointment(start, channel="phone", locale="en")
        if price:
            amount, currency = price.split()
            request = request.model_copy(
                update={"price": Price(amount=Decimal(amount), currency=currency)}
            )
        phone = f"+48{random.randint(600_000_000, 799_999_999)}"
        client = request.client.model_copy(
            update={"id": f"C-{uuid.uuid4().hex[:8]}", "phone": phone, "email": email}
        )
        request = request.model_copy(update={"client": client})
        body = request.model_dump(mode="json")
        booked = await self.http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
        assert booked.status_code == 201, booked.text
        self.booked.append(request.workflow_id)
        return request

    async def read_out_task(
        self, case_id: str, subject_starts: str, *, newer_than: int = 0
    ) -> dict[str, Any]:
        """The open call task to read out the message whose subject starts so (opened after
        task `newer_than`: the one an older message opened may still be closing)."""

        async def found() -> list[dict[str, Any]]:
            return [
                t
                for t in await tasks(self.pool, case_id)
                if t["kind"] == "call_client"
                and t["status"] == "open"
                and t["id"] > newer_than
                and t["title"].split("read out: ", 1)[-1].startswith(subject_starts)
            ]

        [task] = await until(found, f"the call task for {subject_starts!r}")
        return dict(task)

    async def report_delay(self, request: AppointmentRequest, minutes: int) -> dict[str, Any]:
        """The provider runs `minutes` late (the desk reports it): the call to tell the client."""
        known = max((t["id"] for t in await tasks(self.pool, request.workflow_id)), default=0)
        reported = await self.http.post(
            f"/appointments/{request.appointment_id}/report_delay",
            json={"minutes": minutes, "reason": "traffic"},
            headers=STAFF_KEY,
        )
        assert reported.status_code == 200, reported.text
        return await self.read_out_task(
            request.workflow_id, "Your appointment on", newer_than=known
        )

    async def complete(self, task: dict[str, Any], outcome: str) -> httpx.Response:
        return await self.http.post(
            f"/tasks/{task['id']}/complete", json={"outcome": outcome}, headers=STAFF_KEY
        )

    def emails_to(self, address: str) -> list[RecordedRequest]:
        return [r for r in self.sendgrid.accepted if address in r.recipients]

    async def provider_decision_email(self, case_id: str) -> RecordedRequest:
        """The one email asking the provider (Jan) to decide on the case's plea, once sent."""

        async def sent() -> list[RecordedRequest]:
            return [
                r
                for r in self.emails_to("jan@example.com")
                if r.template == "provider_decision" and r.idempotency_key.startswith(case_id)
            ]

        emails: list[RecordedRequest] = await until(sent, "the provider_decision email")
        [email] = emails
        return email


@pytest_asyncio.fixture(loop_scope="session")
async def desk(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[Desk]:
    with SendGridFake(api_key="SG.test") as sendgrid:
        configured = with_api_keys(settings).model_copy(
            update={
                "sendgrid_api_key": SecretStr("SG.test"),
                "sendgrid_host": sendgrid.url,
                "public_base_url": PUBLIC,
            }
        )
        async with serving(dev_env.client, configured, pool) as http:
            desk = Desk(http, sendgrid, pool)
            yield desk
            for workflow_id in desk.booked:
                with contextlib.suppress(RPCError):  # already closed is fine
                    await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")


async def receipts(pool: AsyncConnectionPool, case_id: str) -> dict[str, tuple[str, str]]:
    """Each phone message of the case → (its receipt, the call's outcome)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT template, delivery_status, delivery_error_code FROM messages"
            " WHERE case_id = %s AND channel = 'phone' ORDER BY id",
            (case_id,),
        )
        return {
            r["template"]: (r["delivery_status"], r["delivery_error_code"])
            for r in await cur.fetchall()
        }


def text_of(email: RecordedRequest) -> str:
    return str(email.body["content"][0]["value"])


async def test_a_client_the_desk_could_not_reach_gets_the_message_by_email(desk: Desk) -> None:
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    # In 90 minutes: the provider's delay below is reported once check-in is open.
    request = await desk.book(email=email, ahead=timedelta(minutes=90))
    case_id, phone = request.workflow_id, request.client.phone

    # The confirmation is the desk's script, not a text for the client: a client the desk did
    # not reach is not emailed it (still unconfirmed, the follow-up calls will come).
    confirmation = await desk.read_out_task(case_id, "Call Anna Nowak to confirm")
    assert "read out" not in confirmation["title"]  # the script says whom to call, once
    missed = await desk.complete(confirmation, "no_answer")
    assert missed.status_code == 200, missed.text
    assert missed.json()["case"] is None  # the case is not told: nothing changed for it

    # The provider runs late: the client is to be told at once, so the desk calls.
    notice = await desk.report_delay(request, 20)
    assert notice["title"].startswith("Call Anna Nowak and read out: Your appointment on")
    assert "(ask the client)" in notice["details"]  # no link can be read out
    missed = await desk.complete(notice, "no_answer")
    assert missed.status_code == 200, missed.text

    [sent] = await until(lambda: _async(desk.emails_to(email)), "the email to the client")
    text = text_of(sent)
    assert f"We called you at {phone}" in text
    assert "running about 20 minutes late" in text
    # The links the desk could not read out are in the email, and they work.
    [reschedule, _cancel] = re.findall(rf"{PUBLIC}(/c/\S+)", text)
    served = await desk.http.get(reschedule)
    assert served.status_code == 200 and "Physiotherapy consultation" in served.text
    assert not [t for t in await tasks(desk.pool, case_id) if t["kind"] == "client_reply"]

    # The desk reaches the client with the cancellation: its receipt says so, nothing is sent.
    cancelled = await desk.http.post(
        f"/appointments/{request.appointment_id}/cancel",
        json={"reason": "client asked on the phone"},
        headers=STAFF_KEY,
    )
    assert cancelled.status_code == 200, cancelled.text
    told = await desk.read_out_task(case_id, "Your appointment on")
    assert (await desk.complete(told, "reached")).status_code == 200

    assert await receipts(desk.pool, case_id) == {
        "phone_confirmation": ("undelivered", "no_answer"),
        "delay_notice": ("undelivered", "no_answer"),
        "cancellation": ("delivered", "reached"),
    }
    assert len(desk.emails_to(email)) == 1  # the delay notice, once
    history = await desk.http.get(
        f"/history/cases/{request.appointment_id}?format=md", headers=key(ApiRole.COMPLIANCE)
    )
    assert history.status_code == 200, history.text
    assert "receipt: undelivered (no_answer)" in history.text
    assert "receipt: delivered (reached)" in history.text


async def test_a_wrong_number_asks_the_desk_for_the_right_one(desk: Desk) -> None:
    request = await desk.book(email=None)
    case_id, phone = request.workflow_id, request.client.phone

    confirmation = await desk.read_out_task(case_id, "Call Anna Nowak to confirm")
    wrong = await desk.complete(confirmation, "wrong_number")
    assert wrong.status_code == 200, wrong.text

    [check] = await until(
        lambda: _open_kind(desk.pool, case_id, "client_reply"), "the task to check the number"
    )
    assert check["title"] == f"Wrong number for Anna Nowak: {phone}"
    assert "No email is on record" in check["details"]
    # The message as the desk knows it, no template's name.
    assert "could not read out the confirmation of the booking (" in check["details"]
    assert "phone_confirmation" not in check["details"] + check["title"]
    assert check["data"]["error_code"] == "wrong_number"
    assert await receipts(desk.pool, case_id) == {
        "phone_confirmation": ("undelivered", "wrong_number"),
    }
    assert desk.emails_to("anna@example.com") == []  # no address was guessed

    handled = await desk.http.post(
        f"/tasks/{check['id']}/complete",
        json={"outcome": "handled", "note": "right number from the referral: +48 600 999 111"},
        headers=STAFF_KEY,
    )
    assert handled.status_code == 200, handled.text
    status = await desk.http.get(f"/appointments/{request.appointment_id}", headers=STAFF_KEY)
    # No follow-up call dials that number again: unconfirmed, as after an attempt's wrong one.
    assert status.json()["status"] == "Unconfirmed"
    assert "wrong phone number" in status.json()["needs_attention"]


async def test_the_confirmation_call_inside_the_late_window_says_cancelling_now_is_charged(
    desk: Desk,
) -> None:
    request = await desk.book(email=None, ahead=timedelta(hours=5), price="120.50 PLN")
    call = await desk.read_out_task(request.workflow_id, "Call Anna Nowak to confirm")
    shown = await desk.http.get(f"/tasks/{call['id']}", headers=STAFF_KEY)
    script = shown.json()["details"]
    assert (
        "Tell them: cancelling or rescheduling now is late: the visit is charged as if it had"
        " taken place (120.50 PLN)." in script
    )
    assert "free of charge" not in script


async def test_the_confirmation_call_days_ahead_says_from_when_changes_are_charged(
    desk: Desk,
) -> None:
    request = await desk.book(email=None, ahead=timedelta(days=3), price="120.50 PLN")
    call = await desk.read_out_task(request.workflow_id, "Call Anna Nowak to confirm")
    shown = await desk.http.get(f"/tasks/{call['id']}", headers=STAFF_KEY)
    script = shown.json()["details"]
    line = format_datetime(
        request.start - timedelta(hours=24),
        "EEEE, d MMMM y, HH:mm",
        tzinfo=ZoneInfo("Europe/Warsaw"),
        locale="en",
    )
    # True whenever the desk makes the call: before that moment free, after it charged.
    assert (
        f"Cancelling or rescheduling is free of charge until {line}; from then on, the visit is"
        " charged as if it had taken place (120.50 PLN)." in script
    )
    assert "now is late" not in script


async def test_a_wrong_number_for_the_confirmation_asks_for_the_right_one_by_email(
    desk: Desk,
) -> None:
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    request = await desk.book(email=email)
    confirmation = await desk.read_out_task(request.workflow_id, "Call Anna Nowak to confirm")
    assert (await desk.complete(confirmation, "wrong_number")).status_code == 200

    [check] = await until(
        lambda: _open_kind(desk.pool, request.workflow_id, "client_reply"), "the task"
    )
    assert check["details"].endswith(f"Ask the client for the right number by email ({email}).")
    # The confirmation's script is the desk's, not the client's: it is not emailed. No call
    # will reach them, so they get the visit's confirmation there, as after an attempt's
    # wrong number.
    emailed = await until(
        lambda: _emailed_templates(desk.pool, request.workflow_id), "the visit by email"
    )
    assert emailed == ["confirmation"]
    assert len(desk.emails_to(email)) == 1


async def _emailed_templates(pool: AsyncConnectionPool, case_id: str) -> list[str]:
    """What the client was emailed."""
    return [
        m["template"]
        for m in await messages(pool, case_id)
        if m["channel"] == "email" and m["recipient_role"] == "client"
    ]


async def test_a_call_to_read_out_news_that_changed_is_closed_not_made(desk: Desk) -> None:
    """The desk calls a phone client with what is still true: the confirmation's call goes
    when the client has confirmed, a delay's when a newer one replaced it, and every call
    about coming to the visit once the client is in."""
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    request = await desk.book(email=email, ahead=timedelta(minutes=90))
    case_id, base = request.workflow_id, f"/appointments/{request.appointment_id}"
    confirmation = await desk.read_out_task(case_id, "Call Anna Nowak to confirm")
    client = {"kind": "client", "id": request.client.id}
    confirmed = await desk.http.post(
        f"{base}/confirm", json={"actor": client}, headers=BACKOFFICE_KEY
    )
    assert confirmed.status_code == 200, confirmed.text
    outcome, closed_by = await _closed(desk.pool, confirmation)
    assert outcome == "confirmed" and closed_by.startswith(f"client:{request.client.id} via ")

    first = await desk.report_delay(request, 20)
    second = await desk.report_delay(request, 35)  # one open call: the newer delay's
    assert "55 minutes late" in second["details"]  # the delays so far, added up
    closed = await _closed(desk.pool, first)
    assert closed == ("superseded", "system:promptly")
    stale = await desk.complete(first, "no_answer")
    assert stale.status_code == 409 and "already done" in stale.text

    checked_in = await desk.http.post(f"{base}/check_in", headers=STAFF_KEY)
    assert checked_in.status_code == 200, checked_in.text
    assert await _closed(desk.pool, second) == ("checked_in", "staff:desk")
    assert not await _open_kind(desk.pool, case_id, "call_client")
    assert desk.emails_to(email) == []  # no call missed, nothing passed on


async def test_a_phone_customers_answered_inquiry_and_closed_complaint_leave_no_stale_call(
    desk: Desk,
) -> None:
    customer = complaint_payload()["customer"] | {
        "id": f"C-{uuid.uuid4().hex[:8]}",
        "email": f"c{uuid.uuid4().hex[:8]}@example.com",
        "preferred_channel": "phone",
        "locale": "en",
    }
    question = {
        "inquiry_id": f"Q-{uuid.uuid4().hex[:10]}",
        "customer": customer,
        "received_via": "phone",
        "subject": "Saturday opening hours",
        "question": "Are you open on Saturdays?",
    }
    asked = await desk.http.post("/inquiries", json=question, headers=BACKOFFICE_KEY)
    assert asked.status_code == 201, asked.text
    inquiry_case = f"inquiry-{question['inquiry_id']}"
    desk.booked.append(inquiry_case)
    ack = await desk.read_out_task(inquiry_case, "We have your question")
    answered = await desk.http.post(
        f"/inquiries/{question['inquiry_id']}/answer",
        json={"text": "Yes, 9-13."},
        headers=STAFF_KEY,
    )
    assert answered.status_code == 200, answered.text
    assert (await _closed(desk.pool, ack))[0] == "answered"
    # The answer is the call left to make; the acknowledgement is never passed on by email.
    [answer] = await until(
        lambda: _open_kind(desk.pool, inquiry_case, "call_client"), "the answer's call"
    )
    assert "Yes, 9-13." in answer["details"]
    assert (await desk.complete(ack, "no_answer")).status_code == 409

    body = complaint_payload(customer=customer)
    reference, complaint_case = body["complaint_id"], f"complaint-{body['complaint_id']}"
    filed = await desk.http.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert filed.status_code == 201, filed.text
    desk.booked.append(complaint_case)
    registered = await desk.read_out_task(complaint_case, f"Your complaint {reference} is")
    closed = await desk.http.post(
        f"/complaints/{reference}/close", json={"reason": "refunded"}, headers=STAFF_KEY
    )
    assert closed.status_code == 200, closed.text
    assert (await _closed(desk.pool, registered))[0] == "complaint_closed"
    [closing] = await until(
        lambda: _open_kind(desk.pool, complaint_case, "call_client"), "the closing call"
    )
    assert closing["id"] != registered["id"] and "closed" in closing["title"]
    assert desk.emails_to(customer["email"]) == []


async def _closed(pool: AsyncConnectionPool, task: dict[str, Any]) -> tuple[str, str]:
    """How task `task` was closed: its outcome and who closed it (it must be closed)."""
    [now] = [t for t in await tasks(pool, task["case_id"]) if t["id"] == task["id"]]
    assert now["status"] == "done", now
    return now["outcome"], now["closed_by"]


async def _async(value: Any) -> Any:
    return value


async def _open_kind(pool: AsyncConnectionPool, case_id: str, kind: str) -> list[dict[str, Any]]:
    return [t for t in await tasks(pool, case_id) if t["kind"] == kind and t["status"] == "open"]


async def test_a_phone_client_answers_the_survey_to_the_desk(
    desk: Desk, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    visit = appointment(datetime.now(UTC) - timedelta(hours=3), channel="phone", locale="en")
    phone = f"+48{random.randint(600_000_000, 799_999_999)}"
    client = visit.client.model_copy(update={"id": f"C-{uuid.uuid4().hex[:8]}", "phone": phone})
    survey_id = survey_workflow_id(visit.workflow_id)
    await dev_env.client.start_workflow(
        SurveyWorkflow.run,
        SurveyRequest(
            appointment_case_id=visit.workflow_id,
            appointment_id=visit.appointment_id,
            client=client,
            service=visit.service,
            visit_ended_at=datetime.now(UTC) - timedelta(hours=2),
            send_after=timedelta(seconds=1),
        ),
        id=survey_id,
        task_queue=settings.task_queue,
    )
    desk.booked.append(survey_id)

    call = await desk.read_out_task(survey_id, "How was your")
    assert "(0–10)?\nJust tell us the number." in call["details"]
    assert "click" not in call["details"]

    # A score is the answer of a client reached, from 0 to 10; a refusal leaves the task open.
    for wrong in ({"outcome": "no_answer", "score": 9}, {"score": 11}):
        refused = await desk.http.post(
            f"/tasks/{call['id']}/complete",
            json={"outcome": "reached"} | wrong,
            headers=STAFF_KEY,
        )
        assert refused.status_code == 422, refused.text
        assert "score" in refused.text
    told = await desk.http.post(
        f"/tasks/{call['id']}/complete",
        json={"outcome": "reached", "score": 9, "note": "the physio explained everything"},
        headers=STAFF_KEY,
    )
    assert told.status_code == 200, told.text
    assert told.json()["case"]["status"] == "Answered"

    # The survey has the client's answer, as a link would have given it, and who took it.
    view = await dev_env.client.get_workflow_handle(survey_id).query(SurveyWorkflow.status)
    assert view.answer is not None
    assert (view.answer.nps, view.answer.comment) == (9, "the physio explained everything")
    assert view.answer.taken_by is not None and view.answer.taken_by.kind == "staff"
    async with desk.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT nps, comment, client_id FROM survey_responses WHERE survey_id = %s",
            (survey_id,),
        )
        assert await cur.fetchall() == [
            {"nps": 9, "comment": "the physio explained everything", "client_id": client.id}
        ]
    assert await receipts(desk.pool, survey_id) == {"survey": ("delivered", "reached")}
    history = await desk.http.get(
        f"/history/cases/{survey_id}?format=md", headers=key(ApiRole.COMPLIANCE)
    )
    assert f"Answered on the phone to {view.answer.taken_by.id}: NPS 9" in history.text


async def test_a_phone_customer_gives_the_verdict_on_the_proposed_resolution_to_the_desk(
    desk: Desk,
) -> None:
    customer = complaint_payload()["customer"] | {
        "id": f"C-{uuid.uuid4().hex[:8]}",
        "preferred_channel": "phone",
        "locale": "en",
    }
    body = complaint_payload(customer=customer)
    reference, case_id = body["complaint_id"], f"complaint-{body['complaint_id']}"
    filed = await desk.http.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert filed.status_code == 201, filed.text
    desk.booked.append(case_id)
    base = f"/complaints/{reference}"

    async def proposed(resolution: str) -> dict[str, Any]:
        """The call task reading the customer `resolution`, proposed by the staff."""
        answer = await desk.http.post(
            f"{base}/propose_resolution", json={"resolution": resolution}, headers=STAFF_KEY
        )
        assert answer.status_code == 200, answer.text
        return await desk.read_out_task(case_id, f"Your complaint {reference}: is this resolved")

    async def status_of(task: dict[str, Any]) -> str:
        [now] = [t["status"] for t in await tasks(desk.pool, case_id) if t["id"] == task["id"]]
        return str(now)

    async def told(task: dict[str, Any], **answer: Any) -> httpx.Response:
        return await desk.http.post(
            f"/tasks/{task['id']}/complete", json={"outcome": "reached"} | answer, headers=STAFF_KEY
        )

    call = await proposed("A refund of the visit.")
    assert "whether you are satisfied: tell us now" in call["details"]
    # A verdict is what a customer reached says about a proposal read out to them, and one
    # call answers one question; a refusal writes nothing and leaves the task open.
    ack = await desk.read_out_task(case_id, f"Your complaint {reference} is registered")
    for task, wrong in (
        (call, {"outcome": "no_answer"}),
        (call, {"score": 3}),
        (ack, {}),
    ):
        refused = await told(task, satisfied=False, **wrong)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["satisfied"]
    assert await status_of(call) == "open"

    # Not satisfied: the complaint reopens one tier up, as the customer's own verdict does.
    unhappy = await told(call, satisfied=False, note="a refund does not pay for my day off")
    assert unhappy.status_code == 200, unhappy.text
    view = unhappy.json()["case"]
    assert (view["status"], view["reopened"], view["escalation_level"]) == ("Open", 1, 1)
    assert view["sla_deadline"] is not None  # a fresh clock runs
    verdict = next(e for e in view["timeline"] if e["data"].get("satisfied") is False)
    assert verdict["detail"] == (
        "Customer not satisfied with the resolution on the phone to desk "
        "(a refund does not pay for my day off)"
    )
    assert verdict["actor"] == {"kind": "client", "id": customer["id"]}
    # The supervisor is alerted, and the customer is told (read out: a phone customer).
    await desk.read_out_task(case_id, f"Your complaint {reference} has been escalated")
    assert (await message_of(desk.pool, case_id, "complaint_alert"))["recipient_role"] == (
        "supervisor"
    )
    assert (await receipts(desk.pool, case_id))["resolution_proposed"] == ("delivered", "reached")

    # A verdict taken otherwise first: the proposal no longer asks, the task stays open.
    late = await proposed("A refund and a free visit.")
    # Who took a verdict on the phone is the call task's to record, never a body's to claim.
    claimed = await desk.http.post(
        f"{base}/customer_verdict",
        json={"satisfied": False, "taken_by": {"kind": "staff", "id": "ola"}},
        headers=STAFF_KEY,
    )
    assert claimed.status_code == 422, claimed.text
    assert [e["field"] for e in claimed.json()["errors"]] == ["taken_by"]
    otherwise = await desk.http.post(
        f"{base}/customer_verdict", json={"satisfied": False}, headers=STAFF_KEY
    )
    assert otherwise.status_code == 200, otherwise.text
    stale = await told(late, satisfied=True)
    assert stale.status_code == 409, stale.text
    assert "customer_verdict refused" in stale.json()["reason"]
    assert await status_of(late) == "open"
    assert (await told(late)).status_code == 200  # read out, no verdict: the receipt alone

    # Satisfied: the complaint closes, confirmed by the customer.
    happy = await told(await proposed("A refund, a free visit and an apology."), satisfied=True)
    assert happy.status_code == 200, happy.text
    assert (happy.json()["task"]["status"], happy.json()["task"]["outcome"]) == ("done", "reached")
    view = happy.json()["case"]
    assert (view["status"], view["close_reason"]) == (
        "Closed",
        "resolution confirmed by the customer",
    )
    details = [e["detail"] for e in view["timeline"]]
    assert "Customer satisfied with the resolution on the phone to desk" in details
    assert "Closed: the customer confirmed the resolution" in details


async def no_fallback_started(env: WorkflowEnvironment, task: dict[str, Any]) -> bool:
    """No notice workflow passes on the message the call `task` read out (it would have been
    started before the task's completion answered)."""
    handle = env.client.get_workflow_handle(f"call-fallback-{task['data']['message_id']}")
    try:
        await handle.describe()
    except RPCError:
        return True
    return False


async def moot_of(pool: AsyncConnectionPool, case_id: str, template: str) -> str | None:
    """Why the case's phone message `template` was not passed on (None: nothing said so)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT delivery_moot FROM messages"
            " WHERE case_id = %s AND channel = 'phone' AND template = %s",
            (case_id, template),
        )
        [(moot,)] = await cursor.fetchall()
    return str(moot) if moot is not None else None


async def test_a_delay_notice_read_out_after_the_client_checked_in_is_not_emailed(
    desk: Desk, dev_env: WorkflowEnvironment
) -> None:
    """A call about the provider running late, still open after the client checked in (as
    an earlier release left them: the check-in now closes it): the desk's unanswered call is
    moot, as a reminder's would be; the receipt is recorded, nothing is emailed."""
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    request = await desk.book(email=email, ahead=timedelta(minutes=90))
    case_id = request.workflow_id
    notice = await desk.report_delay(request, 20)
    checked_in = await desk.http.post(
        f"/appointments/{request.appointment_id}/check_in", headers=STAFF_KEY
    )
    assert checked_in.status_code == 200, checked_in.text
    async with desk.pool.connection() as conn:  # left open, as before this release
        await conn.execute(
            "UPDATE staff_tasks SET status = 'open', outcome = NULL, closed_by = NULL,"
            " closed_at = NULL WHERE id = %s",
            (notice["id"],),
        )

    missed = await desk.complete(notice, "no_answer")
    assert missed.status_code == 200, missed.text
    assert (await receipts(desk.pool, case_id))["delay_notice"] == ("undelivered", "no_answer")
    assert await moot_of(desk.pool, case_id, "delay_notice") == "the appointment is CheckedIn"
    assert await no_fallback_started(dev_env, notice)
    assert desk.emails_to(email) == []


async def open_calls(pool: AsyncConnectionPool, case_id: str) -> list[str]:
    """The titles of the case's open calls to the client."""
    return [t["title"] for t in await _open_kind(pool, case_id, "call_client")]


async def test_a_waived_fee_leaves_no_call_saying_the_visit_is_charged(
    desk: Desk, dev_env: WorkflowEnvironment
) -> None:
    """A late cancellation, then the provider waives the fee: the desk calls with the waiver
    only, and a call about the charge that was still open (as an earlier release left them)
    sends the client nothing when the desk could not reach them."""
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    request = await desk.book(email=email, ahead=timedelta(minutes=90))
    case_id, base = request.workflow_id, f"/appointments/{request.appointment_id}"
    cancelled = await desk.http.post(
        f"{base}/cancel", json={"reason": "client phoned: cannot come"}, headers=STAFF_KEY
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "LateCancelled"
    charged = await desk.read_out_task(case_id, "Your appointment on")
    assert "charged as if it had taken place" in charged["details"]

    waived = await desk.http.post(
        f"{base}/waive_fee", json={"reason": "snowstorm closed the roads"}, headers=STAFF_KEY
    )
    assert waived.status_code == 200, waived.text
    await desk.read_out_task(case_id, "The fee for your")
    [waiver] = await open_calls(desk.pool, case_id)
    assert "The fee for your" in waiver
    assert (await _closed(desk.pool, charged))[0] == "fee_waived"

    async with desk.pool.connection() as conn:  # left open, as before this release
        await conn.execute(
            "UPDATE staff_tasks SET status = 'open', outcome = NULL, closed_by = NULL,"
            " closed_at = NULL WHERE id = %s",
            (charged["id"],),
        )
    missed = await desk.complete(charged, "no_answer")
    assert missed.status_code == 200, missed.text
    assert await moot_of(desk.pool, case_id, "cancellation") == "the fee was waived since"
    assert await no_fallback_started(dev_env, charged)
    assert desk.emails_to(email) == []


async def test_a_plea_told_on_a_late_cancellations_call_reaches_the_provider(
    desk: Desk, dev_env: WorkflowEnvironment
) -> None:
    """The late cancellation read out to a phone client asks them to say now if something
    beyond their control made them cancel: the desk completes the call with the client's
    plea, and it reaches the provider as a no-show excuse does (a decision task, an email
    with its deadline). A further plea joins the open decision; the provider's waiver lifts
    the fee and the client hears it; a plea after the decision is refused."""
    request = await desk.book(email=None, ahead=timedelta(minutes=90))
    case_id, base = request.workflow_id, f"/appointments/{request.appointment_id}"
    cancelled = await desk.http.post(
        f"{base}/cancel", json={"reason": "client phoned: cannot come"}, headers=STAFF_KEY
    )
    assert cancelled.json()["status"] == "LateCancelled", cancelled.text
    charged = await desk.read_out_task(case_id, "Your appointment on")
    assert "your provider may waive the fee" in charged["details"]

    plea = "her child was taken to hospital this morning"
    told = await desk.http.post(
        f"/tasks/{charged['id']}/complete",
        json={"outcome": "reached", "note": "read out", "plea": plea},
        headers=STAFF_KEY,
    )
    assert told.status_code == 200, told.text
    assert told.json()["task"]["outcome"] == "reached"
    [decision] = await _open_kind(desk.pool, case_id, "provider_decision")
    assert decision["assignee"] == "provider"
    assert decision["title"] == "Decide on Anna Nowak's late-cancellation excuse"
    assert f"Excuse: {plea}." in decision["details"]
    assert "late-cancellation fee stand" in decision["details"]

    email = await desk.provider_decision_email(case_id)
    assert plea in text_of(email) and "late-cancellation fee applies" in text_of(email)
    assert "Please decide by" in text_of(email)

    # The client calls again with more: it joins the decision, nothing new is opened.
    client = {"kind": "client", "id": request.client.id}
    more = await desk.http.post(
        f"{base}/excuse_no_show",
        json={"reason": "the hospital's discharge note is attached", "actor": client},
        headers=BACKOFFICE_KEY,
    )
    assert more.status_code == 200, more.text
    [same] = await _open_kind(desk.pool, case_id, "provider_decision")
    assert same["id"] == decision["id"]
    assert "the hospital's discharge note is attached" in same["details"]
    assert any(
        entry["detail"].endswith("the hospital's discharge note is attached")
        for entry in more.json()["timeline"]
    )

    waived = await desk.http.post(
        f"/tasks/{decision['id']}/complete",
        json={"outcome": "waive_fee", "note": "a child in hospital is force majeure"},
        headers=STAFF_KEY,
    )
    assert waived.status_code == 200, waived.text
    assert waived.json()["case"]["billing"] == "waived"
    waiver = await desk.read_out_task(case_id, "The fee for your")
    assert "a child in hospital is force majeure" in waiver["details"]

    late = await desk.http.post(
        f"{base}/excuse_no_show",
        json={"reason": "one more thing", "actor": client},
        headers=BACKOFFICE_KEY,
    )
    assert late.status_code == 409 and "already waived" in late.json()["reason"], late.text


async def test_a_plea_noted_on_a_late_moves_call_reaches_the_provider(
    desk: Desk, dev_env: WorkflowEnvironment
) -> None:
    """A phone client moves the visit less than 24h ahead: the desk's call to confirm the new
    time says the earlier visit is charged and asks to note why on the task. The reason
    noted as the plea reaches the provider; their decision that the fee stands is read out
    to the client, and a plea after it is refused."""
    request = await desk.book(email=None, ahead=timedelta(minutes=90))
    case_id, base = request.workflow_id, f"/appointments/{request.appointment_id}"
    client = {"kind": "client", "id": request.client.id}
    # The client phones back once the booking is made (a case still being booked asks the
    # caller to try again in a moment).
    await settled(dev_env.client, case_id)
    moved = await desk.http.post(
        f"{base}/reschedule",
        json={"new_start": (request.start + timedelta(days=2)).isoformat(), "actor": client},
        headers=BACKOFFICE_KEY,
    )
    assert moved.status_code == 200, moved.text

    async def new_time_call() -> list[dict[str, Any]]:
        return [
            t
            for t in await _open_kind(desk.pool, case_id, "call_client")
            if "This is the visit's new time" in t["details"]
        ]

    [call] = await until(new_time_call, "the call to confirm the new time")
    assert "the provider may waive the fee" in call["details"]
    told = await desk.http.post(
        f"/tasks/{call['id']}/complete",
        json={"outcome": "reached_confirmed", "plea": "the car broke down on the motorway"},
        headers=STAFF_KEY,
    )
    assert told.status_code == 200, told.text
    assert told.json()["case"]["status"] == "Confirmed"
    [decision] = await _open_kind(desk.pool, case_id, "provider_decision")
    assert decision["title"] == "Decide on Anna Nowak's late-reschedule excuse"
    assert "Excuse: the car broke down on the motorway." in decision["details"]

    email = await desk.provider_decision_email(case_id)
    assert "late-reschedule fee applies" in text_of(email)

    kept = await desk.http.post(
        f"/tasks/{decision['id']}/complete",
        json={"outcome": "fee_stands", "note": "a breakdown is not force majeure"},
        headers=STAFF_KEY,
    )
    assert kept.status_code == 200, kept.text
    stands = await desk.read_out_task(case_id, "")
    assert "a breakdown is not force majeure" in stands["details"]
    again = await desk.http.post(
        f"{base}/excuse_no_show",
        json={"reason": "please reconsider", "actor": client},
        headers=BACKOFFICE_KEY,
    )
    assert again.status_code == 409 and "already decided" in again.json()["reason"], again.text
