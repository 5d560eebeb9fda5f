"""A hold and a reopen cancel the complaint messages they supersede (patch
`complaint-moot-on-hold-and-reopen`), against SendGrid's fake answering 503.

After the channel recovers, the fake receives nothing the change made moot (asserted on the
fake's log, by idempotency key), the ledger says why it was abandoned, and nobody is asked
to pass it on by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.complaints.models import (
    AddNoteInput,
    CloseComplaintInput,
    ComplaintStatus,
    CustomerVerdictInput,
    HoldInput,
    NoteVisibility,
    ProposeResolutionInput,
)
from promptly.services.complaints import file_complaint
from promptly.workflows.complaint import ComplaintWorkflow
from tests.complaint_helpers import (
    AGENT,
    CUSTOMER,
    SUPERVISOR,
    advance_to,
    complaint,
    to_local_hour,
)
from tests.helpers import end_workflows, messages, settled, tasks, until
from tests.sendgrid_fake import SendGridFake

H = timedelta(hours=1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def retrying(sendgrid: SendGridFake) -> set[str]:
    return {r.template for r in sendgrid.requests if r.response.status == 503}


async def until_sent(env: WorkflowEnvironment, seen: Callable[[], bool], what: str) -> None:
    """Skip the server's clock a second at a time until `seen()`: a send's next attempt comes
    within its backoff, and one held at the fake costs at most a second of real time."""
    for _ in range(600):
        if seen():
            return
        await env.sleep(SECOND)
    raise AssertionError(f"timed out waiting for {what}")


async def _told_cancelled(caplog: pytest.LogCaptureFixture) -> bool:
    """The send's attempt held at the fake has heard of its cancellation (send_attempt.py)."""
    return any("send cancelled during the provider call" in r.getMessage() for r in caplog.records)


async def test_a_reopen_cancels_the_turned_down_proposal_still_retrying(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> None:
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(MINUTE)
    sendgrid.outage(503)
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A refund of the visit", actor=AGENT),
    )
    await env.sleep(10 * MINUTE)
    assert retrying(sendgrid) == {"resolution_proposed"}

    # The customer turned it down on the phone: the proposal is moot, the reopen is news.
    view = await handle.execute_update(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=False, comment="Not enough", actor=CUSTOMER),
    )
    assert view.status is ComplaintStatus.OPEN and view.reopened
    sendgrid.recover()
    await env.sleep(10 * MINUTE)
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded twice", actor=SUPERVISOR)
    )
    final = await handle.result()

    accepted = [r.template for r in sendgrid.accepted]
    assert "resolution_proposed" not in accepted
    assert {"complaint_alert", "escalation", "complaint_closed"} <= set(accepted)
    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    proposal = ledger["resolution_proposed"]
    assert proposal["status"] == "abandoned" and "cancelled" in proposal["last_error"]
    assert await tasks(pool, request.workflow_id) == []
    assert not [c for c in final.needs_attention if "not delivered" in c]


async def test_a_new_hold_cancels_the_news_of_the_last_hold_ending_still_retrying(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="temporalio.activity")
    await to_local_hour(env, 9)  # the hold runs out at 09:00: its end is told at once
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(MINUTE)
    hold = HoldInput(reason="Waiting for the receipt", actor=AGENT)
    held = await handle.execute_update(ComplaintWorkflow.hold, hold)
    assert held.hold_until is not None

    def hold_notices() -> int:
        return [r.template for r in sendgrid.accepted].count("complaint_on_hold")

    # The hold's notice goes beside the update: out before email goes down, not caught in it.
    await settled(env.client, handle.id)
    assert hold_notices() == 1

    # The hold runs out while email is down: its end is news still trying to go out ...
    sendgrid.outage(503)
    await advance_to(env, held.hold_until)
    await until_sent(env, lambda: "hold_ended" in retrying(sendgrid), "the hold's end refused")
    # ... when the customer is put on hold again: that news is no longer true. The new hold
    # cancels it while one of its attempts waits at SendGrid (answered 503 once released), not
    # between attempts: on the time-skipping server a cancel that crosses the end of an attempt
    # stalls the case for good (docs/testing.md).
    sendgrid.hold_answers()
    await until_sent(
        env, lambda: "hold_ended" in {r.template for r in sendgrid.held}, "an attempt held"
    )
    update = await handle.start_update(
        ComplaintWorkflow.hold, hold, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    await until(lambda: _told_cancelled(caplog), "the held attempt told of the cancel")
    sendgrid.release()
    again = await update.result()
    assert again.status is ComplaintStatus.ON_HOLD
    sendgrid.recover()

    # The new hold's own notice goes out once email is back (a few retry steps of the test
    # server's clock, with real time between them for a busy worker to run each attempt).
    for _ in range(40):
        if hold_notices() == 2:
            break
        await env.sleep(15 * SECOND)
        await asyncio.sleep(0.1)
    assert hold_notices() == 2
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Receipt found", actor=SUPERVISOR)
    )
    final = await handle.result()

    accepted = [r.template for r in sendgrid.accepted]
    assert "hold_ended" not in accepted
    assert "complaint_closed" in accepted
    ledger = {m["template"]: m for m in await messages(pool, request.workflow_id)}
    assert ledger["hold_ended"]["status"] == "abandoned"
    assert await tasks(pool, request.workflow_id) == []
    assert final.status is ComplaintStatus.CLOSED


async def test_two_notes_for_the_customer_at_once_both_reach_them(
    env: WorkflowEnvironment,
    email_worker: Worker,
    settings: Settings,
    sendgrid: SendGridFake,
) -> None:
    """Two agents write to the customer at the same moment: neither note overwrites the
    other, each is on the timeline once and each reaches the customer once."""
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(MINUTE)
    texts = ["We found the invoice.", "The refund is approved."]

    await asyncio.gather(
        *(
            handle.execute_update(
                ComplaintWorkflow.add_note,
                AddNoteInput(text=text, visibility=NoteVisibility.CUSTOMER, actor=AGENT),
            )
            for text in texts
        )
    )
    await settled(env.client, handle.id)

    view = await handle.query(ComplaintWorkflow.status)
    assert [sum(t in e.detail for e in view.timeline) for t in texts] == [1, 1]
    notes = [r for r in sendgrid.accepted if r.template == "complaint_note"]
    bodies = [str(r.body["content"][0]["value"]) for r in notes]
    assert len(notes) == 2 and all(sum(t in b for b in bodies) == 1 for t in texts)
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    await end_workflows(env, handle.id)
