"""Messaging: one activity, one ledger, several channels.

`send_message` renders the template, stores the message in the `messages` ledger under its
idempotency key and hands it to the channel. A retry finds the ledger row already `sent` and
returns it, so a recorded send never goes out twice. The one window left (the provider
accepted, the worker died before the row was marked) is narrowed by passing the key to the
provider (SendGrid `custom_args`) so support can match duplicates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.error import URLError

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail
from temporalio import activity
from temporalio.exceptions import ApplicationError

from promptly.activities.tasks import insert_task
from promptly.domain import errors, links, metrics
from promptly.domain.models import (
    Channel,
    CreateTaskRequest,
    MessageStatus,
    Recipient,
    RecipientRole,
    SendMessageRequest,
    SendMessageResult,
    TaskKind,
)
from promptly.domain.rendering import RenderedMessage, render, template_names


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: int
    idempotency_key: str
    case_id: str
    channel: Channel
    address: str
    name: str
    subject: str
    body: str


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (bad address, bad credentials)."""


class TransientDeliveryError(Exception):
    """Try again later (rate limit, outage); `retry_after` is the provider's hint."""

    def __init__(self, reason: str, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryChannel(Protocol):
    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        """Deliver the message; return the provider's id for it."""
        ...


class OutboxChannel:
    """Keeps the rendered message (table `outbox`) for staff or a relay to pick up."""

    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        await conn.execute(  # the live body: the ledger's copy has its links redacted
            "INSERT INTO outbox (message_id, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (message.message_id, message.body),
        )
        return f"outbox:{message.message_id}"


class StaffCallChannel:
    """The phone channel: a front-desk task to call the client and read them the message."""

    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        task = await insert_task(
            conn,
            CreateTaskRequest(
                idempotency_key=message.idempotency_key,
                case_id=message.case_id,
                kind=TaskKind.CALL_CLIENT,
                assignee=RecipientRole.FRONT_DESK,
                title=message.subject,
                details=message.body,
                due_at=datetime.now(UTC),
                data={"phone": message.address, "message_id": message.message_id},
            ),
        )
        return f"task:{task.task_id}"


class SendGridChannel:
    """Email through SendGrid's v3 mail API, using the official client."""

    def __init__(
        self, api_key: str, sender: str, host: str = "https://api.sendgrid.com", timeout: float = 10
    ) -> None:
        self._client = SendGridAPIClient(api_key=api_key, host=host)
        self._sender = sender
        self._timeout = timeout

    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        mail = Mail(
            from_email=self._sender,
            to_emails=message.address,
            subject=message.subject,
            plain_text_content=message.body,
        )
        body: dict[str, Any] = mail.get()
        # SendGrid deduplicates nothing itself; the key travels along for support look-ups.
        body["custom_args"] = {"idempotency_key": message.idempotency_key}
        try:
            response = await asyncio.to_thread(
                self._client.client.mail.send.post, request_body=body, timeout=self._timeout
            )
        except HTTPError as err:
            raise _classify(err.status_code, err.body, err.headers) from err
        except (URLError, TimeoutError, ConnectionError) as err:
            raise TransientDeliveryError(f"SendGrid unreachable: {err}") from err
        return str(response.headers.get("X-Message-Id") or f"sendgrid:{message.idempotency_key}")


def _classify(status: int, body: Any, headers: Any) -> Exception:
    detail = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    if status == 429 or status >= 500:
        retry_after = _retry_after(headers)
        return TransientDeliveryError(f"SendGrid answered {status}: {detail[:300]}", retry_after)
    return PermanentDeliveryError(f"SendGrid answered {status}: {detail[:300]}")


def _retry_after(headers: Any) -> timedelta | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return timedelta(seconds=min(int(value), 3600)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class StaffDirectory:
    supervisor_email: str
    front_desk_email: str


@dataclass(frozen=True)
class LinkSettings:
    base_url: str
    secret: str
    ttl: timedelta


class MessagingActivities:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        channels: dict[Channel, DeliveryChannel],
        staff: StaffDirectory,
        link_settings: LinkSettings,
    ) -> None:
        self._pool = pool
        self._channels = channels
        self._staff = staff
        self._links = link_settings
        self._templates = template_names()

    @activity.defn
    async def send_message(self, request: SendMessageRequest) -> SendMessageResult:
        if request.template not in self._templates:
            raise ApplicationError(
                f"no template named {request.template!r}",
                type=errors.UNKNOWN_TEMPLATE,
                non_retryable=True,
            )
        recipient = self._resolve(request.to)
        address = _address(recipient, request.channel)
        signed = self._signed_links(request)
        context = {**request.context, "links": signed}
        rendered = render(request.template, recipient.locale, recipient.timezone, context)
        stored = RenderedMessage(rendered.subject, links.redact(rendered.body, signed))

        async with self._pool.connection() as conn:
            ledger = await _ledger_entry(conn, request, recipient, address, stored)
            message_id = ledger.message_id
            if ledger.status == MessageStatus.SENT:
                _count(request, "already_sent")
                return SendMessageResult(
                    message_id=message_id,
                    channel=request.channel,
                    provider_id=ledger.provider_id or "",
                    status=MessageStatus.SENT,
                    subject=ledger.subject,
                )
            # The ledger keeps the body with links redacted; the channel gets them live.
            outgoing = OutgoingMessage(
                message_id=message_id,
                idempotency_key=request.idempotency_key,
                case_id=request.case_id,
                channel=request.channel,
                address=address,
                name=recipient.name,
                subject=ledger.subject,
                body=rendered.body,
            )
            try:
                provider_id = await self._channels[request.channel].deliver(conn, outgoing)
            except PermanentDeliveryError as err:
                await _mark(conn, message_id, MessageStatus.FAILED, error=str(err))
                _count(request, "rejected")
                raise ApplicationError(
                    str(err), type=errors.DELIVERY_REJECTED, non_retryable=True
                ) from err
            except TransientDeliveryError as err:
                await _mark(conn, message_id, MessageStatus.PENDING, error=str(err))
                _count(request, "retrying")
                raise ApplicationError(
                    str(err), type=errors.DELIVERY_UNAVAILABLE, next_retry_delay=err.retry_after
                ) from err
            await _mark(conn, message_id, MessageStatus.SENT, provider_id=provider_id)
        _count(request, "sent")
        activity.logger.info("sent %s via %s (%s)", request.template, request.channel, provider_id)
        return SendMessageResult(
            message_id=message_id,
            channel=request.channel,
            provider_id=provider_id,
            status=MessageStatus.SENT,
            subject=ledger.subject,
        )

    def _resolve(self, to: Recipient) -> Recipient:
        if to.role is RecipientRole.SUPERVISOR:
            return to.model_copy(
                update={"email": self._staff.supervisor_email, "name": to.name or "Supervisor"}
            )
        if to.role is RecipientRole.FRONT_DESK:
            return to.model_copy(
                update={"email": self._staff.front_desk_email, "name": to.name or "Front desk"}
            )
        return to

    def _signed_links(self, request: SendMessageRequest) -> dict[str, str]:
        start = request.context.get("start")  # links of a visit are spent once it moves
        return links.message_links(
            self._links.secret,
            self._links.base_url,
            request.case_id,
            request.link_actions,
            activity.info().scheduled_time + self._links.ttl,  # same links on every retry
            datetime.fromisoformat(start) if isinstance(start, str) else None,
        )


def _count(request: SendMessageRequest, outcome: str) -> None:
    """One message outcome on the `promptly_messages` counter (no recipient data)."""
    activity.metric_meter().create_counter(metrics.MESSAGES, metrics.HELP[metrics.MESSAGES]).add(
        1,
        {"channel": request.channel.value, "template": request.template, "outcome": outcome},
    )


def _address(recipient: Recipient, channel: Channel) -> str:
    address = recipient.email if channel is Channel.EMAIL else recipient.phone
    if not address:
        raise ApplicationError(
            f"{recipient.role.value} has no {'email' if channel is Channel.EMAIL else 'phone'}"
            f" for channel {channel.value}",
            type=errors.INVALID_RECIPIENT,
            non_retryable=True,
        )
    return address


@dataclass(frozen=True)
class LedgerEntry:
    message_id: int
    status: MessageStatus
    provider_id: str | None
    subject: str
    body: str


async def _ledger_entry(
    conn: AsyncConnection,
    request: SendMessageRequest,
    recipient: Recipient,
    address: str,
    rendered: RenderedMessage,
) -> LedgerEntry:
    """The ledger row for this key, created on first sight; counts the attempt."""
    await conn.execute(
        """INSERT INTO messages (idempotency_key, case_id, template, channel, recipient_role,
                                 recipient, locale, subject, body, status, requested_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s)
           ON CONFLICT (idempotency_key) DO NOTHING""",
        (
            request.idempotency_key,
            request.case_id,
            request.template,
            request.channel.value,
            recipient.role.value,
            address,
            recipient.locale.value,
            rendered.subject,
            rendered.body,
            activity.info().scheduled_time,
        ),
    )
    cursor = await conn.execute(
        """UPDATE messages SET attempts = attempts + (status <> 'sent')::int
            WHERE idempotency_key = %s
        RETURNING id, status, provider_id, subject, body""",
        (request.idempotency_key,),
    )
    row = await cursor.fetchone()
    if row is None:  # pragma: no cover - the row was inserted just above
        raise ApplicationError("message ledger row vanished", type=errors.DELIVERY_UNAVAILABLE)
    await conn.commit()
    return LedgerEntry(row[0], MessageStatus(row[1]), row[2], row[3], row[4])


async def _mark(
    conn: AsyncConnection,
    message_id: int,
    status: MessageStatus,
    *,
    provider_id: str | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE messages
              SET status = %s, provider_id = COALESCE(%s, provider_id),
                  last_error = COALESCE(%s, last_error),
                  sent_at = CASE WHEN %s = 'sent' THEN now() ELSE sent_at END
            WHERE id = %s""",
        (status.value, provider_id, error, status.value, message_id),
    )
    await conn.commit()
