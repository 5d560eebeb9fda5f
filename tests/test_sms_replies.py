"""Clients who answer: SMS replies, opt-outs, delivery receipts and email replies, end to end.

The HTTP app and a worker run on the Temporal dev server and PostgreSQL; SMS go through the
real `twilio` client to the local Twilio fake, and inbound requests carry signatures made
with Twilio's own RequestValidator, as Twilio's servers would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from promptly.api.app import create_app
from promptly.cli.sms import signed_reply
from promptly.config import ApiRole, Settings
from promptly.dev.stack import twilio_fake
from promptly.domain import keys, links
from promptly.services.waiting_inbound import WAITING_RECEIPTS, WAITING_REPLIES, act_on_waiting
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, key, page_options, serving, with_api_keys
from tests.complaint_helpers import complaint_payload, inquiry
from tests.conftest import start_dev_server
from tests.helpers import appointment, messages, sendgrid_checks, settled, tasks, until
from tests.twilio_fake import TwilioFake

pytestmark = pytest.mark.asyncio(loop_scope="session")

SID = "AC" + "7" * 32
TOKEN = "twilio-auth-token-for-tests"
EMAIL_TOKEN = "inbound-email-token-0123456789abcdef"  # 32 bytes at least
PUBLIC = "https://promptly.example.com"
WARSAW = ZoneInfo("Europe/Warsaw")


@dataclass
class Stack:
    http: httpx.AsyncClient
    fake: TwilioFake
    pool: AsyncConnectionPool
    client: Client
    settings: Settings
    started: list[str]

    def signed(self, path: str, form: dict[str, str]) -> dict[str, str]:
        """Headers Twilio would send: the signature over the public URL and the form."""
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", form)
        return {"X-Twilio-Signature": signature}

    async def sms_reply(self, sender: str, body: str, sid: str | None = None) -> httpx.Response:
        form = {
            "MessageSid": sid or f"SM{uuid.uuid4().hex}",
            "AccountSid": SID,
            "From": sender,
            "To": "+48500000000",
            "Body": body,
        }
        return await self.http.post(
            "/inbound/sms", data=form, headers=self.signed("/inbound/sms", form)
        )

    async def receipt(
        self, phone: str, sid: str, status: str, code: str | None = None
    ) -> httpx.Response:
        """Twilio's status callback for the message `sid` to `phone`."""
        form = {"MessageSid": sid, "MessageStatus": status, "To": phone, "AccountSid": SID}
        if code:
            form["ErrorCode"] = code
        path = "/inbound/sms/status"
        return await self.http.post(path, data=form, headers=self.signed(path, form))

    async def book(
        self,
        *,
        channel: str = "sms",
        email: str | None = None,
        phone: str | None = None,
        client_id: str | None = None,
        hours_ahead: int = 120,
    ) -> tuple[str, str, str]:
        """Book a client of their own; returns (appointment id, phone, email)."""
        phone = phone or f"+48{random.randint(600_000_000, 799_999_999)}"
        email = email or f"c{uuid.uuid4().hex[:8]}@example.com"
        start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).astimezone(WARSAW)
        request = appointment(start.replace(second=0, microsecond=0), channel=channel, email=email)
        client = request.client.model_copy(
            update={"id": client_id or f"C-{uuid.uuid4().hex[:8]}", "phone": phone}
        )
        request = request.model_copy(update={"client": client})
        body = request.model_dump(mode="json")
        response = await self.http.post("/appointments", json=body, headers=BACKOFFICE_KEY)
        assert response.status_code == 201, response.text
        self.started.append(f"appointment-{request.appointment_id}")
        return request.appointment_id, phone, email

    async def status(self, appointment_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/appointments/{appointment_id}", headers=STAFF_KEY)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[Stack]:
    with TwilioFake(account_sid=SID, auth_token=TOKEN) as fake:
        configured = with_api_keys(settings).model_copy(
            update={
                "twilio_account_sid": SID,
                "twilio_auth_token": SecretStr(TOKEN),
                "twilio_from": "+48500000000",
                "twilio_base_url": fake.url,
                "public_base_url": PUBLIC,
                "inbound_email_token": SecretStr(EMAIL_TOKEN),
                "quiet_hours_start": 0,
                "quiet_hours_end": 0,
            }
        )
        async with serving(dev_env.client, configured, pool) as http:
            stack = Stack(http, fake, pool, dev_env.client, configured, [])
            yield stack
            for workflow_id in stack.started:
                handle = dev_env.client.get_workflow_handle(workflow_id)
                if (await handle.describe()).status is not None:
                    try:
                        await handle.terminate("test over")
                    except Exception:  # noqa: BLE001 - already closed is fine
                        pass


def status_entries(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in view["timeline"] if e["kind"] == "status"]


async def test_an_sms_client_confirms_by_replying_tak(stack: Stack) -> None:
    appointment_id, phone, _ = await stack.book()
    [confirmation] = await until(lambda: asyncio.sleep(0, stack.fake.sent_to(phone)), "the SMS")
    assert "TAK" in (confirmation.body or "")

    # A forged request (signed with another token) is refused and changes nothing.
    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": phone, "Body": "TAK"}
    forged = RequestValidator("not-the-token").compute_signature(f"{PUBLIC}/inbound/sms", form)
    refused = await stack.http.post(
        "/inbound/sms", data=form, headers={"X-Twilio-Signature": forged}
    )
    assert refused.status_code == 403
    missing = await stack.http.post("/inbound/sms", data=form)
    assert missing.status_code == 403
    assert (await stack.status(appointment_id))["status"] == "Booked"

    sid = f"SM{uuid.uuid4().hex}"
    answer = await stack.sms_reply(phone, " tak ", sid)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
    assert answer.headers["X-Promptly-Outcome"] == "confirm:confirmed"
    again = await stack.sms_reply(phone, " tak ", sid)  # Twilio delivering it twice
    assert again.headers["X-Promptly-Outcome"] == "confirm:duplicate"

    view = await stack.status(appointment_id)
    assert view["status"] == "Confirmed"
    [confirmed] = [e for e in status_entries(view) if e["data"]["status"] == "Confirmed"]
    assert confirmed["actor"]["kind"] == "client"
    assert confirmed["detail"] == "Client confirmed by sms reply"
    async with stack.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT intent, outcome FROM inbound_messages WHERE provider_id = %s", (sid,)
            )
        ).fetchone()
    assert row == ("confirm", "confirmed")


