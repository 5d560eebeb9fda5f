"""What Twilio posted once and Promptly stored but could not act on yet, acted on later.

A reply is stored before anything acts on it (promptly/services/inbound.py), and a delivery
receipt is written on the ledger before its fallback starts (delivery_receipts.py). When
Temporal or the workers do not answer then, the webhook still answers Twilio (which would
not post it again): the reply waits in `inbound_messages` with no outcome, the undelivered
SMS on the ledger with no fallback. A receipt that came before the ledger knew its SMS by
Twilio's id waits in `early_sms_receipts` until it does. The API acts on all three every
minute until it can, for a week (then a kept receipt is dropped); every effect is keyed by the
provider's id, so two API processes, or a late first attempt, still act once. An email reply
needs none of this: SendGrid posts it again for three days while the API answers 5xx.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from promptly.config import Settings
from promptly.domain.common import Channel, RecipientRole
from promptly.domain.sms import CONSENT_TEMPLATES, NOT_DELIVERED
from promptly.services.delivery_receipts import (
    FALLBACK_SUFFIX,
    pass_on_undelivered,
    record_early_receipt,
)
from promptly.services.inbound import InboundReply, handle_reply

log = logging.getLogger(__name__)

# What leaves Temporal unreachable from here: the reply waits for the next round.
TEMPORAL_AWAY = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError)
SWEEP_EVERY = timedelta(minutes=1)
# Younger replies may still be in their first attempt; older ones are left to a person.
NOT_BEFORE = timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Waiting:
    """One kind of stored event still to act on: `query` selects them oldest first (named
    parameters `older_than`, `give_up_after`, `limit` and its own `params`; the provider's id
    first), and `act` acts on one row."""

    what: str
    query: str
    act: Callable[[Client, AsyncConnectionPool, Settings, tuple[Any, ...]], Awaitable[object]]
    params: Mapping[str, object] = field(default_factory=dict)


WAITING_REPLIES = Waiting(
    "reply",
    """SELECT provider_id, sender, body FROM inbound_messages
        WHERE outcome IS NULL AND channel = 'sms'
          AND received_at < now() - %(older_than)s AND received_at > now() - %(give_up_after)s
        ORDER BY received_at LIMIT %(limit)s""",
    lambda client, pool, settings, row: handle_reply(
        client, pool, settings, InboundReply(row[0], Channel.SMS, row[1], row[2])
    ),
)
# A receipt kept because it came before the ledger knew its SMS's id, once the ledger does: it
# is recorded (and acted on) as it would have been when it came.
EARLY_RECEIPTS = Waiting(
    "early receipt of",
    """SELECT e.provider_id FROM early_sms_receipts e
        WHERE EXISTS (SELECT 1 FROM messages m
                       WHERE m.provider_id = e.provider_id AND m.channel = 'sms')
          AND e.received_at < now() - %(older_than)s AND e.received_at > now() - %(give_up_after)s
        ORDER BY e.received_at LIMIT %(limit)s""",
    lambda client, pool, settings, row: record_early_receipt(client, pool, settings, row[0]),
)
# An undelivered SMS to a client whose fallback (a message of its own) was never started, and
# that was not found moot (the case moved past it: nothing is to follow, ever).
WAITING_RECEIPTS = Waiting(
    "fallback of",
    # `needs_fallback`'s rule (domain/sms.py) as a filter, from the same constants.
    """SELECT m.provider_id FROM messages m
        WHERE m.channel = 'sms' AND m.recipient_role = %(role)s
          AND m.delivery_status = ANY(%(not_delivered)s) AND m.template <> ALL(%(consent)s)
          AND m.delivery_moot IS NULL
          AND m.delivery_updated_at < now() - %(older_than)s
          AND m.delivery_updated_at > now() - %(give_up_after)s
          AND NOT EXISTS (SELECT 1 FROM messages f
                           WHERE f.idempotency_key = m.idempotency_key || %(suffix)s)
        ORDER BY m.delivery_updated_at LIMIT %(limit)s""",
    lambda client, pool, settings, row: pass_on_undelivered(client, pool, settings, row[0]),
    {
        "role": RecipientRole.CLIENT.value,
        "not_delivered": sorted(status.value for status in NOT_DELIVERED),
        "consent": sorted(CONSENT_TEMPLATES),
        "suffix": FALLBACK_SUFFIX,
    },
)


async def act_on_waiting(
    waiting: Waiting,
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    *,
    older_than: timedelta = NOT_BEFORE,
    limit: int = 100,
) -> int:
    """Act on the `waiting` events, oldest first; returns how many were acted on. Stops at the
    first one Temporal could not take (the next round tries again)."""
    params = {
        **waiting.params,
        "older_than": older_than,
        "give_up_after": GIVE_UP_AFTER,
        "limit": limit,
    }
    async with pool.connection() as conn:
        rows = await (await conn.execute(waiting.query, params)).fetchall()
    done = 0
    for row in rows:
        try:
            await waiting.act(client, pool, settings, row)
        except TEMPORAL_AWAY as err:
            log.warning(
                "%s %s still waits: Temporal did not answer (%s)", waiting.what, row[0], err
            )
            break
        done += 1
    return done


async def drop_early_receipts(pool: AsyncConnectionPool) -> int:
    """Forget the kept receipts whose SMS the ledger did not come to know within a week (not
    one of ours, or its send never recorded); returns how many."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "DELETE FROM early_sms_receipts WHERE received_at <= now() - %s", (GIVE_UP_AFTER,)
        )
        return cursor.rowcount


async def keep_acting_on_waiting_inbound(
    client: Client, pool: AsyncConnectionPool, settings: Settings
) -> None:
    """The waiting replies and receipts acted on every minute, for as long as the API runs."""
    while True:
        await asyncio.sleep(SWEEP_EVERY.total_seconds())
        try:
            for waiting in (WAITING_REPLIES, EARLY_RECEIPTS, WAITING_RECEIPTS):
                if done := await act_on_waiting(waiting, client, pool, settings):
                    log.info("acted on %d waiting (%s) once Temporal answered", done, waiting.what)
            if dropped := await drop_early_receipts(pool):
                log.warning("dropped %d SMS receipts the ledger never came to know", dropped)
        except Exception:  # noqa: BLE001 - the next round tries again; the API keeps serving
            log.exception("acting on waiting SMS replies and receipts failed")
