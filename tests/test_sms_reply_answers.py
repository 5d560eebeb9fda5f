"""What a client who answers by SMS hears back, and what their answer does, end to end: the
TwiML Twilio relays to them, the case's status, timeline and tasks. The HTTP app and a worker
on the Temporal dev server and PostgreSQL, SMS through the real `twilio` client to the local
Twilio fake (the `stack` of tests/test_sms_replies.py)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from promptly.domain.common import Locale
from promptly.domain.rendering import when_short
from promptly.domain.sms import to_gsm7
from tests.api_support import BACKOFFICE_KEY, STAFF_KEY
from tests.complaint_helpers import complaint_payload
from tests.helpers import messages, tasks, until
from tests.test_sms_replies import Stack, _kind, _only_link, _texts
from tests.test_sms_replies import stack as sms_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
stack = sms_stack  # the same fixture: the app, a worker and the Twilio fake

PASSED_ON_PL = "Dziekujemy, przekazalismy Twoja odpowiedz recepcji; oddzwonimy."


def said(answer: httpx.Response) -> list[str]:
    """The texts Twilio sends back to the client: the <Message>s of the TwiML answer."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    root = ElementTree.fromstring(answer.text)
    assert root.tag == "Response"
    return [message.text or "" for message in root.findall("Message")]


async def _reply_task(stack: Stack, case_id: str) -> list[dict[str, Any]]:
    return await _kind(tasks(stack.pool, case_id), "client_reply")


async def test_tak_is_answered_with_the_visit_it_confirmed(stack: Stack) -> None:
    appointment_id, phone, _ = await stack.book()
    [confirmation] = await _texts(stack, phone, 1)
    assert "STOP = koniec SMS" in confirmation and "rezygnacja" not in confirmation

    sid = f"SM{uuid.uuid4().hex}"
    answer = await stack.sms_reply(phone, "Tak, będę. Dziękuję bardzo!", sid)
    view = await stack.status(appointment_id)
    assert view["status"] == "Confirmed"
    start = datetime.fromisoformat(view["start"])
    when = to_gsm7(when_short(start, Locale.PL, "Europe/Warsaw", "Europe/Warsaw"))
    assert said(answer) == [f"Dziekujemy, wizyta potwierdzona: {when}."]
    # Twilio delivering the webhook twice: the same answer, nothing done twice.
    again = await stack.sms_reply(phone, "Tak, będę. Dziękuję bardzo!", sid)
    assert again.headers["X-Promptly-Outcome"] == "confirm:duplicate"
    assert said(again) == said(answer)
    timeline = (await stack.status(appointment_id))["timeline"]
    confirmed = [e for e in timeline if e["detail"] == "Client confirmed by sms reply"]
    assert len(confirmed) == 1
    # What the client was told is on the case's record, once, as every message we send.
    [told] = [
        m
        for m in await messages(stack.pool, f"appointment-{appointment_id}")
        if m["channel"] == "sms" and m["template"] == "reply_answer"
    ]
    assert (told["body"], told["recipient"], told["status"]) == (said(answer)[0], phone, "sent")


@pytest.mark.parametrize("text", ["Tak, odwołuję", "Yes but can’t come", "NIE"])
async def test_a_reply_that_is_no_yes_goes_to_the_front_desk_and_the_client_is_told(
    stack: Stack, text: str
) -> None:
    appointment_id, phone, _ = await stack.book()
    await _texts(stack, phone, 1)
    sid = f"SM{uuid.uuid4().hex}"
    answer = await stack.sms_reply(phone, text, sid)
    assert answer.headers["X-Promptly-Outcome"].endswith(":task")
    assert said(answer) == [PASSED_ON_PL]
    again = await stack.sms_reply(phone, text, sid)
    assert said(again) == [PASSED_ON_PL]

    await stack.client.get_workflow_handle(f"reply-{sid}").result()
    [task] = await _reply_task(stack, f"appointment-{appointment_id}")
    assert text in task["details"]
    assert (await stack.status(appointment_id))["status"] == "Booked"


async def test_stop_gets_no_second_answer_and_its_notice_says_the_visit_stands(
    stack: Stack,
) -> None:
    appointment_id, phone, _ = await stack.book()
    await _texts(stack, phone, 1)
    answer = await stack.sms_reply(phone, "STOP")
    assert answer.headers["X-Promptly-Outcome"] == "opt_out:opted_out"
    assert said(answer) == []  # Twilio's opt-out handling answers STOP itself
    *_, notice = await _texts(stack, phone, 2)
    assert "Wznowienie: odpisz START" in notice and "nadal aktualna" in notice, notice
    link = await stack.http.get(_only_link(notice))
    assert link.status_code == 200 and "Odwołanie wizyty" in link.text
    assert (await stack.status(appointment_id))["status"] == "Booked"
    # A later reply to the opted-out number gets no text back either.
    later = await stack.sms_reply(phone, "NIE")
    assert said(later) == []