async def test_what_twilio_posts_while_temporal_is_away_is_acted_on_once_it_is_back(
    stack: Stack,
) -> None:
    """Twilio posts a reply or a delivery receipt once. With Temporal unreachable both are
    kept, Twilio gets its 2xx, and the API's next sweep confirms the visit and starts the
    undelivered SMS's fallback."""
    appointment_id, phone, email = await stack.book()
    case_id = f"appointment-{appointment_id}"
    [confirmation] = await _handed_over(stack, case_id, "the SMS", "confirmation")
    # A client whose Temporal has gone away: its calls fail as the API's do in an outage
    # (after the SDK's retries, about 8 s: within the 15 s Twilio waits for an answer).
    gone = await start_dev_server()
    await gone.shutdown()
    app = create_app(stack.settings, client=gone.client, pool=stack.pool)
    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": phone, "To": "+48500000000"}
    form |= {"AccountSid": SID, "Body": "TAK"}
    receipt = {"MessageSid": confirmation["provider_id"], "MessageStatus": "undelivered"}
    receipt |= {"To": phone, "AccountSid": SID, "ErrorCode": "30003"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://promptly.test"
        ) as cut_off,
    ):
        # Posted together: each waits out the SDK's retries on its own.
        kept, noted = await asyncio.gather(
            cut_off.post("/inbound/sms", data=form, headers=stack.signed("/inbound/sms", form)),
            cut_off.post(
                "/inbound/sms/status",
                data=receipt,
                headers=stack.signed("/inbound/sms/status", receipt),
            ),
        )
    assert kept.status_code == 200 and kept.headers["X-Promptly-Outcome"] == "waiting"
    assert noted.status_code == 204 and noted.headers["X-Promptly-Outcome"] == "waiting"
    assert (await stack.status(appointment_id))["status"] == "Booked"

    client, pool, settings = stack.client, stack.pool, stack.settings
    assert (
        await act_on_waiting(WAITING_REPLIES, client, pool, settings, older_than=timedelta(0)) >= 1
    )
    assert (
        await act_on_waiting(WAITING_RECEIPTS, client, pool, settings, older_than=timedelta(0)) >= 1
    )

    view = await stack.status(appointment_id)
    assert view["status"] == "Confirmed"
    assert status_entries(view)[-1]["detail"] == "Client confirmed by sms reply"
    [fallback] = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert fallback["recipient"] == email
    async with stack.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT outcome FROM inbound_messages WHERE provider_id = %s",
                (form["MessageSid"],),
            )
        ).fetchone()
    assert row == ("confirmed",)
    # The next round finds nothing left, and Twilio posting the reply again changes nothing.
    assert (
        await act_on_waiting(WAITING_RECEIPTS, client, pool, settings, older_than=timedelta(0)) == 0
    )
    again = await stack.sms_reply(phone, "TAK", form["MessageSid"])
    assert again.headers["X-Promptly-Outcome"] == "confirm:duplicate"


