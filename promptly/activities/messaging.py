"""Messaging: one activity, one ledger, several channels.

`send_message` renders the template, stores the message in the `messages` ledger under its
idempotency key and hands it to the channel. A retry finds the ledger row already `sent` and
returns it, so a recorded send never goes out twice. Two windows are left where the provider
may hold a message the ledger does not call sent: the worker died after the provider
accepted (kept to one UPDATE on a connection already open), and the provider's answer never
came (a timeout, a dropped connection, a 5xx: an unknown outcome, not a refusal). The row
keeps `in_flight_since` through both, and they are made harmless where the channel allows it:
an SMS attempt after one whose outcome is unknown first asks Twilio whether the number got
it; SendGrid cannot be asked, so an email goes again, and every email carries a `Message-ID`
derived from the idempotency key, which mail clients use to drop a second copy.

The activity heartbeats while it runs (a crashed attempt is retried within seconds, and a
cancelled send learns of it) and checks for cancellation right before the provider call. A
cancellation that comes while the provider call is under way waits for its answer: the
message may already be out, so an accepted message is recorded `sent` and the workflow hears
that it went, and a refused one ends the send as cancelled.
It decides its own retry delay: a throttled answer (429 with Retry-After) waits what the
provider asked and does not count as an error, so it never uses up the error backoff; refused
credentials (401/403: a revoked key, an unverified sender) back off more slowly and log an
ERROR each attempt. A transient answer ends the attempt with a benign error and one log line
(not the SDK's warning with its traceback).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from promptly.activities import calendar_attachments, send_attempt
from promptly.activities import ledger as message_ledger
from promptly.activities.channels import (
    DeliveryChannel,
    LookupChannel,
    OutboxChannel,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    retry_delay,
)
from promptly.activities.send_log import _count, _log_retry, _transient_outcome
from promptly.domain import errors, links, read_outs
from promptly.domain.appointments import call_due
from promptly.domain.common import Channel, RecipientRole
from promptly.domain.messages import (
    AbandonMessageRequest,
    MessageStatus,
    Recipient,
    SendMessageRequest,
    SendMessageResult,
)
from promptly.domain.rendering import RenderedMessage, render, template_names

# The provider's clock against PostgreSQL's, when looking up what an attempt got through.
PROVIDER_CLOCK_SLACK = timedelta(minutes=2)


@dataclass(frozen=True)
class StaffDirectory:
    supervisor_email: str
    front_desk_email: str
    # Where the visits are: a reader in another zone gets every time with its zone named.
    # None: times are never named (a deployment that serves one zone only).
    office_timezone: str | None = None


@dataclass(frozen=True)
class LinkSettings:
    base_url: str
    secret: str
    ttl: timedelta
    # The right-hand side of every calendar UID: set once, never change (calendars would
    # see every appointment as a new event).
    calendar_domain: str = "promptly.invalid"


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
        errors_so_far = send_attempt.previous_errors()
        beat = asyncio.create_task(send_attempt.keep_heartbeating(errors_so_far))
        try:
            return await self._send(request, errors_so_far)
        finally:
            beat.cancel()

    @activity.defn
    async def abandon_message(self, request: AbandonMessageRequest) -> SendMessageResult | None:
        """The message will never go out: `abandoned` with its reason, never `pending`; so is
        every row it went under instead (`ledger_keys`).

        An SMS given up for an email (`keep_last_answer`) whose attempt may have reached Twilio
        (no answer, a 5xx) is asked after first: one Twilio holds is recorded `sent` and
        returned, so no email follows. Twilio not answering that either, it is given up."""
        async with self._pool.connection() as conn:
            if request.keep_last_answer:
                taken = await self._taken_after_all(conn, request.idempotency_key)
                if taken is not None:
                    return taken
            await conn.execute(
                """UPDATE messages SET status = 'abandoned',
                          last_error = left(%s || CASE WHEN %s
                              THEN COALESCE('; last answer: ' || last_error, '') ELSE '' END,
                              1000)
                    WHERE idempotency_key = ANY(%s) AND status = 'pending'""",
                (
                    request.reason[:1000],
                    request.keep_last_answer,
                    self.ledger_keys(request.idempotency_key),
                ),
            )
        return None

    async def _taken_after_all(
        self, conn: AsyncConnection, idempotency_key: str
    ) -> SendMessageResult | None:
        """The message of this key as its provider holds it, if an attempt whose outcome is
        unknown got it through (recorded `sent` now); None when none did, or nobody can say."""
        cursor = await conn.execute(
            """SELECT id, case_id, channel, recipient, subject, body, template, in_flight_since
                 FROM messages WHERE idempotency_key = %s AND status = 'pending'""",
            (idempotency_key,),
        )
        row = await cursor.fetchone()
        if row is None or row[7] is None:
            return None
        message_id, case_id, channel_name, address, subject, body, template, since = row
        channel = Channel(channel_name)
        stored = OutgoingMessage(
            message_id, idempotency_key, case_id, channel, address, "", subject, body, template
        )
        try:
            provider_id = await _taken_before(self._channels[channel], stored, since)
        except Exception as err:  # noqa: BLE001 - the provider cannot say: give it up
            activity.logger.warning("could not ask whether %s went: %s", idempotency_key, err)
            return None
        if provider_id is None:
            return None
        await message_ledger.mark(conn, message_id, MessageStatus.SENT, provider_id=provider_id)
        return SendMessageResult(
            message_id=message_id,
            channel=channel,
            provider_id=provider_id,
            status=MessageStatus.SENT,
            subject=subject,
        )

    def ledger_keys(self, idempotency_key: str) -> list[str]:
        """Every ledger key the message of this key may be sent under."""
        return [idempotency_key]

    async def _send(self, request: SendMessageRequest, errors_so_far: int) -> SendMessageResult:
        if request.template not in self._templates:
            raise ApplicationError(
                f"no template named {request.template!r}",
                type=errors.UNKNOWN_TEMPLATE,
                non_retryable=True,
            )
        recipient = self._resolve(request.to)
        address = _address(recipient, request.channel)
        message_links = self._signed_links(request)
        context = {**request.context, "links": message_links}
        invitation = calendar_attachments.invitation_attachment(
            request.template,
            request.channel,
            recipient,
            request.context,
            message_links,
            uid_domain=self._links.calendar_domain,
            # DTSTAMP orders updates with the same SEQUENCE (a confirmation): the moment the
            # workflow asked for this message, so a late retry never outdates a newer one.
            now=activity.info().scheduled_time,
        )
        rendered = render(
            request.template,
            recipient.locale,
            recipient.timezone,
            context,
            request.channel,
            office_timezone=self._staff.office_timezone,
        )
        stored = RenderedMessage(rendered.subject, links.redact(rendered.body, message_links))

        async with self._pool.connection() as conn:
            ledger = await message_ledger.record_attempt(conn, request, recipient, address, stored)
            message_id = ledger.message_id
            if ledger.status in message_ledger.DONE:
                _count(request, "already_sent")
                return SendMessageResult(
                    message_id=message_id,
                    channel=request.channel,
                    provider_id=ledger.provider_id or "",
                    status=ledger.status,
                    subject=ledger.subject,
                    outcome=ledger.status,
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
                template=request.template,
                body=(
                    links.read_out(rendered.body, message_links)
                    if request.channel is Channel.PHONE
                    else rendered.body
                ),
                attachments=(invitation,) if invitation is not None else (),
                in_reply_to=request.in_reply_to,
                task_title=(
                    read_outs.call_task_title(
                        request.template,
                        recipient.name,
                        ledger.subject,
                        context,
                        self._staff.office_timezone or recipient.timezone,
                    )
                    if request.channel is Channel.PHONE
                    else ""
                ),
                task_due_at=(
                    call_due.message_call_due(request.template, request.context)
                    if request.channel is Channel.PHONE
                    else None
                ),
            )
            await send_attempt.not_cancelled(errors_so_far)
            channel = self._channels[request.channel]
            # From when the provider may already hold this message: an earlier attempt that
            # got no answer, until the provider says it has nothing.
            in_doubt_since = ledger.unrecorded_since
            try:
                provider_id = await _taken_before(channel, outgoing, in_doubt_since)
                if provider_id is None and isinstance(channel, LookupChannel):
                    in_doubt_since = None  # asked (or nothing to ask): it has nothing
                provider_id = provider_id or await send_attempt.answered(
                    channel.deliver(conn, outgoing)
                )
            except PermanentDeliveryError as err:
                # An earlier attempt nobody could resolve may still have got it through.
                await message_ledger.mark(
                    conn,
                    message_id,
                    MessageStatus.FAILED,
                    error=str(err),
                    unknown_since=in_doubt_since,
                )
                _count(request, "rejected")
                send_attempt.stop_if_cancelled()
                raise ApplicationError(
                    str(err), type=errors.DELIVERY_REJECTED, non_retryable=True
                ) from err
            except TransientDeliveryError as err:
                # Marked right away. A refusal (429) means nothing went out meanwhile; without
                # an answer the provider may have taken it, and the row says since when, so
                # the next attempt asks the provider before sending again.
                if err.maybe_taken:
                    in_doubt_since = _earliest(in_doubt_since, ledger.attempt_since)
                await message_ledger.mark(
                    conn,
                    message_id,
                    MessageStatus.PENDING,
                    error=str(err),
                    unknown_since=in_doubt_since,
                )
                send_attempt.stop_if_cancelled()
                delay, errors_now = retry_delay(err, errors_so_far)
                # The next attempt reads the error count from this heartbeat.
                activity.heartbeat(errors_now)
                _count(request, _transient_outcome(err))
                _log_retry(request, err, delay)
                # Benign: the SDK logs it at DEBUG, without a traceback (the line above says
                # it once); the attempt number travels along for the case's timeline.
                raise ApplicationError(
                    str(err),
                    activity.info().attempt,
                    type=errors.DELIVERY_UNAVAILABLE,
                    next_retry_delay=delay,
                    category=ApplicationErrorCategory.BENIGN,
                ) from err
            # Without a provider the message only waits in the outbox: never call that sent.
            status = (
                MessageStatus.QUEUED_IN_OUTBOX
                if isinstance(self._channels[request.channel], OutboxChannel)
                else MessageStatus.SENT
            )
            # First thing after the provider accepted: the smaller this gap, the fewer repeats.
            await message_ledger.mark(conn, message_id, status, provider_id=provider_id)
        _count(request, status.value)
        activity.logger.info("sent %s via %s (%s)", request.template, request.channel, provider_id)
        return SendMessageResult(
            message_id=message_id,
            channel=request.channel,
            provider_id=provider_id,
            status=status,
            subject=ledger.subject,
            outcome=status,
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
        visit_start = datetime.fromisoformat(start) if isinstance(start, str) else None
        moves = request.context.get("reschedules")
        return links.message_links(
            self._links.secret,
            self._links.base_url,
            request.case_id,
            request.link_actions,
            # From when the workflow asked and the visit's start: same links on every retry.
            links.links_expire_at(activity.info().scheduled_time, self._links.ttl, visit_start),
            visit_start,
            moves=moves if isinstance(moves, int) else None,
            compact=request.channel is Channel.SMS,
        )


async def _taken_before(
    channel: DeliveryChannel, message: OutgoingMessage, in_doubt_since: datetime | None
) -> str | None:
    """The provider's id of this message if an attempt whose outcome is unknown (it ended
    unrecorded, or without the provider's answer) got it through, as far as the channel can
    tell (Twilio can; an email keeps its Message-ID instead)."""
    if in_doubt_since is None or not isinstance(channel, LookupChannel):
        return None
    taken = await channel.accepted_since(message, in_doubt_since - PROVIDER_CLOCK_SLACK)
    if taken is not None:
        activity.logger.info("an earlier attempt got %s through: not sent again", taken)
    return taken


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((moment for moment in moments if moment is not None), default=None)


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
