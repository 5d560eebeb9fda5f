"""Outbound webhooks: POST each queued event (a status change, a delay) to its back-office URL,
signed, and record every attempt in `webhook_deliveries` (the outbox `record_case` fills).

How it runs. The `promptly-webhooks` schedule starts `WebhookDispatchWorkflow` every minute
(a run still going skips the next one) and its one activity, `deliver_webhooks`, delivers
what is due, then polls the outbox every second for about 50 seconds, heartbeating each
round. So one dispatcher is alive at a time and a status change reaches the back office a
second or two after it is recorded, without a workflow per event or an endless workflow whose
history only grows. A worker that dies mid-run loses nothing: the rows are still pending, and
the heartbeat timeout or the next scheduled run picks them up.

Claiming. A round claims up to `batch_size` due rows `FOR UPDATE SKIP LOCKED`, POSTs them
concurrently, records each outcome and commits, all in one transaction; another dispatcher
(an activity retry overlapping a slow attempt) skips the rows being sent. A row is claimed only
when no earlier row of the same case is still pending for the same URL, so a receiver never
sees Confirmed before Booked; a failing event holds back the later ones of its case (to that
URL only) until it is delivered or given up.

Retries. A 2xx marks the row delivered. Anything else (no answer within `webhook_timeout`,
3xx, 4xx, 5xx) counts an attempt and sets the next one by `webhooks.webhook_retry_at`: 30s
doubling to hourly, given up as `failed` after a 410, 30 attempts or 24 hours.

At least once. A POST whose answer is lost, or whose outcome cannot be committed, is sent
again: receivers dedupe by the `Promptly-Event-Id` header (the event's `id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from promptly.domain import webhooks
from promptly.domain.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookDeliveryStatus,
    WebhookDispatchRequest,
    WebhookDispatchResult,
    WebhookEvent,
    WebhookSigning,
    sign,
)

USER_AGENT = "Promptly-Webhooks/1"
NOT_CONFIGURED = "URL no longer configured (PROMPTLY_WEBHOOK_URLS)"


@dataclass(frozen=True)
class _Due:
    id: int
    event_id: str
    url: str
    payload: dict[str, Any]
    attempts: int
    queued_at: datetime  # recorded, or requeued by an operator: the give-up clock's start


@dataclass(frozen=True)
class _Attempt:
    due: _Due
    at: datetime
    status_code: int | None  # None: no HTTP answer
    error: str | None  # None: delivered

    @property
    def delivered(self) -> bool:
        return self.error is None


class WebhookActivities:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        urls: Sequence[str],
        signing: WebhookSigning | str | None,
        timeout: timedelta,
    ) -> None:
        """`urls` and `signing` from the settings (`Settings.webhook_signing()`: each URL's own
        secret; a str is one secret for every URL); without URLs the dispatcher does nothing."""
        if isinstance(signing, str):
            signing = WebhookSigning(shared=signing) if signing else None
        if urls and signing is None:
            raise ValueError("webhook URLs are configured without a webhook secret")
        self._pool = pool
        self._urls = list(urls)
        self._signing = signing
        self._timeout = timeout

    @activity.defn
    async def deliver_webhooks(self, request: WebhookDispatchRequest) -> WebhookDispatchResult:
        """Deliver the due webhooks, polling until `request.run_for` has passed or the worker
        stops; returns what this run delivered, will retry and gave up."""
        totals = WebhookDispatchResult(delivered=0, retried=0, failed=0)
        if not self._urls:
            return totals
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.run_for.total_seconds()
        totals.failed += await self._give_up_unconfigured(datetime.now(UTC))
        async with httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT}, follow_redirects=False
        ) as http:
            while True:
                outcomes = await self._deliver_round(http, request.batch_size)
                totals.delivered += outcomes.count(WebhookDeliveryStatus.DELIVERED)
                totals.retried += outcomes.count(WebhookDeliveryStatus.PENDING)
                totals.failed += outcomes.count(WebhookDeliveryStatus.FAILED)
                activity.heartbeat(totals.model_dump())
                if loop.time() >= deadline or activity.is_worker_shutdown():
                    break
                if not outcomes:
                    # Sleep until the next poll, or less if the worker is stopping.
                    try:
                        await asyncio.wait_for(
                            activity.wait_for_worker_shutdown(),
                            min(request.poll_every.total_seconds(), deadline - loop.time()),
                        )
                    except TimeoutError:
                        pass
        if totals.delivered or totals.retried or totals.failed:
            activity.logger.info("webhooks: %s", totals.model_dump())
        return totals

    async def _give_up_unconfigured(self, now: datetime) -> int:
        """Fail what waits for a URL taken out of the settings. Only after the give-up period:
        during a rolling deploy a worker with the old settings must not fail a new URL's rows."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """UPDATE webhook_deliveries
                      SET status = 'failed', last_error = %s
                    WHERE status = 'pending' AND NOT (url = ANY(%s))
                      AND coalesce(requeued_at, created_at) <= %s""",
                (NOT_CONFIGURED, self._urls, now - webhooks.WEBHOOK_GIVE_UP_AFTER),
            )
            return cursor.rowcount

    async def _deliver_round(
        self, http: httpx.AsyncClient, batch_size: int
    ) -> list[WebhookDeliveryStatus]:
        """Claim, POST and record one batch; the status each claimed row was left in."""
        async with self._pool.connection() as conn, conn.transaction():
            due = await _claim_due(conn, self._urls, datetime.now(UTC), batch_size)
            if not due:
                return []
            attempts = await asyncio.gather(*(self._post(http, row) for row in due))
            outcomes = [_outcome(attempt) for attempt in attempts]
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    """UPDATE webhook_deliveries
                          SET status = %(status)s, attempts = attempts + 1,
                              last_status_code = %(code)s, last_error = %(error)s,
                              next_attempt_at = coalesce(%(retry_at)s, next_attempt_at),
                              delivered_at = %(delivered_at)s
                        WHERE id = %(id)s""",
                    outcomes,
                )
            return [WebhookDeliveryStatus(outcome["status"]) for outcome in outcomes]

    async def _post(self, http: httpx.AsyncClient, due: _Due) -> _Attempt:
        # The stored payload re-validated and dumped: the same bytes, in the model's field
        # order, whatever order jsonb keeps the keys in.
        body = WebhookEvent.model_validate(due.payload).model_dump_json().encode()
        now = datetime.now(UTC)
        if self._signing is None:  # refused in __init__: rows are claimed only with URLs
            raise RuntimeError("no webhook signing secret")
        secret, previous = self._signing.secrets(due.url, now)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: due.event_id,
            SIGNATURE_HEADER: sign(secret, body, now, previous),
        }
        try:
            # One bound on the whole exchange; httpx's timeout applies to each read or write.
            async with asyncio.timeout(self._timeout.total_seconds()):
                response = await http.post(due.url, content=body, headers=headers)
        except TimeoutError:
            return _Attempt(due, now, None, f"no answer within {self._timeout.total_seconds()}s")
        except httpx.HTTPError as err:
            return _Attempt(due, now, None, f"{type(err).__name__}: {err}"[:500])
        if response.is_success:
            return _Attempt(due, now, response.status_code, None)
        # The status line only: a receiver's error body may quote anything.
        error = f"HTTP {response.status_code} {response.reason_phrase}"[:500]
        return _Attempt(due, now, response.status_code, error)


def _outcome(attempt: _Attempt) -> dict[str, Any]:
    """The row's new state after `attempt` (the parameters of the UPDATE)."""
    retry_at = None
    if attempt.delivered:
        status = WebhookDeliveryStatus.DELIVERED
    else:
        retry_at = webhooks.webhook_retry_at(
            attempt.due.attempts + 1, attempt.due.queued_at, attempt.at, attempt.status_code
        )
        status = WebhookDeliveryStatus.FAILED if retry_at is None else WebhookDeliveryStatus.PENDING
    return {
        "id": attempt.due.id,
        "status": status.value,
        "code": attempt.status_code,
        "error": attempt.error,
        "retry_at": retry_at,
        "delivered_at": attempt.at if attempt.delivered else None,
    }


async def _claim_due(
    conn: AsyncConnection, urls: list[str], now: datetime, limit: int
) -> list[_Due]:
    """Lock the due rows that head their (URL, case) queue; rows another dispatcher holds
    are skipped, and so are the rows queued behind them."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            """SELECT d.id, d.event_id, d.url, d.payload, d.attempts,
                      coalesce(d.requeued_at, d.created_at) AS queued_at
                 FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
                  AND d.url = ANY(%(urls)s)
                  AND NOT EXISTS (
                      SELECT 1 FROM webhook_deliveries earlier
                       WHERE earlier.status = 'pending' AND earlier.url = d.url
                         AND earlier.case_id = d.case_id AND earlier.seq < d.seq)
                ORDER BY d.next_attempt_at, d.id
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED""",
            {"now": now, "urls": urls, "limit": limit},
        )
        return [_Due(**row) for row in await cursor.fetchall()]