async def test_r_gets_the_reschedule_link_and_other_text_becomes_one_task(stack: Stack) -> None:
    appointment_id, phone, _ = await stack.book()
    case_id = f"appointment-{appointment_id}"
    await until(lambda: asyncio.sleep(0, stack.fake.sent_to(phone)), "the confirmation")

    answer = await stack.sms_reply(phone, "R")
    assert answer.headers["X-Promptly-Outcome"] == "reschedule:reschedule_link"
    sent = await until(
        lambda: asyncio.sleep(0, stack.fake.sent_to(phone)[1:]), "the reschedule link"
    )
    link = next(w for w in (sent[0].body or "").split() if "/c/" in w)
    claims = links.verify(
        stack.settings.keyring(keys.LINKS), link.split("/c/")[1], datetime.now(UTC)
    )
    assert (claims.case_id, claims.action) == (case_id, "reschedule")
    assert claims.moves == 0  # spent once the visit moves, even back to this time

    sid = f"SM{uuid.uuid4().hex}"
    for _ in range(2):
        other = await stack.sms_reply(phone, "Can I bring my daughter?", sid)
        assert other.status_code == 200
    # The reply's one notice workflow has written the task once both deliveries are answered.
    await stack.client.get_workflow_handle(f"reply-{sid}").result()
    replies = await _kind(tasks(stack.pool, case_id), "client_reply")
    assert len(replies) == 1 and "Can I bring my daughter?" in replies[0]["details"]
    done = await stack.http.post(
        f"/tasks/{replies[0]['id']}/complete", json={"outcome": "handled"}, headers=STAFF_KEY
    )
    assert done.status_code == 200, done.text
    assert done.json()["task"]["status"] == "done"
    assert (await stack.status(appointment_id))["status"] == "Booked"


def _only_link(body: str | None) -> str:
    """The path of the one link a text message carries."""
    [link] = [w for w in (body or "").split() if "/c/" in w]
    return link.removeprefix(PUBLIC)


async def _texts(stack: Stack, phone: str, count: int) -> list[str]:
    sent = await until(
        lambda: asyncio.sleep(0, stack.fake.sent_to(phone)[count - 1 :]), f"text {count}"
    )
    return [m.body or "" for m in stack.fake.sent_to(phone)][: count - 1 + len(sent)]


async def test_an_sms_client_cancels_from_the_one_link_and_is_told_what_it_costs(
    stack: Stack,
) -> None:
    """The confirmation's link opens the visit with its other actions; the cancellation text
    says whether it is charged, and a provider's cancellation carries a working new-time link."""
    for hours_ahead, text in ((120, "odwolana bez oplat"), (10, "oplata jak za odbyta")):
        appointment_id, phone, _ = await stack.book(hours_ahead=hours_ahead)
        [confirmation] = await _texts(stack, phone, 1)
        assert "Zmien/odwolaj: " in confirmation
        page = await stack.http.get(_only_link(confirmation))
        cancel = page_options(page)["Odwołanie wizyty"]
        done = await stack.http.post(cancel, data={"reason": "wyjazd"})
        assert done.status_code == 200, done.text
        *_, cancellation = await _texts(stack, phone, 2)
        assert text in cancellation and "/c/" not in cancellation, cancellation
        status = (await stack.status(appointment_id))["status"]
        assert status == ("Cancelled" if hours_ahead == 120 else "LateCancelled")

    appointment_id, phone, _ = await stack.book()
    await _texts(stack, phone, 1)
    provider = {"reason": "provider ill", "actor": {"kind": "provider", "id": "P-3"}}
    cancelled = await stack.http.post(
        f"/appointments/{appointment_id}/cancel", json=provider, headers=key(ApiRole.ADMIN)
    )
    assert cancelled.status_code == 200, cancelled.text
    *_, sorry = await _texts(stack, phone, 2)
    assert "Nowy termin bez oplat: " in sorry
    form = await stack.http.get(_only_link(sorry))
    assert form.status_code == 200 and 'type="datetime-local"' in form.text
    assert "Po naszym opóźnieniu lub odwołaniu zmiana terminu" in form.text  # no 24h fee note


