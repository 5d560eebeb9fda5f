"""What a compliance export holds: a case's history (timeline joined with the messages sent,
the staff tasks made and the client's replies) and a client's cases, messages and replies.
Loaded by promptly/services/history.py, rendered by promptly/services/history_render.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from promptly.domain.common import Channel
from promptly.domain.readable_time import exact
from promptly.services.billing_record import BillingRow
from promptly.services.promise_ledger import LedgerRow


class Format(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


class ExportedMessage(BaseModel):
    """A row of the `messages` ledger: what went to whom, on which channel, and its fate.

    `subject` is the ledger's title of the message: an email's subject line, but no part of
    what an SMS or a phone call carried (`sent_subject`: what the client received of it)."""

    model_config = ConfigDict(frozen=True)

    message_id: int
    template: str
    channel: str
    recipient_role: str
    recipient: str
    locale: str
    subject: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    requested_at: datetime
    sent_at: datetime | None
    # The provider's delivery receipt (SMS: delivered, undelivered, failed) and its error code.
    delivery_status: str | None = None
    delivery_error_code: str | None = None
    # When that receipt came (a read-out call's: when the desk recorded its outcome).
    delivery_updated_at: datetime | None = None
    # The provider's id of the message (Twilio's MessageSid `SM…`, SendGrid's message id;
    # `task:<id>` for a call task, `outbox:<id>` without a provider); None until handed over.
    provider_message_id: str | None = None
    # Why a message that did not reach its client was not passed on: the case had moved past
    # it (the visit cancelled or moved, the inquiry answered).
    delivery_moot: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sent_subject(self) -> str | None:
        """The subject line the recipient received: only an email has one."""
        return self.subject if self.channel == Channel.EMAIL else None


class ExportedTask(BaseModel):
    """A staff task of the case (a call to make, a confirmation to send by hand, a client's
    reply to read) and how it ended."""

    model_config = ConfigDict(frozen=True)

    task_id: int
    kind: str
    assignee: str
    title: str
    details: str
    due_at: datetime
    status: str
    outcome: str | None
    note: str | None
    closed_by: str | None  # "staff:ewa via desk": who closed it, and through which API key
    created_at: datetime
    closed_at: datetime | None


class ClientReply(BaseModel):
    """A message the client sent us (SMS or email reply) and what Promptly did with it."""

    received_at: datetime
    channel: str
    sender: str
    body: str
    intent: str
    outcome: str | None
    case_id: str | None
    client_id: str | None = None  # None: the sender matched no single client


class ExportedEntry(BaseModel):
    """One line of the history. `seq` is the timeline position; None for what no timeline
    entry refers to (a ledger message, a staff task, a client's reply), listed at the time it
    was requested, opened or received."""

    seq: int | None
    at: datetime
    kind: str  # a timeline kind, or "reply" for a client's reply
    actor: str  # "client:C-17 via crm", as Actor.signature() writes it
    via: str | None = None  # the API key the actor acted through, if any
    detail: str
    channel: str | None = None
    reason: str | None = None
    data: dict[str, Any]
    message: ExportedMessage | None = None
    task: ExportedTask | None = None
    reply: ClientReply | None = None


class CaseExport(BaseModel):
    case_id: str
    kind: str
    business_id: str
    status: str
    client_id: str
    provider_id: str | None
    starts_at: datetime | None
    details: dict[str, Any]
    timezone: str
    entries: list[ExportedEntry]
    # The promise ledger's rows of the case: the verdicts the workflow reached.
    promises: list[LedgerRow] = []
    # The billing record's rows of the case: each fee outcome, who decided and via which key.
    billing: list[BillingRow] = []


class ClientCase(BaseModel):
    case_id: str
    kind: str
    business_id: str
    status: str
    created_at: datetime
    starts_at: datetime | None
    messages: list[ExportedMessage]


class ClientExport(BaseModel):
    client_id: str
    timezone: str
    cases: list[ClientCase]
    sms_consent: str | None = None  # e.g. "+48600100200 opted out 2026-11-30 10:00:12 +01:00"
    replies: list[ClientReply] = []
    # Every billing outcome of the client's visits, a purged case's too.
    billing: list[BillingRow] = []


def when_text(moment: datetime | None) -> str:
    """To the second, with the UTC offset (the export's moments are in its timezone already,
    named once in its header)."""
    return exact(moment, str(moment.tzinfo)) if moment else "-"