async def test_tak_with_two_visits_confirms_the_one_our_last_text_asked_about(
    stack: Stack,
) -> None:
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    later, phone, email = await stack.book(client_id=client_id, hours_ahead=200)
    await _texts(stack, phone, 1)
    sooner, _, _ = await stack.book(client_id=client_id, phone=phone, email=email, hours_ahead=120)
    await _texts(stack, phone, 2)  # the second visit's confirmation: the latest text

    answer = await stack.sms_reply(phone, "TAK")
    assert answer.headers["X-Promptly-Outcome"] == "confirm:confirmed"
    assert said(answer)[0].startswith("Dziekujemy, wizyta potwierdzona: ")
    assert (await stack.status(sooner))["status"] == "Confirmed"
    assert (await stack.status(later))["status"] == "Booked"
    assert await _reply_task(stack, f"appointment-{later}") == []
    assert await _reply_task(stack, f"appointment-{sooner}") == []


async def _complaint_proposed(stack: Stack, locale: str) -> tuple[str, str]:
    """A complaint by an SMS customer, its resolution proposed: (complaint id, phone)."""
    phone = f"+48{random.randint(600_000_000, 799_999_999)}"
    customer = complaint_payload()["customer"] | {
        "id": f"C-{uuid.uuid4().hex[:8]}",
        "phone": phone,
        "email": None,
        "preferred_channel": "sms",
        "locale": locale,
    }
    body = complaint_payload(customer=customer)
    filed = await stack.http.post("/complaints", json=body, headers=BACKOFFICE_KEY)
    assert filed.status_code == 201, filed.text
    stack.started.append(f"complaint-{body['complaint_id']}")
    await _texts(stack, phone, 1)  # the acknowledgement
    proposed = await stack.http.post(
        f"/complaints/{body['complaint_id']}/propose_resolution",
        json={"resolution": "Zwrot 50 zł."},
        headers=STAFF_KEY,
    )
    assert proposed.status_code == 200, proposed.text
    await _texts(stack, phone, 2)  # the proposal
    return body["complaint_id"], phone


async def _complaint(stack: Stack, complaint_id: str) -> dict[str, Any]:
    view = await stack.http.get(f"/complaints/{complaint_id}", headers=STAFF_KEY)
    assert view.status_code == 200, view.text
    return dict(view.json())


async def test_an_sms_answer_to_the_resolution_proposal_is_the_customers_verdict(
    stack: Stack,
) -> None:
    unhappy, phone = await _complaint_proposed(stack, "pl")
    sid = f"SM{uuid.uuid4().hex}"
    answer = await stack.sms_reply(phone, "NIE, nie jestem zadowolona", sid)
    assert answer.headers["X-Promptly-Outcome"] == "other:verdict_not_satisfied"
    assert said(answer) == ["Dziekujemy, wracamy do Twojej reklamacji; odezwiemy sie."]
    again = await stack.sms_reply(phone, "NIE, nie jestem zadowolona", sid)
    assert said(again) == said(answer)
    view = await _complaint(stack, unhappy)
    assert view["status"] == "Open"  # reopened one tier up, not closed at the deadline
    [verdict] = [e for e in view["timeline"] if "not satisfied" in e["detail"]]
    assert verdict["actor"]["kind"] == "client"
    assert "by SMS reply: NIE, nie jestem zadowolona" in verdict["detail"]
    assert await _reply_task(stack, f"complaint-{unhappy}") == []

    happy, phone = await _complaint_proposed(stack, "en")
    answer = await stack.sms_reply(phone, "Yes, thanks")
    assert said(answer) == ["Thank you, your complaint is closed as resolved."]
    assert (await _complaint(stack, happy))["status"] == "Closed"

    # An answer less plain than yes or no is for a person: the proposal still waits.
    unsure, phone = await _complaint_proposed(stack, "pl")
    answer = await stack.sms_reply(phone, "Nie wiem, zwrot jeszcze nie doszedł")
    assert answer.headers["X-Promptly-Outcome"] == "other:task"
    assert said(answer) == [PASSED_ON_PL]
    assert (await _complaint(stack, unsure))["status"] == "ResolutionProposed"
    [task] = await until(lambda: _reply_task(stack, f"complaint-{unsure}"), "the task")
    assert "zwrot jeszcze nie" in task["details"]
    await asyncio.sleep(0)