async def _kind(rows: Awaitable[list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [r for r in await rows if r["kind"] == kind]


async def test_stop_opts_out_at_once_and_later_messages_go_by_email(stack: Stack) -> None:
    first, phone, email = await stack.book()
    await until(lambda: asyncio.sleep(0, stack.fake.sent_to(phone)), "the confirmation")
    client_id = await _client_of(stack, first)

    # CANCEL is a carrier opt-out word: it opts out, it cancels nothing.
    answer = await stack.sms_reply(phone, "CANCEL")
    assert answer.headers["X-Promptly-Outcome"] == "opt_out:opted_out"
    async with stack.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT opted_out FROM sms_numbers WHERE phone = %s", (phone,))
        ).fetchone()
    assert row == (True,)  # stored before the answer went back
    await stack.sms_reply(phone, "STOP")  # a second opt-out: no second notice
    notices = await until(
        lambda: asyncio.sleep(0, stack.fake.sent_to(phone)[1:]), "the opt-out notice"
    )
    assert "START" in (notices[0].body or "")
    # The client may have meant the visit: the front desk is asked to check, once (not for STOP).
    [meant] = await until(
        lambda: _kind(tasks(stack.pool, f"appointment-{first}"), "client_reply"), "the task"
    )
    assert "CANCEL" in meant["details"] and "meant to cancel it" in meant["details"]

    # The same client books again, 30h ahead: confirmation and reminder both go right away.
    second, _, _ = await stack.book(email=email, phone=phone, client_id=client_id, hours_ahead=30)
    case_id = f"appointment-{second}"
    rows = await _handed_over(
        stack, case_id, "confirmation and reminder", "confirmation", "reminder"
    )
    assert {r["channel"] for r in rows} == {"email"}
    assert {r["recipient"] for r in rows} == {email}
    # A send's row is written before the case notes it: read the view once the case is idle.
    await settled(stack.client, case_id)
    view = await stack.status(second)
    sent = [e for e in view["timeline"] if e["kind"] == "message"]
    # A call task for the front desk is noted as a message too, and names no recipient.
    to_client = [e for e in sent if e["data"].get("recipient") == "client"]
    assert to_client
    assert {e["data"]["channel"] for e in to_client} == {"email"}
    assert len(stack.fake.sent_to(phone)) == 2  # the first confirmation and the one notice

    back = await stack.sms_reply(phone, "START")
    assert back.headers["X-Promptly-Outcome"] == "opt_in:opted_in"
    await until(lambda: asyncio.sleep(0, stack.fake.sent_to(phone)[2:]), "the opt-in notice")

    # The client's history shows the consent and every reply with what was done.
    history = await stack.http.get(
        f"/history/clients/{client_id}?format=md", headers=key(ApiRole.COMPLIANCE)
    )
    assert history.status_code == 200, history.text
    assert f"SMS: {phone} opted back in" in history.text
    assert f'sms from {phone}: "CANCEL" → opt_out, opted_out' in history.text
    assert f'sms from {phone}: "START" → opt_in, opted_in' in history.text


async def _client_of(stack: Stack, appointment_id: str) -> str:
    async with stack.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT client_id FROM cases WHERE business_id = %s", (appointment_id,)
            )
        ).fetchone()
    assert row is not None
    return str(row[0])


async def _handed_over(
    stack: Stack, case_id: str, what: str, *templates: str
) -> list[dict[str, Any]]:
    """The case's ledger rows of `templates`, once each has been handed to its channel."""
    wanted = set(templates)

    async def found() -> list[dict[str, Any]] | None:
        rows = await messages(stack.pool, case_id)
        handed = [r for r in rows if r["template"] in wanted and r["status"] != "pending"]
        return handed if {r["template"] for r in handed} == wanted else None

    rows: list[dict[str, Any]] = await until(found, what)
    return rows


async def test_an_undelivered_reminder_goes_by_email_and_the_front_desk_is_told(
    stack: Stack,
) -> None:
    appointment_id, phone, email = await stack.book(hours_ahead=30)
    case_id = f"appointment-{appointment_id}"
    rows = await _handed_over(stack, case_id, "both SMS", "confirmation", "reminder")
    by_template = {r["template"]: r for r in rows}

    delivered = await stack.receipt(phone, by_template["confirmation"]["provider_id"], "delivered")
    assert delivered.status_code == 204
    reminder_sid = by_template["reminder"]["provider_id"]
    lost = await stack.receipt(phone, reminder_sid, "undelivered", "30003")
    assert lost.headers["X-Promptly-Outcome"] == "fallback"
    await stack.receipt(phone, reminder_sid, "undelivered", "30003")  # sent twice by Twilio

    fallback = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert len(fallback) == 1
    assert (fallback[0]["channel"], fallback[0]["recipient"]) == ("email", email)
    # The text as the SMS had it, with a link that works (the ledger kept none).
    [placeholder] = re.findall(r"\[confirm link, token [^\]]+\]", by_template["reminder"]["body"])
    before, after = by_template["reminder"]["body"].split(placeholder)
    assert before in fallback[0]["body"] and after in fallback[0]["body"]
    [link] = re.findall(rf"{PUBLIC}(/c/\S+)", fallback[0]["body"])
    served = await stack.http.get(link)
    assert served.status_code == 200 and "Physiotherapy consultation" in served.text
    claims = links.verify(stack.settings.keyring(keys.LINKS), link[3:], datetime.now(UTC))
    assert claims.moves == 0  # spent like the SMS's own links once the visit moves
    [task] = await until(lambda: _kind(tasks(stack.pool, case_id), "client_reply"), "the task")
    assert phone in task["title"] and "30003" in task["details"]
    async with stack.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT template, delivery_status, delivery_error_code FROM messages"
            " WHERE case_id = %s AND channel = 'sms' ORDER BY id",
            (case_id,),
        )
        receipts = {
            r["template"]: (r["delivery_status"], r["delivery_error_code"])
            for r in await cur.fetchall()
        }
    assert receipts == {
        "confirmation": ("delivered", None),
        "reminder": ("undelivered", "30003"),
    }
    # The compliance history shows each receipt beside its message.
    history = await stack.http.get(
        f"/history/cases/{appointment_id}?format=md", headers=key(ApiRole.COMPLIANCE)
    )
    assert history.status_code == 200, history.text
    assert "receipt: undelivered (30003)" in history.text
    assert "receipt: delivered" in history.text


