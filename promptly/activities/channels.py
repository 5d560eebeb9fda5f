"""The delivery channels behind the messaging activity: their one interface, the outbox and
the staff call task; the permanent and transient failures a provider's answer maps to, and
the backoff between attempts. The providers' own channels live beside it, each in its module
(`sendgrid_email.py`, `sms.py`), so only the worker loads their client libraries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from psycopg import AsyncConnection

from promptly.activities.calendar_attachments import Attachment
from promptly.activities.tasks import insert_task, supersede_read_outs
from promptly.domain.common import Channel, RecipientRole
from promptly.domain.tasks import CreateTaskRequest, TaskKind


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
    template: str
    # Rebuilt from the request on a retry; only the email channel can carry them.
    attachments: tuple[Attachment, ...] = ()
    # By phone, the title of the desk's call task, in the staff's language
    # (read_outs.call_task_title); the other channels have none.
    task_title: str = ""
    # By phone, by when the desk must call (call_due.message_call_due); None: at once.
    task_due_at: datetime | None = None
    # The Message-ID of the email this one answers (email only; SendMessageRequest's).
    in_reply_to: str | None = None


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (a bad address, a malformed message)."""


class TransientDeliveryError(Exception):
    """Try again later (rate limit, outage); `retry_after` is the provider's hint."""

    def __init__(
        self,
        reason: str,
        retry_after: timedelta | None = None,
        *,
        throttled: bool = False,
        maybe_taken: bool = False,
        credentials: bool = False,
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        # The provider asked us to slow down (429): not an error of the channel.
        self.throttled = throttled
        # The provider refused Promptly's account (a revoked key, an unverified sender): the
        # account's problem, not the message's. Retried, more slowly, until someone fixes it.
        self.credentials = credentials
        # The outcome is unknown, not a refusal: the request reached the provider and no
        # answer came back (no answer in time, the connection dropped, a 5xx), so it may have
        # taken the message. The next attempt asks it first where the channel can.
        self.maybe_taken = maybe_taken


# The longest wait a provider's Retry-After may ask for before we try again.
MAX_RETRY_AFTER = timedelta(hours=1)


def retry_after(value: str | None) -> timedelta | None:
    """A Retry-After header given in seconds (at most `MAX_RETRY_AFTER`); None if absent or
    not a number."""
    try:
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None


# Backoff after channel errors (5xx, unreachable): 5 s, 10 s, 20 s … at most 30 min.
ERROR_BACKOFF_FIRST = timedelta(seconds=5)
ERROR_BACKOFF_MAX = timedelta(minutes=30)
# Backoff after the provider refused our credentials: 1 min, 2 min, 4 min … at most 30 min
# (someone has to fix the settings first).
CREDENTIALS_BACKOFF_FIRST = timedelta(minutes=1)
HEARTBEAT_EVERY = 1.0


def error_backoff(errors_so_far: int, first: timedelta = ERROR_BACKOFF_FIRST) -> timedelta:
    """The wait after the `errors_so_far`-th channel error (1-based)."""
    exponent = max(errors_so_far - 1, 0)
    if exponent >= 20:
        return ERROR_BACKOFF_MAX
    return min(first * (1 << exponent), ERROR_BACKOFF_MAX)


def retry_delay(err: TransientDeliveryError, errors_so_far: int) -> tuple[timedelta, int]:
    """(how long to wait before the next attempt, the error count after this answer)."""
    if err.throttled and err.retry_after is not None:
        return err.retry_after, errors_so_far
    errors_now = errors_so_far + 1
    first = CREDENTIALS_BACKOFF_FIRST if err.credentials else ERROR_BACKOFF_FIRST
    backoff = error_backoff(errors_now, first)
    return max(backoff, err.retry_after or timedelta(0)), errors_now


class DeliveryChannel(Protocol):
    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        """Deliver the message; return the provider's id for it."""
        ...


@runtime_checkable
class LookupChannel(DeliveryChannel, Protocol):
    """A channel whose provider can say what it took, so an attempt that ended unrecorded (a
    killed worker after the provider accepted) or without an answer (a timeout, a dropped
    connection: `TransientDeliveryError.maybe_taken`) is not sent twice."""

    async def accepted_since(self, message: OutgoingMessage, since: datetime) -> str | None:
        """The provider's id of this very message if it took it at or after `since`."""
        ...


class DoubleSendRisk(ValueError):  # noqa: N818 - a refusal of the worker's setup
    """An SMS or email channel that could send a message twice (`check_sent_once`)."""


def check_sent_once(channels: Mapping[Channel, DeliveryChannel]) -> None:
    """Refuse an SMS or email channel that can neither say what its provider took
    (`LookupChannel.accepted_since`) nor have a repeat dropped downstream (`repeats_dropped`:
    the outbox's one row per message, SendGrid's stable Message-ID): after an attempt that
    got no answer (a timeout) it would send the message again."""
    for kind in (Channel.SMS, Channel.EMAIL):
        channel = channels.get(kind)
        if channel is None or isinstance(channel, LookupChannel):
            continue
        if not getattr(channel, "repeats_dropped", False):
            raise DoubleSendRisk(
                f"the {kind.value} channel {type(channel).__name__} has no accepted_since: a "
                "send whose answer never came (a timeout) would be sent again. Implement "
                "LookupChannel.accepted_since (as TwilioSmsChannel does), or set "
                "repeats_dropped = True when the provider or the recipient drops a repeat "
                "(docs/extending.md, a new channel)"
            )


class OutboxChannel:
    """Keeps the rendered message (table `outbox`) for staff or a relay to pick up."""

    repeats_dropped = True  # one row per message (ON CONFLICT DO NOTHING)

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
                title=message.task_title,
                details=message.body,
                due_at=message.task_due_at or datetime.now(UTC),
                data={"phone": message.address, "message_id": message.message_id},
            ),
        )
        await supersede_read_outs(conn, task, message.case_id, message.address, message.template)
        return f"task:{task.task_id}"
