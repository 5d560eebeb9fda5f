"""Delivery receipts that come late, end to end: after the case moved past the message, after a
later receipt of the same message, or before the ledger knows the message's id.

The HTTP app and a worker run on the Temporal dev server and PostgreSQL; SMS go through the
real `twilio` client to the local Twilio fake and email through the real SendGrid client to
its fake, so what a client was sent is what the fakes received.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from promptly.api.app import create_app
from promptly.config import ApiRole, Settings
from promptly.domain.moot_messages import message_round
from promptly.domain.readable_time import exact
from promptly.domain.sms import DeliveryStatus, receipt_replaces
from promptly.services.delivery_receipts import KEPT, record_early_receipt, record_receipt
from promptly.services.waiting_inbound import (
    EARLY_RECEIPTS,
    WAITING_RECEIPTS,
    Waiting,
    act_on_waiting,
    drop_early_receipts,
)
from tests.api_support import STAFF_KEY, key, serving, with_api_keys
from tests.conftest import start_dev_server
from tests.helpers import messages, tasks, until
from tests.sendgrid_fake import RecordedRequest, SendGridFake
from tests.test_sms_replies import PUBLIC, SID, TOKEN, WARSAW, Stack, _handed_over
from tests.twilio_fake import TwilioFake

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Receipts(Stack):
    """The SMS stack of test_sms_replies.py, its email going to a SendGrid fake."""

    sendgrid: SendGridFake | None = None

    def emails_to(self, address: str) -> list[RecordedRequest]:
        assert self.sendgrid is not None
        return [r for r in self.sendgrid.accepted if address in r.recipients]

    async def ledger_row(self, sid: str) -> dict[str, Any]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT * FROM messages WHERE provider_id = %s", (sid,))
            row = await cur.fetchone()
        assert row is not None
        return row

    async def no_fallback_started(self, sid: str) -> bool:
        """No notice workflow passes the SMS `sid` on (none was started under its id)."""
        try:
            await self.client.get_workflow_handle(f"sms-fallback-{sid}").describe()
        except RPCError:
            return True
        return False


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[Receipts]:
    with (
        TwilioFake(account_sid=SID, auth_token=TOKEN) as fake,
        SendGridFake(api_key="SG.test") as sendgrid,
    ):
        configured = with_api_keys(settings).model_copy(
            update={
                "twilio_account_sid": SID,
                "twilio_auth_token": SecretStr(TOKEN),
                "twilio_from": "+48500000000",
                "twilio_base_url": fake.url,
                "sendgrid_api_key": SecretStr("SG.test"),
                "sendgrid_host": sendgrid.url,
                "public_base_url": PUBLIC,
                "quiet_hours_start": 0,
                "quiet_hours_end": 0,
            }
        )
        async with serving(dev_env.client, configured, pool) as http:
            stack = Receipts(http, fake, pool, dev_env.client, configured, [], sendgrid)
            yield stack
            for workflow_id in stack.started:
                with contextlib.suppress(RPCError):  # already closed is fine
                    await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")


async def test_an_undelivered_sms_of_a_cancelled_visit_is_not_passed_on(stack: Receipts) -> None:
    """The confirmation ("reply TAK") of a visit cancelled since is moot: its receipt is
    recorded, nothing is emailed and nobody is asked to check the number. The cancellation
    notice itself is news of the cancel: lost, it goes by email."""
    appointment_id, phone, email = await stack.book()
    case_id = f"appointment-{appointment_id}"
    [confirmation] = await _handed_over(stack, case_id, "the confirmation", "confirmation")
    cancelled = await stack.http.post(
        f"/appointments/{appointment_id}/cancel",
        json={"reason": "client called"},
        headers=STAFF_KEY,
    )
    assert cancelled.status_code == 200, cancelled.text
    [cancellation] = await _handed_over(stack, case_id, "the notice", "cancellation")

    sid = confirmation["provider_id"]
    lost = await stack.receipt(phone, sid, "undelivered", "30003")
    assert lost.status_code == 204
    moot = "recorded undelivered; moot: the appointment is Cancelled"
    assert lost.headers["X-Promptly-Outcome"] == moot
    again = await stack.receipt(phone, sid, "undelivered", "30003")  # Twilio posting it twice
    assert again.headers["X-Promptly-Outcome"] == moot
    row = await stack.ledger_row(sid)
    assert (row["delivery_status"], row["delivery_error_code"], row["delivery_moot"]) == (
        "undelivered",
        "30003",
        "the appointment is Cancelled",
    )
    assert await stack.no_fallback_started(sid)

    # The cancellation notice lost too: that one the client must hear, by email.
    told = await stack.receipt(phone, cancellation["provider_id"], "undelivered", "30003")
    assert told.headers["X-Promptly-Outcome"] == "fallback"
    await until(lambda: _async(stack.emails_to(email)), "the cancellation by email")
    [fallback] = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert fallback["idempotency_key"] == f"{cancellation['idempotency_key']}/undelivered"

    async def check_the_number() -> list[dict[str, Any]]:
        return [t for t in await tasks(stack.pool, case_id) if t["kind"] == "client_reply"]

    [task] = await until(check_the_number, "the task to check the number")
    assert "cancellation" in task["title"]  # the one task: the notice's, not the confirmation's

    # The sweep of waiting receipts leaves the moot one alone (it is not waiting for anything).
    assert (
        await act_on_waiting(
            WAITING_RECEIPTS, stack.client, stack.pool, stack.settings, older_than=timedelta(0)
        )
        == 0
    )
    assert await stack.no_fallback_started(sid)
    assert len(stack.emails_to(email)) == 1

    # The compliance history says why the receipt had no sequel.
    history = await stack.http.get(
        f"/history/cases/{appointment_id}?format=md", headers=key(ApiRole.COMPLIANCE)
    )
    assert history.status_code == 200, history.text
    received = exact(row["delivery_updated_at"], stack.settings.office_timezone)
    assert (
        f"provider id {sid}, receipt: undelivered (30003) at {received}, "
        "not passed on: the appointment is Cancelled"
    ) in history.text


async def test_an_undelivered_sms_sent_for_the_visits_old_time_is_not_passed_on(
    stack: Receipts,
) -> None:
    """The visit moved: the old time's confirmation, lost, is not emailed (it would quote the
    old time); the new time's, lost, is."""
    appointment_id, phone, email = await stack.book()
    case_id = f"appointment-{appointment_id}"
    [old] = await _handed_over(stack, case_id, "the confirmation", "confirmation")
    assert message_round(old["idempotency_key"], case_id) == 0
    new_start = (datetime.now(UTC) + timedelta(days=6)).astimezone(WARSAW)
    moved = await stack.http.post(
        f"/appointments/{appointment_id}/reschedule",
        json={"new_start": new_start.replace(second=0, microsecond=0).isoformat()},
        headers=STAFF_KEY,
    )
    assert moved.status_code == 200, moved.text

    async def new_confirmation() -> list[dict[str, Any]]:
        return [
            m
            for m in await messages(stack.pool, case_id)
            if m["template"] == "confirmation"
            and m["status"] != "pending"
            and message_round(m["idempotency_key"], case_id) == 1
        ]

    [new] = await until(new_confirmation, "the new time's confirmation")

    stale = await stack.receipt(phone, old["provider_id"], "undelivered", "30003")
    assert stale.headers["X-Promptly-Outcome"] == (
        "recorded undelivered; moot: the visit has moved since"
    )
    assert await stack.no_fallback_started(old["provider_id"])
    assert not [t for t in await tasks(stack.pool, case_id) if t["kind"] == "client_reply"]

    current = await stack.receipt(phone, new["provider_id"], "undelivered", "30003")
    assert current.headers["X-Promptly-Outcome"] == "fallback"
    [fallback] = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert fallback["idempotency_key"] == f"{new['idempotency_key']}/undelivered"
    await until(lambda: _async(stack.emails_to(email)), "the email")
    assert len(stack.emails_to(email)) == 1


