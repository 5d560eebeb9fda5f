"""A send cancelled while the provider is answering: the request has left, so the message may
be out whatever we do. The ledger and the workflow must hear what really happened: an
accepted message is `sent`, a refused one ends as cancelled and is not handed to anyone.

The real SendGrid client talks to the local fake, held mid-request until the test lets it
answer; the activity runs in Temporal's ActivityEnvironment, which cancels it as a workflow's
cancellation does (the attempt's asyncio task is cancelled).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import RescheduleInput
from promptly.domain.common import TimelineKind
from promptly.domain.messages import MessageStatus
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import CLIENT, appointment, messages, until
from tests.sendgrid_fake import FakeResponse, SendGridFake
from tests.test_appointment_outage import always_open
from tests.test_sendgrid_channel import API_KEY, activities, confirmation, environment, ledger_row

pytestmark = pytest.mark.asyncio(loop_scope="session")

CANCELLED_MID_CALL = "send cancelled during the provider call"


class HeldSendGrid(SendGridFake):
    """Takes each request, then answers only once `answer.set()` is called."""

    def __init__(self) -> None:
        super().__init__(api_key=API_KEY)
        self.received = threading.Event()
        self.answer = threading.Event()

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> FakeResponse:
        self.received.set()
        self.answer.wait(timeout=30)
        return super()._answer(method, path, headers, raw)


@pytest.fixture
def held() -> Iterator[HeldSendGrid]:
    with HeldSendGrid() as fake:
        yield fake


def noticed(caplog: pytest.LogCaptureFixture, sends: int) -> Callable[[], Awaitable[bool]]:
    """A check for `until`: `sends` sends have noticed their cancellation mid-call."""

    async def check() -> bool:
        return sum(CANCELLED_MID_CALL in r.getMessage() for r in caplog.records) >= sends

    return check


async def cancel_mid_call(
    held: HeldSendGrid, pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> tuple[str, asyncio.Task[object]]:
    """Start a send, cancel it while SendGrid holds the request, then let SendGrid answer."""
    request = confirmation()
    env = environment()
    sending: asyncio.Task[object] = asyncio.create_task(
        env.run(activities(pool, held).send_message, request)
    )
    assert await asyncio.to_thread(held.received.wait, 10), "the request never reached SendGrid"
    with caplog.at_level(logging.INFO, logger="temporalio.activity"):
        env.cancel()
        await until(noticed(caplog, 1), "the send to notice its cancellation", tries=50)
    held.answer.set()
    await asyncio.wait([sending], timeout=30)
    return request.idempotency_key, sending


async def test_a_message_sendgrid_accepts_after_the_cancel_is_recorded_as_sent(
    held: HeldSendGrid, pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    key, sending = await cancel_mid_call(held, pool, caplog)

    assert len(held.accepted) == 1  # it went out: nothing could call it back
    result = sending.result()  # the workflow hears it went, not "cancelled"
    assert getattr(result, "status", None) is MessageStatus.SENT
    row = await ledger_row(pool, key)
    assert row is not None and row["status"] == "sent"
    assert row["provider_id"] == held.accepted[0].message_id


async def test_a_message_sendgrid_refuses_after_the_cancel_ends_as_cancelled(
    held: HeldSendGrid, pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    held.script(503)

    key, sending = await cancel_mid_call(held, pool, caplog)

    assert held.accepted == []
    # Cancelled, not a delivery failure: no retry, and nobody is asked to pass it on.
    assert sending.cancelled()
    row = await ledger_row(pool, key)
    assert row is not None and row["status"] == "pending" and "503" in row["last_error"]


async def test_a_reschedule_that_comes_while_sendgrid_answers_leaves_a_true_record(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    held: HeldSendGrid,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client moves the visit while SendGrid is taking the first confirmation: that one
    went out, the timeline and the ledger say so, and the new time is confirmed after it."""
    always_open(settings)
    settings.sendgrid_api_key = SecretStr(API_KEY)
    settings.sendgrid_host = held.url
    start = datetime.now(UTC) + timedelta(days=5)
    request = appointment(start, locale="en")
    case = request.workflow_id
    async with create_worker(dev_env.client, settings, pool=pool):
        handle = await book(dev_env.client, request, settings, datetime.now(UTC))
        assert await asyncio.to_thread(held.received.wait, 30)
        with caplog.at_level(logging.INFO, logger="temporalio.activity"):
            moving = asyncio.create_task(
                handle.execute_update(
                    AppointmentWorkflow.reschedule,
                    RescheduleInput(new_start=start + timedelta(days=2), actor=CLIENT),
                )
            )
            # Both first messages (client and provider) are with SendGrid when the change comes.
            await until(noticed(caplog, 2), "both sends to notice the reschedule")
        held.answer.set()
        moved = await moving
        assert moved.reschedules == 1

        async def both_rounds_out() -> bool:
            return len(held.accepted) == 4

        await until(both_rounds_out, "the new time's messages")
        view = await handle.query(AppointmentWorkflow.status)
        await handle.terminate("test over")

    assert sorted(r.idempotency_key for r in held.accepted) == sorted(
        f"{case}/{purpose}/r{n}" for purpose in ("confirmation", "provider_booking") for n in (0, 1)
    )
    ledger = {m["idempotency_key"]: m["status"] for m in await messages(pool, case)}
    assert ledger[f"{case}/confirmation/r0"] == ledger[f"{case}/confirmation/r1"] == "sent"
    first = [e for e in view.timeline if e.data.get("template") == "confirmation"]
    assert [(e.kind, e.data.get("outcome")) for e in first] == [
        (TimelineKind.MESSAGE, "sent"),
        (TimelineKind.MESSAGE, "sent"),
    ]
    assert view.confirmation_sent and view.needs_attention == []
