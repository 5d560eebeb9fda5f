"""A message to send, to whom, and how it went (the messaging activity's input and output)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from promptly.domain.common import Channel, Locale, Model, RecipientRole
from promptly.domain.tasks import CreateTaskRequest

# An RFC 5322 Message-ID as Promptly repeats one in a header: `<…>`, printable ASCII in it
# without spaces or brackets (nothing that could end the header line or need encoding), at
# most 500 characters.
MESSAGE_ID = r"<[\x21-\x3b\x3d\x3f-\x7e]{1,500}>"


class Recipient(Model):
    """Whom a message goes to. Staff roles are resolved to addresses by the worker."""

    role: RecipientRole
    name: str = ""
    email: str | None = None
    phone: str | None = None
    locale: Locale = Locale.EN
    timezone: str = "UTC"


class SendMessageRequest(Model):
    idempotency_key: str
    case_id: str
    template: str
    channel: Channel
    to: Recipient
    context: dict[str, Any] = Field(default_factory=dict)
    link_actions: list[str] = Field(default_factory=list)
    # The Message-ID of the client's email this one answers (email only): mail programs file
    # the answer in the client's thread (In-Reply-To and References).
    in_reply_to: str | None = Field(default=None, pattern=f"^{MESSAGE_ID}$")


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Will never go out: its budget ran out, or a change of the case made it moot.
    ABANDONED = "abandoned"
    # No provider configured: the message waits in the outbox table, it has not gone out.
    QUEUED_IN_OUTBOX = "queued_in_outbox"


class AbandonMessageRequest(Model):
    """Give up a message that has not gone out; the reason stays in the ledger."""

    idempotency_key: str
    reason: str
    # The provider's last answer, already on the row, follows the reason (an SMS given up for
    # an email: why Twilio did not take it).
    keep_last_answer: bool = False


class SendMessageResult(Model):
    message_id: int
    channel: Channel
    provider_id: str
    status: MessageStatus
    subject: str
    # sent (handed to the provider) or queued_in_outbox (no provider configured)
    outcome: MessageStatus = MessageStatus.SENT


class NoticeRequest(Model):
    """One message and/or one staff task outside a case's own plan: a reply to a client's SMS,
    an opt-out confirmation, the fallback of an undelivered SMS (ClientNoticeWorkflow)."""

    message: SendMessageRequest | None = None
    task: CreateTaskRequest | None = None


class NoticeResult(Model):
    message: SendMessageResult | None = None
    message_error: str | None = None
    task_id: int | None = None