async def _async(value: Any) -> Any:
    return value


@pytest.mark.parametrize("recorded", [None, *DeliveryStatus])
async def test_the_receipts_update_keeps_the_rule_of_order(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    recorded: DeliveryStatus | None,
) -> None:
    """The ledger's UPDATE replaces a recorded status exactly when `receipt_replaces` says so,
    for a receipt as it comes and for one kept from before or after the ledger's own (a
    message to the provider: no fallback, nothing else follows)."""
    now = datetime.now(UTC)
    recorded_at = now - timedelta(minutes=30) if recorded else None
    for receipt in DeliveryStatus:
        for kept_since in (None, now - timedelta(hours=1), now - timedelta(minutes=10)):
            sid = f"SM{uuid.uuid4().hex}"
            async with pool.connection() as conn:
                await conn.execute(
                    """INSERT INTO messages (idempotency_key, case_id, template, channel,
                                             recipient_role, recipient, locale, subject, body,
                                             status, provider_id, requested_at,
                                             delivery_status, delivery_updated_at)
                       VALUES (%s, 'appointment-order', 'provider_booking', 'sms', 'provider',
                               '+48600000001', 'en', 's', 'b', 'sent', %s, now(), %s, %s)""",
                    (f"order/{sid}", sid, recorded, recorded_at),
                )
                if kept_since is not None:
                    await conn.execute(
                        """INSERT INTO early_sms_receipts (provider_id, status, received_at)
                           VALUES (%s, %s, %s)""",
                        (sid, receipt, kept_since),
                    )
            if kept_since is None:
                done = await record_receipt(dev_env.client, pool, settings, sid, receipt, None)
            else:
                done = await record_early_receipt(dev_env.client, pool, settings, sid)
            replaced = receipt_replaces(
                recorded, receipt, recorded_at=recorded_at, received_at=kept_since
            )
            assert done == (
                f"recorded {receipt}"
                if replaced
                else f"ignored {receipt}: {recorded} recorded already"
            ), (receipt, kept_since)
            async with pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT delivery_status FROM messages WHERE provider_id = %s", (sid,)
                )
                assert await cursor.fetchone() == ((receipt if replaced else recorded),)
                await conn.execute("DELETE FROM messages WHERE provider_id = %s", (sid,))
            assert await early(pool, sid) is None


