"""The delivery channels behind the messaging activity: their one interface, the outbox, the
staff call task and SendGrid; how a provider's answer maps to a permanent or a transient
failure, and the backoff between attempts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.error import URLError

from psycopg import AsyncConnection
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment as SendGridAttachment
from sendgrid.helpers.mail import Disposition, FileContent, FileName, FileType, Mail

from promptly.activities.calendar_attachments import Attachment
from promptly.activities.tasks import insert_task
from promptly.domain.common import Channel, RecipientRole
from promptly.domain.tasks import CreateTaskRequest, TaskKind

# Ledger states after which a retry sends nothing again.


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
    # Rebuilt from the request on a retry; only the email channel can carry them.
    attachments: tuple[Attachment, ...] = ()


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (bad address, bad credentials)."""


class TransientDeliveryError(Exception):
    """Try again later (rate limit, outage); `retry_after` is the provider's hint."""

    def __init__(
        self, reason: str, retry_after: timedelta | None = None, *, throttled: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        # The provider asked us to slow down (429): not an error of the channel.
        self.throttled = throttled


# Backoff after channel errors (5xx, unreachable): 5 s, 10 s, 20 s … at most 30 min.
ERROR_BACKOFF_FIRST = timedelta(seconds=5)
ERROR_BACKOFF_MAX = timedelta(minutes=30)
HEARTBEAT_EVERY = 1.0


def error_backoff(errors_so_far: int) -> timedelta:
    """The wait after the `errors_so_far`-th channel error (1-based)."""
    exponent = max(errors_so_far - 1, 0)
    if exponent >= 20:
        return ERROR_BACKOFF_MAX
    return min(ERROR_BACKOFF_FIRST * (1 << exponent), ERROR_BACKOFF_MAX)


def retry_delay(err: TransientDeliveryError, errors_so_far: int) -> tuple[timedelta, int]:
    """(how long to wait before the next attempt, the error count after this answer)."""
    if err.throttled and err.retry_after is not None:
        return err.retry_after, errors_so_far
    errors_now = errors_so_far + 1
    backoff = error_backoff(errors_now)
    return max(backoff, err.retry_after or timedelta(0)), errors_now


def message_id_header(idempotency_key: str, sender: str) -> str:
    """A stable RFC 5322 Message-ID for one message: a repeat is the same message."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = sender.rpartition("@")[2] or "promptly.invalid"
    return f"<{digest}@{domain}>"


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
        for attachment in message.attachments:
            mail.add_attachment(
                SendGridAttachment(
                    FileContent(base64.b64encode(attachment.content).decode()),
                    FileName(attachment.filename),
                    FileType(attachment.content_type),
                    Disposition("attachment"),
                )
            )
        body: dict[str, Any] = mail.get()
        # SendGrid deduplicates nothing itself; the key travels along for support look-ups,
        # and the stable Message-ID lets mail clients drop a repeat.
        body["custom_args"] = {"idempotency_key": message.idempotency_key}
        body["headers"] = {"Message-ID": message_id_header(message.idempotency_key, self._sender)}
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
        return TransientDeliveryError(
            f"SendGrid answered {status}: {detail[:300]}", retry_after, throttled=status == 429
        )
    return PermanentDeliveryError(f"SendGrid answered {status}: {detail[:300]}")


def _retry_after(headers: Any) -> timedelta | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return timedelta(seconds=min(int(value), 3600)) if value is not None else None
    except ValueError:
        return None