async def test_an_undelivered_sms_to_a_shared_number_is_emailed_to_its_own_client(
    stack: Stack,
) -> None:
    """Two clients share a phone (a family's number). The fallback of A's lost SMS carries
    A's freshly signed links, so it goes to A's email, even when B's contacts changed last."""
    first_id, phone, first_email = await stack.book()
    first_case = f"appointment-{first_id}"
    [lost_sms] = await _handed_over(stack, first_case, "A's SMS", "confirmation")
    second_id, _, second_email = await stack.book(phone=phone)
    # B's contacts are now the ones updated last.
    await _handed_over(stack, f"appointment-{second_id}", "B's SMS", "confirmation")

    lost = await stack.receipt(phone, lost_sms["provider_id"], "undelivered", "30003")
    assert lost.headers["X-Promptly-Outcome"] == "fallback"

    [fallback] = await _handed_over(stack, first_case, "the email", "undelivered_sms")
    assert (fallback["channel"], fallback["recipient"]) == ("email", first_email)
    async with stack.pool.connection() as conn:
        to_second = await (
            await conn.execute(
                "SELECT template FROM messages WHERE recipient = %s", (second_email,)
            )
        ).fetchall()
    assert to_second == []  # B got nothing of A's, least of all A's links


async def test_an_undelivered_inquiry_answer_reaches_the_customer_by_email(stack: Stack) -> None:
    """Every SMS to a client falls back when Twilio reports it lost, not only the ones a
    promise counts: an answer the customer never got is the case not kept."""
    phone = f"+48{random.randint(600_000_000, 799_999_999)}"
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    customer = {
        **complaint_payload()["customer"],
        "id": f"C-{uuid.uuid4().hex[:8]}",
        "email": email,
        "phone": phone,
        "preferred_channel": "sms",
    }
    request = inquiry(customer=customer)
    base = f"/inquiries/{request.inquiry_id}"
    recorded = await stack.http.post(
        "/inquiries", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert recorded.status_code == 201, recorded.text
    case_id = request.workflow_id
    stack.started.append(case_id)
    await _handed_over(stack, case_id, "the acknowledgement", "inquiry_ack")
    answer = "Tak: w soboty 9:00-13:00, zapisy online."
    answered = await stack.http.post(f"{base}/answer", json={"text": answer}, headers=STAFF_KEY)
    assert answered.status_code == 200, answered.text
    [sms] = await _handed_over(stack, case_id, "the answer", "inquiry_answer")
    assert answer in (stack.fake.sent_to(phone)[-1].body or "")

    lost = await stack.receipt(phone, sms["provider_id"], "undelivered", "30003")
    assert lost.headers["X-Promptly-Outcome"] == "fallback"

    [fallback] = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert (fallback["channel"], fallback["recipient"]) == ("email", email)
    assert answer in fallback["body"]
    [task] = await until(lambda: _kind(tasks(stack.pool, case_id), "client_reply"), "the task")
    assert phone in task["title"] and "inquiry_answer" in task["title"]


async def test_a_lost_sms_proposal_read_out_by_the_desk_takes_the_customers_verdict(
    stack: Stack,
) -> None:
    """A customer with no email whose proposal SMS was lost hears it from the desk (the text
    passed on by phone): the verdict they give on that call is the proposal's answer."""
    phone = f"+48{random.randint(600_000_000, 799_999_999)}"
    customer = complaint_payload()["customer"] | {
        "id": f"C-{uuid.uuid4().hex[:8]}",
        "email": None,
        "phone": phone,
        "preferred_channel": "sms",
        "locale": "en",
    }
    body = complaint_payload(customer=customer)
    case_id = f"complaint-{body['complaint_id']}"
    filed = await stack.http.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert filed.status_code == 201, filed.text
    stack.started.append(case_id)
    proposed = await stack.http.post(
        f"/complaints/{body['complaint_id']}/propose_resolution",
        json={"resolution": "A refund of the visit."},
        headers=STAFF_KEY,
    )
    assert proposed.status_code == 200, proposed.text
    [sms] = await _handed_over(stack, case_id, "the SMS", "resolution_proposed")
    lost = await stack.receipt(phone, sms["provider_id"], "undelivered", "30003")
    assert lost.headers["X-Promptly-Outcome"] == "fallback"

    [call] = await until(lambda: _kind(tasks(stack.pool, case_id), "call_client"), "the call")
    assert "A refund of the visit." in call["details"]
    told = await stack.http.post(
        f"/tasks/{call['id']}/complete",
        json={"outcome": "reached", "satisfied": True},
        headers=STAFF_KEY,
    )
    assert told.status_code == 200, told.text
    assert told.json()["case"]["status"] == "Closed"
    details = [e["detail"] for e in told.json()["case"]["timeline"]]
    assert "Customer satisfied with the resolution on the phone to desk" in details


async def test_an_email_reply_tak_bede_confirms(stack: Stack) -> None:
    appointment_id, _, email = await stack.book(channel="email")
    case_id = f"appointment-{appointment_id}"
    [sent] = await _handed_over(stack, case_id, "the email", "confirmation")
    reply = {
        "from": f"Anna Nowak <{email.upper()}>",
        "to": "reply@promptly.example",
        "subject": f"Re: {sent['subject']}",
        # A long thread quoted below the answer: more than Starlette's 1 MiB a field.
        "text": "Tak, będę\n\nW dniu pon., 30 lis 2026 o 10:00 Promptly napisał(a):\n> Dzień\n"
        + "> earlier message in the thread\n" * 40_000,
        "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example>\nSubject: Re",
    } | sendgrid_checks(email)
    wrong = await stack.http.post("/inbound/email/not-the-token", files=_multipart(reply))
    assert wrong.status_code == 404
    # With the photo the client attached: larger than any API request, as emails are.
    photo: dict[str, tuple[str | None, Any, str | None]] = {
        "attachment1": ("scan.jpg", os.urandom(300 * 1024), "image/jpeg")
    }
    answer = await stack.http.post(
        f"/inbound/email/{EMAIL_TOKEN}",
        files=_multipart(reply) | photo,
        headers={"Idempotency-Key": str(uuid.uuid4())},  # a relay may add one: not ours
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"intent": "confirm", "action": "confirmed"}
    view = await stack.status(appointment_id)
    assert view["status"] == "Confirmed"
    assert status_entries(view)[-1]["detail"] == "Client confirmed by email reply"


async def test_an_email_reply_while_temporal_is_away_is_posted_again_by_sendgrid(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Unlike Twilio, SendGrid posts an email again while the API answers 5xx: an outage is a
    503 with Retry-After (logged without the token in the URL), and the repeat confirms."""
    appointment_id, _, email = await stack.book(channel="email")
    case_id = f"appointment-{appointment_id}"
    [sent] = await _handed_over(stack, case_id, "the email", "confirmation")
    reply = {
        "from": f"Anna Nowak <{email}>",
        "subject": f"Re: {sent['subject']}",
        "text": "Tak",
        "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example>",
    } | sendgrid_checks(email)
    path = f"/inbound/email/{EMAIL_TOKEN}"
    gone = await start_dev_server()
    await gone.shutdown()
    app = create_app(stack.settings, client=gone.client, pool=stack.pool)
    with caplog.at_level(logging.WARNING, logger="promptly"):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://promptly.test"
            ) as cut_off,
        ):
            refused = await cut_off.post(path, files=_multipart(reply))
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "60"
    logged = "\n".join(
        caplog.handler.format(r) for r in caplog.records if r.name.startswith("promptly")
    )
    assert "POST /inbound/email/{token}: Temporal is unreachable" in logged
    assert EMAIL_TOKEN not in logged
    assert (await stack.status(appointment_id))["status"] == "Booked"

    again = await stack.http.post(path, files=_multipart(reply))  # SendGrid's next attempt
    assert again.json() == {"intent": "confirm", "action": "confirmed"}
    assert (await stack.status(appointment_id))["status"] == "Confirmed"


async def test_an_inbound_post_without_its_fields_names_each_one(stack: Stack) -> None:
    """A 422 from the inbound routes says which field, as every other route does."""
    no_sender = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": SID, "Body": "TAK"}
    nothing = {"AccountSid": SID, "Body": "TAK"}
    no_sid = {"MessageStatus": "delivered", "AccountSid": SID}
    sent = [
        ("/inbound/sms", no_sender, ["From"]),
        ("/inbound/sms", nothing, ["MessageSid", "From"]),
        ("/inbound/sms/status", no_sid, ["MessageSid"]),
    ]
    for path, form, fields in sent:
        answer = await stack.http.post(path, data=form, headers=stack.signed(path, form))
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == fields
        assert {e["reason"] for e in answer.json()["errors"]} == {"required"}
        assert answer.json()["request_id"] == answer.headers["x-request-id"]
    no_address = {"from": "no address here", "text": "Tak"}
    answer = await stack.http.post(f"/inbound/email/{EMAIL_TOKEN}", files=_multipart(no_address))
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "from", "reason": "no sender address"}]


async def test_a_forged_email_yes_confirms_nothing_and_the_front_desk_is_told(
    stack: Stack,
) -> None:
    """Anyone can write a client's address into From:. SendGrid posts what SPF and DKIM said;
    a reply neither vouches for would have stopped the follow-up calls of a client who may
    not come."""
    appointment_id, _, email = await stack.book(channel="email")
    case_id = f"appointment-{appointment_id}"
    await _handed_over(stack, case_id, "the email", "confirmation")
    forged = {
        "from": f"Anna Nowak <{email}>",
        "subject": f"Re: {appointment_id}",
        "text": "Yes",
        "headers": f"Message-ID: <{uuid.uuid4().hex}@evil.example>",
        "SPF": "fail",
        "dkim": "none",
        "envelope": json.dumps({"to": ["reply@promptly.example"], "from": email}),
    }
    answer = await stack.http.post(f"/inbound/email/{EMAIL_TOKEN}", files=_multipart(forged))
    assert answer.json() == {"intent": "confirm", "action": "task"}
    assert (await stack.status(appointment_id))["status"] == "Booked"
    [task] = await until(lambda: _kind(tasks(stack.pool, case_id), "client_reply"), "the task")
    assert "sender not verified: SPF fail, DKIM none" in task["details"]

    domain = email.rpartition("@")[2]
    signed = forged | {
        "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example>",
        "dkim": f"{{@{domain} : pass}}",
    }
    answer = await stack.http.post(f"/inbound/email/{EMAIL_TOKEN}", files=_multipart(signed))
    assert answer.json() == {"intent": "confirm", "action": "confirmed"}
    assert (await stack.status(appointment_id))["status"] == "Confirmed"


@pytest.mark.parametrize("channel", ["email", "sms"])
async def test_a_reply_to_an_inquiry_is_filed_there_and_confirms_no_appointment(
    stack: Stack, channel: str
) -> None:
    """The client has a visit awaiting confirmation and asked a question; the "Tak, dziękuję"
    they send after our acknowledgement answers the inquiry, by email or by SMS."""
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    appointment_id, phone, email = await stack.book(channel=channel, client_id=client_id)
    await _handed_over(stack, f"appointment-{appointment_id}", "the confirmation", "confirmation")
    customer = {
        **complaint_payload()["customer"],
        "id": client_id,
        "email": email,
        "phone": phone,
        "preferred_channel": channel,
    }
    request = inquiry(customer=customer)
    recorded = await stack.http.post(
        "/inquiries", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert recorded.status_code == 201, recorded.text
    case_id = request.workflow_id
    stack.started.append(case_id)
    [ack] = await _handed_over(stack, case_id, "the acknowledgement", "inquiry_ack")

    if channel == "sms":
        assert stack.fake.sent_to(phone)[-1].body == ack["body"]
        answer = await stack.sms_reply(phone, "Tak, dziękuję")
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Promptly-Outcome"] == "confirm:task"
    else:
        reply = {
            "from": email,
            "to": "reply@promptly.example",
            "subject": f"Re: {ack['subject']}",
            "text": "Tak, dziękuję",
            "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example>\nSubject: Re",
        } | sendgrid_checks(email)
        answer = await stack.http.post(f"/inbound/email/{EMAIL_TOKEN}", files=_multipart(reply))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"intent": "confirm", "action": "task"}
    assert (await stack.status(appointment_id))["status"] == "Booked"
    [task] = await until(
        lambda: _kind(tasks(stack.pool, case_id), "client_reply"), "the task on the inquiry"
    )
    assert "Tak, dziękuję" in task["details"] and "inquiry" in task["details"]


async def test_a_reply_quoting_nothing_goes_with_the_open_complaint_not_the_last_text(
    stack: Stack,
) -> None:
    """A complaint about a fee is open and the client asked a question since: "Why was I
    charged twice??" answers our last SMS (the inquiry's acknowledgement) but is about the
    complaint, and its export shows it. Nothing here waits for a complaint's text, so the
    hour the server's clock reads (quiet hours) changes nothing; once the inquiry is answered,
    a reply left open there reads as such in the task list."""
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    phone = f"+48{random.randint(600_000_000, 799_999_999)}"
    customer = {
        **complaint_payload()["customer"],
        "id": client_id,
        "email": f"c{uuid.uuid4().hex[:8]}@example.com",
        "phone": phone,
        "preferred_channel": "sms",
    }
    # The complaint writes by email: our last SMS is the inquiry's, whenever the complaint's
    # own messages go out.
    payload = complaint_payload(
        customer=customer | {"preferred_channel": "email"},
        category="billing",
        appointment_id=None,
    )
    opened = await stack.http.post("/complaints", json=payload, headers=BACKOFFICE_KEY)
    assert opened.status_code == 201, opened.text
    complaint_case = f"complaint-{payload['complaint_id']}"
    stack.started.append(complaint_case)
    question = inquiry(customer=customer)
    asked = await stack.http.post(
        "/inquiries", json=question.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert asked.status_code == 201, asked.text
    stack.started.append(question.workflow_id)
    await _handed_over(stack, question.workflow_id, "the acknowledgement", "inquiry_ack")

    text = "Why was I charged twice??"
    sid = f"SM{uuid.uuid4().hex}"
    answer = await stack.sms_reply(phone, text, sid)
    assert answer.headers["X-Promptly-Outcome"] == "other:task", answer.text
    await stack.client.get_workflow_handle(f"reply-{sid}").result()  # the task is written
    [task] = await _kind(tasks(stack.pool, complaint_case), "client_reply")
    assert text in task["details"]
    assert f"filed with the open complaint {payload['complaint_id']}" in task["details"]
    assert await _kind(tasks(stack.pool, question.workflow_id), "client_reply") == []
    history = await stack.http.get(
        f"/history/cases/{payload['complaint_id']}", headers=key(ApiRole.COMPLIANCE)
    )
    [reply] = [e for e in history.json()["entries"] if e["kind"] == "reply"]
    assert reply["reply"]["body"] == text and reply["reply"]["outcome"] == "task"

    # A reference quoted in the text files the reply there, open complaint or not.
    quoting = await stack.sms_reply(phone, f"About {question.inquiry_id}: Saturday at 10?")
    assert quoting.headers["X-Promptly-Outcome"] == "other:task", quoting.text
    [filed] = await until(
        lambda: _kind(tasks(stack.pool, question.workflow_id), "client_reply"), "the task"
    )
    answered = await stack.http.post(
        f"/inquiries/{question.inquiry_id}/answer",
        json={"text": "We are open on Saturdays 9-14."},
        headers=STAFF_KEY,
    )
    assert answered.status_code == 200, answered.text

    async def left_open() -> list[dict[str, Any]]:
        listed = await stack.http.get(
            "/tasks", params={"case_id": question.workflow_id}, headers=STAFF_KEY
        )
        return [t for t in listed.json()["items"] if t["case_ended"]]

    [still] = await until(left_open, "the inquiry's end in the task list")
    assert (still["id"], still["status"], still["case_status"]) == (filed["id"], "open", "Answered")


def _multipart(fields: dict[str, str]) -> dict[str, tuple[str | None, Any, str | None]]:
    return {name: (None, value, None) for name, value in fields.items()}


async def test_the_cli_reply_is_signed_as_twilio_signs(stack: Stack) -> None:
    appointment_id, phone, _ = await stack.book()
    await until(lambda: asyncio.sleep(0, stack.fake.sent_to(phone)), "the confirmation")

    url, form, headers = signed_reply(stack.settings, phone, "T", f"SM{uuid.uuid4().hex}")

    assert url == f"{PUBLIC}/inbound/sms"
    answer = await stack.http.post("/inbound/sms", data=form, headers=headers)
    assert answer.headers["X-Promptly-Outcome"] == "confirm:confirmed"
    assert (await stack.status(appointment_id))["status"] == "Confirmed"


async def test_make_run_starts_a_twilio_fake_and_keeps_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "BASE_URL"):
        # Set, then removed: recorded, so the test leaves them as it found them.
        monkeypatch.setenv(f"PROMPTLY_TWILIO_{name}", "")
        monkeypatch.delenv(f"PROMPTLY_TWILIO_{name}")
    with twilio_fake(tmp_path, port=0) as env:
        listing = httpx.get(f"{env['PROMPTLY_TWILIO_BASE_URL']}/messages")
        assert listing.status_code == 200 and listing.json() == []
        settings = Settings()
        assert settings.twilio_auth_token is not None
        token = settings.twilio_auth_token.get_secret_value()
    assert (tmp_path / "twilio-token").read_text().strip() == token
    # The fake is gone, and so are the settings that pointed at it.
    assert not [name for name in os.environ if name.startswith("PROMPTLY_TWILIO_")]