async def test_a_late_sent_leaves_the_delivered_receipt(stack: Receipts) -> None:
    """Twilio's `sent` arriving after its `delivered` (callbacks come in any order)."""
    appointment_id, phone, _ = await stack.book()
    case_id = f"appointment-{appointment_id}"
    [confirmation] = await _handed_over(stack, case_id, "the confirmation", "confirmation")
    sid = confirmation["provider_id"]
    assert (await stack.receipt(phone, sid, "delivered")).headers["X-Promptly-Outcome"] == (
        "recorded delivered"
    )
    late = await stack.receipt(phone, sid, "sent")
    assert late.status_code == 204
    assert late.headers["X-Promptly-Outcome"] == "ignored sent: delivered recorded already"
    assert (await stack.ledger_row(sid))["delivery_status"] == "delivered"


async def test_a_late_sent_does_not_lose_the_fallback_waiting_for_temporal(
    stack: Receipts,
) -> None:
    """`undelivered` came while Temporal was away, so its fallback waits for the sweep; then
    Twilio's earlier `sent` arrives. The ledger keeps `undelivered`, and the sweep passes the
    message on, once."""
    appointment_id, phone, email = await stack.book()
    case_id = f"appointment-{appointment_id}"
    [confirmation] = await _handed_over(stack, case_id, "the confirmation", "confirmation")
    sid = confirmation["provider_id"]
    gone = await start_dev_server()
    await gone.shutdown()
    app = create_app(stack.settings, client=gone.client, pool=stack.pool)
    receipt = {"MessageSid": sid, "MessageStatus": "undelivered", "To": phone}
    receipt |= {"AccountSid": SID, "ErrorCode": "30003"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://promptly.test"
        ) as cut_off,
    ):
        noted = await cut_off.post(
            "/inbound/sms/status",
            data=receipt,
            headers=stack.signed("/inbound/sms/status", receipt),
        )
    assert noted.status_code == 204 and noted.headers["X-Promptly-Outcome"] == "waiting"
    recorded_at = (await stack.ledger_row(sid))["delivery_updated_at"]

    late = await stack.receipt(phone, sid, "sent")
    assert late.headers["X-Promptly-Outcome"] == "ignored sent: undelivered recorded already"
    row = await stack.ledger_row(sid)
    assert (row["delivery_status"], row["delivery_error_code"]) == ("undelivered", "30003")

    client, pool, settings = stack.client, stack.pool, stack.settings
    assert (
        await act_on_waiting(WAITING_RECEIPTS, client, pool, settings, older_than=timedelta(0)) >= 1
    )
    [fallback] = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert (fallback["channel"], fallback["recipient"]) == ("email", email)
    await until(lambda: _async(stack.emails_to(email)), "the email")
    assert (
        await act_on_waiting(WAITING_RECEIPTS, client, pool, settings, older_than=timedelta(0)) == 0
    )
    assert len(stack.emails_to(email)) == 1
    # The receipt keeps the time Twilio's `undelivered` came, not the sweep's.
    assert (await stack.ledger_row(sid))["delivery_updated_at"] == recorded_at


