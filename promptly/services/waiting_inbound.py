"""What Twilio posted once and Promptly stored but could not act on yet, acted on later.

A reply is stored before anything acts on it (promptly/services/inbound.py), and a delivery
receipt is written on the ledger before its fallback starts (delivery_receipts.py). When
Temporal or the workers do not answer then, the webhook still answers Twilio (which would
not post it again): the reply waits in `inbound_messages` with no outcome, the undelivered
SMS on the ledger with no fallback. The API acts on both every minute until it can, for a
week; every effect is keyed by the provider's id, so two API processes, or a late first
attempt, still act once. An email reply needs none of this: SendGrid posts it again for
three days while the API answers 5xx.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from promptly.config import Settings
from promptly.domain.common import Channel
from promptly.domain.sms import CONSENT_TEMPLATES, DeliveryStatus
from promptly.services.delivery_receipts import FALLBACK_SUFFIX, record_receipt
from promptly.services.inbound import InboundReply, handle_reply

log = logging.getLogger(__name__)

# What leaves Temporal unreachable from here: the reply waits for the next round.
TEMPORAL_AWAY = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError)
SWEEP_EVERY = timedelta(minutes=1)
# Younger replies may still be in their first attempt; older ones are left to a person.
NOT_BEFORE = timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(days=7)


async def act_on_waiting_replies(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    *,
    older_than: timedelta = NOT_BEFORE,
    limit: int = 100,
) -> int:
    """Act on the stored SMS replies that have no outcome yet, oldest first; returns how
    many were finished. Stops at the first one Temporal could not take."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                """SELECT provider_id, sender, body FROM inbound_messages
                    WHERE outcome IS NULL AND channel = 'sms'
                      AND received_at < now() - %s AND received_at > now() - %s
                    ORDER BY received_at LIMIT %s""",
                (older_than, GIVE_UP_AFTER, limit),
            )
        ).fetchall()
    finished = 0
    for provider_id, sender, body in rows:
        try:
            await handle_reply(
                client, pool, settings, InboundReply(provider_id, Channel.SMS, sender, body)
            )
        except TEMPORAL_AWAY as err:
            log.warning("reply %s still waits: Temporal did not answer (%s)", provider_id, err)
            break
        finished += 1
    return finished


async def act_on_waiting_receipts(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    *,
    older_than: timedelta = NOT_BEFORE,
    limit: int = 100,
) -> int:
    """Start the fallback of each undelivered SMS to a client that has none yet, oldest
    first; returns how many were started. Stops at the first one Temporal could not take."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                """SELECT m.provider_id, m.delivery_status, m.delivery_error_code
                     FROM messages m
                    WHERE m.channel = 'sms' AND m.recipient_role = 'client'
                      AND m.delivery_status IN ('undelivered', 'failed')
                      AND m.template <> ALL(%s)
                      AND m.delivery_updated_at < now() - %s
                      AND m.delivery_updated_at > now() - %s
                      AND NOT EXISTS (SELECT 1 FROM messages f
                                       WHERE f.idempotency_key = m.idempotency_key || %s)
                    ORDER BY m.delivery_updated_at LIMIT %s""",
                (list(CONSENT_TEMPLATES), older_than, GIVE_UP_AFTER, FALLBACK_SUFFIX, limit),
            )
        ).fetchall()
    started = 0
    for provider_id, status, error_code in rows:
        try:
            await record_receipt(
                client, pool, settings, provider_id, DeliveryStatus(status), error_code
            )
        except TEMPORAL_AWAY as err:
            log.warning(
                "fallback of %s still waits: Temporal did not answer (%s)", provider_id, err
            )
            break
        started += 1
    return started


async def keep_acting_on_waiting_inbound(
    client: Client, pool: AsyncConnectionPool, settings: Settings
) -> None:
    """The waiting replies and receipts acted on every minute, for as long as the API runs."""
    while True:
        await asyncio.sleep(SWEEP_EVERY.total_seconds())
        try:
            if done := await act_on_waiting_replies(client, pool, settings):
                log.info("acted on %d SMS replies that had waited for Temporal", done)
            if done := await act_on_waiting_receipts(client, pool, settings):
                log.info("started %d SMS fallbacks that had waited for Temporal", done)
        except Exception:  # noqa: BLE001 - the next round tries again; the API keeps serving
            log.exception("acting on waiting SMS replies and receipts failed")
