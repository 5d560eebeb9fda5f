"""What a compliance officer reads of a client who answers by SMS: their reply and the front
desk's task for it in the case's history (JSON, Markdown, HTML), and an SMS Twilio could not
deliver in the client's export, end to end (tests/test_sms_replies.py's stack: the HTTP app, a
worker on the Temporal dev server, PostgreSQL and the local Twilio fake).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import ApiRole
from promptly.domain.readable_time import exact
from tests.api_support import STAFF_KEY, key
from tests.helpers import messages, tasks, until
from tests.test_sms_replies import Stack, _handed_over
from tests.test_sms_replies import stack as sms_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

stack = sms_stack  # the same fixture: the app, a worker and the Twilio fake

COMPLIANCE_KEY = key(ApiRole.COMPLIANCE)


async def test_a_reply_and_the_task_the_desk_closed_for_it_are_in_the_case_history(
    stack: Stack,
) -> None:
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    appointment_id, phone, _ = await stack.book(client_id=client_id)
    case_id = f"appointment-{appointment_id}"
    await until(lambda: asyncio.sleep(0, stack.fake.sent_to(phone)), "the confirmation")
    sid = f"SM{uuid.uuid4().hex}"
    question = "Can I bring my dog to the visit?"
    assert (await stack.sms_reply(phone, question, sid)).status_code == 200
    await stack.client.get_workflow_handle(f"reply-{sid}").result()  # the task is written
    [task] = [t for t in await tasks(stack.pool, case_id) if t["kind"] == "client_reply"]
    done = await stack.http.post(
        f"/tasks/{task['id']}/complete",
        json={
            "outcome": "handled",
            "note": "told her no dogs",
            "actor": {"kind": "staff", "id": "ewa"},
        },
        headers=STAFF_KEY,
    )
    assert done.status_code == 200, done.text

    path = f"/history/cases/{appointment_id}"
    history = (await stack.http.get(path, headers=COMPLIANCE_KEY)).json()
    [reply] = [e for e in history["entries"] if e["kind"] == "reply"]
    assert reply["actor"] == f"client:{client_id}" and reply["channel"] == "sms"
    assert reply["reply"]["body"] == question and reply["reply"]["outcome"] == "task"
    [listed] = [e for e in history["entries"] if e["task"] and e["task"]["task_id"] == task["id"]]
    assert listed["seq"] is None  # no timeline entry names it: listed when it was opened
    assert listed["at"] >= reply["at"]
    closed = listed["task"]
    assert (closed["outcome"], closed["note"]) == ("handled", "told her no dogs")
    assert closed["closed_by"] == "staff:ewa via desk" and closed["closed_at"]

    markdown = (await stack.http.get(path, params={"format": "md"}, headers=COMPLIANCE_KEY)).text
    assert f"  > {question}" in markdown
    assert "— done, outcome handled (told her no dogs), closed by staff:ewa via desk at " in (
        markdown
    )
    html = (await stack.http.get(path, params={"format": "html"}, headers=COMPLIANCE_KEY)).text
    for shown in (question, "reply: other → task", "told her no dogs", "staff:ewa via desk"):
        assert shown in html, shown


async def test_an_undelivered_sms_reads_so_in_the_client_export_and_the_case_html(
    stack: Stack,
) -> None:
    client_id = f"C-{uuid.uuid4().hex[:8]}"
    appointment_id, phone, _ = await stack.book(client_id=client_id)
    case_id = f"appointment-{appointment_id}"
    [sms] = await _handed_over(stack, case_id, "SMS", "confirmation")
    sid = sms["provider_id"]
    await stack.receipt(phone, sid, "undelivered", "30003")
    await _handed_over(stack, case_id, "email", "undelivered_sms")
    # When the receipt came and the SMS's Twilio id, as the ledger holds them, office time to
    # the second; the SMS's text with no subject (Twilio's Body has none).
    [sms] = [r for r in await messages(stack.pool, case_id) if r["provider_id"] == sid]
    zone = stack.settings.office_timezone
    receipt = f"undelivered (30003) at {exact(sms['delivery_updated_at'], zone)}"

    client_md = await stack.http.get(
        f"/history/clients/{client_id}", params={"format": "md"}, headers=COMPLIANCE_KEY
    )
    assert "| status | sent | provider id | receipt |" in client_md.text
    [row] = [line for line in client_md.text.splitlines() if "| confirmation | sms |" in line]
    escaped = receipt.replace("(", "\\(").replace(")", "\\)")  # Markdown's parentheses
    assert row.endswith(f"| {sid} | {escaped} |"), row
    assert f"| {exact(sms['sent_at'], zone)} |" in row and sms["subject"] not in row
    path = f"/history/cases/{appointment_id}"
    html = await stack.http.get(path, params={"format": "html"}, headers=COMPLIANCE_KEY)
    assert f"provider id {sid}, receipt: {receipt}" in html.text
    markdown = await stack.http.get(path, params={"format": "md"}, headers=COMPLIANCE_KEY)
    assert f"provider id {sid}, receipt: {receipt}" in markdown.text
    # Below the SMS's line, its text alone: no subject line above it, in either format.
    lines = markdown.text.splitlines()
    [at] = [n for n, line in enumerate(lines) if f"provider id {sid}" in line]
    assert lines[at + 1] == "" and lines[at + 2].startswith("  > ")
    assert not lines[at + 2].startswith("  > **") and "**" not in lines[at + 2]
    sent_text = html.text.split(f"provider id {sid}", 1)[1].split("</pre>", 1)[0]
    assert "<pre>" in sent_text and "<strong>" not in sent_text
    history = (await stack.http.get(path, headers=COMPLIANCE_KEY)).json()
    [exported] = [
        e["message"]
        for e in history["entries"]
        if e["message"] and e["message"]["message_id"] == sms["id"]
    ]
    assert exported["provider_message_id"] == sid and exported["sent_subject"] is None
    received = sms["delivery_updated_at"].replace(microsecond=0)  # the API answers to the second
    assert datetime.fromisoformat(exported["delivery_updated_at"]) == received

    # The terminal says what the API says, and a client with no case is an error in both.
    env = {"PROMPTLY_DATABASE_URL": stack.settings.database_url}
    listed = await asyncio.to_thread(
        CliRunner().invoke, app, ["history", "client", client_id], env=env
    )
    assert listed.exit_code == 0 and listed.stdout == client_md.text
    nobody = await stack.http.get("/history/clients/C-nobody", headers=COMPLIANCE_KEY)
    assert nobody.status_code == 404
    typo = await asyncio.to_thread(
        CliRunner().invoke, app, ["history", "client", "C-nobody"], env=env
    )
    assert typo.exit_code == 1 and typo.stdout == ""
    assert nobody.json()["reason"] in typo.stderr