async def early(pool: AsyncConnectionPool, sid: str) -> tuple[Any, ...] | None:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT status, error_code FROM early_sms_receipts WHERE provider_id = %s", (sid,)
        )
        return await cursor.fetchone()


async def test_a_receipt_before_the_ledger_knows_the_sms_is_kept_and_acted_on_once_it_does(
    stack: Receipts,
) -> None:
    """The ledger learns an SMS's id when the send is marked sent; after a worker was killed
    that is the retry's look-up, and Twilio's `failed` may come first. Here the confirmation's
    row is put back as it stood before its mark (no id), the receipt comes, then the mark."""
    appointment_id, phone, email = await stack.book()
    case_id = f"appointment-{appointment_id}"
    [confirmation] = await _handed_over(stack, case_id, "the confirmation", "confirmation")
    sid = confirmation["provider_id"]
    async with stack.pool.connection() as conn:
        await conn.execute(
            "UPDATE messages SET provider_id = NULL WHERE id = %s", (confirmation["id"],)
        )

    # Twilio posts each once, in any order: an earlier status never replaces a final one.
    first = await stack.receipt(phone, sid, "failed", "30008")
    assert first.status_code == 204 and first.headers["X-Promptly-Outcome"] == KEPT
    assert (await stack.receipt(phone, sid, "sent")).headers["X-Promptly-Outcome"] == KEPT
    assert await early(stack.pool, sid) == ("failed", "30008")
    client, pool, settings = stack.client, stack.pool, stack.settings

    async def sweep(waiting: Waiting) -> int:
        return await act_on_waiting(waiting, client, pool, settings, older_than=timedelta(0))

    assert await sweep(EARLY_RECEIPTS) == 0  # not on the ledger yet: nothing to record

    async with stack.pool.connection() as conn:  # the send's mark: the ledger knows the id
        await conn.execute(
            "UPDATE messages SET provider_id = %s WHERE id = %s", (sid, confirmation["id"])
        )
    assert await sweep(EARLY_RECEIPTS) == 1
    row = await stack.ledger_row(sid)
    assert (row["delivery_status"], row["delivery_error_code"]) == ("failed", "30008")
    assert await early(stack.pool, sid) is None
    [fallback] = await _handed_over(stack, case_id, "the email", "undelivered_sms")
    assert (fallback["channel"], fallback["recipient"]) == ("email", email)
    await until(lambda: _async(stack.emails_to(email)), "the email")

    async def desk_task() -> dict[str, Any] | None:  # opened after the email goes
        found = [t for t in await tasks(stack.pool, case_id) if t["kind"] == "client_reply"]
        return found[0] if found else None

    task = await until(desk_task, "the front desk's task")
    assert "30008" in task["details"]

    # Once: the kept receipt is gone, the fallback is on the ledger, Twilio's repeat is one.
    assert await sweep(EARLY_RECEIPTS) == 0
    assert await sweep(WAITING_RECEIPTS) == 0
    again = await stack.receipt(phone, sid, "failed", "30008")
    assert again.headers["X-Promptly-Outcome"] == "fallback"  # the same notice: started once
    assert await early(stack.pool, sid) is None
    assert len(stack.emails_to(email)) == 1
    assert len([t for t in await tasks(stack.pool, case_id) if t["kind"] == "client_reply"]) == 1


async def test_a_receipt_the_ledger_never_comes_to_know_is_dropped_after_a_week(
    pool: AsyncConnectionPool,
) -> None:
    old, recent = f"SM{uuid.uuid4().hex}", f"SM{uuid.uuid4().hex}"
    async with pool.connection() as conn:
        for sid, age in ((old, timedelta(days=7, minutes=1)), (recent, timedelta(days=6))):
            await conn.execute(
                """INSERT INTO early_sms_receipts (provider_id, status, received_at)
                   VALUES (%s, 'failed', now() - %s)""",
                (sid, age),
            )
    assert await drop_early_receipts(pool) >= 1
    assert await early(pool, old) is None
    assert await early(pool, recent) == ("failed", None)
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM early_sms_receipts WHERE provider_id = %s", (recent,))
