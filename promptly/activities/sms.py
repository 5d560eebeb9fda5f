"""SMS: the Twilio channel, and the routing that keeps every client's SMS consent.

`TwilioSmsChannel` sends through the official `twilio` client (its HTTP client pointed at
`base_url`, so tests and `make run` use a local fake). `SmsRoutingMessaging` is the
`send_message` activity with the SMS rules in front of it: an opted-out number, or one Twilio
called invalid, never gets an SMS; the client's message goes by email instead (or as a call
task for the front desk when there is no email), and the result names the channel used. A
message Twilio refuses for good for itself (any other 4xx) goes by email too, when there is one.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import requests
from psycopg import AsyncConnection
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client as TwilioClient
from urllib3.exceptions import MaxRetryError, NewConnectionError

from promptly.activities.channels import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    retry_after,
)
from promptly.activities.messaging import MessagingActivities
from promptly.activities.sms_numbers import (
    REROUTED_TO,
    blocked_reason,
    mark_opted_out,
    mark_undeliverable,
    number_state,
    rerouted,
    rerouted_key,
)
from promptly.activities.tasks import insert_task
from promptly.domain import errors, links
from promptly.domain.common import Channel, RecipientRole
from promptly.domain.messages import SendMessageRequest, SendMessageResult
from promptly.domain.sms import CONSENT_TEMPLATES, TwilioFailure, twilio_failure
from promptly.domain.tasks import CreateTaskRequest, TaskKind

TWILIO_API = "https://api.twilio.com"
# How many of a number's latest messages a retry reads to find one an earlier attempt sent.
LOOKUP_LIMIT = 20
REMEMBERED_CLIENTS = 50_000


class _BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's own HTTP client with api.twilio.com replaced by `base_url` (Twilio's
    documented way to reach another host is a custom HTTP client). It keeps the Retry-After
    of the last answer per thread: each send runs in one worker thread."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base_url = base_url.rstrip("/")
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base_url + url[len(TWILIO_API) :]
        self._local.retry_after = None
        response = super().request(method, url, *args, **kwargs)
        headers = response.headers or {}
        self._local.retry_after = headers.get("Retry-After")
        return response

    def last_retry_after(self) -> timedelta | None:
        return retry_after(getattr(self._local, "retry_after", None))


class TwilioSmsChannel:
    """SMS through Twilio's Messages API, each with a StatusCallback for delivery receipts."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        sender: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = TWILIO_API,
        status_callback: str | None = None,
        timeout: float = 10,
    ) -> None:
        if not sender and not messaging_service_sid:
            raise ValueError("Twilio needs a sender number or a messaging service SID")
        self._http = _BaseUrlHttpClient(base_url, timeout)
        self._client = TwilioClient(account_sid, auth_token, http_client=self._http)
        self._sender = sender
        self._messaging_service_sid = messaging_service_sid
        self._status_callback = status_callback

    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        try:
            return await asyncio.to_thread(self._create, message)
        except _InvalidNumber as err:
            await mark_undeliverable(conn, message.address, str(err), err.no_such_number)
            raise PermanentDeliveryError(str(err)) from err
        except _OptedOutAtTwilio as err:
            await mark_opted_out(conn, message.address)
            raise PermanentDeliveryError(str(err)) from err

    async def accepted_since(self, message: OutgoingMessage, since: datetime) -> str | None:
        """The SID of this very message (same number, same text) if Twilio took it at or after
        `since`, from the number's latest messages, newest first."""
        return await asyncio.to_thread(self._find, message, since)

    def _find(self, message: OutgoingMessage, since: datetime) -> str | None:
        try:
            latest = self._client.messages.list(to=message.address, limit=LOOKUP_LIMIT)
        except (TwilioRestException, TwilioServiceException) as err:
            raise self._classified(err) from err
        except UNANSWERED as err:
            raise TransientDeliveryError(f"Twilio unreachable: {err}") from err
        except TwilioException as err:  # the list answered an error page ("Unable to fetch page")
            raise TransientDeliveryError(f"Twilio could not list the messages: {err}") from err
        for sent in latest:
            if sent.date_created is not None and sent.date_created < since:
                break
            # The ledger's body (a lookup when the case gives the SMS up) has its links
            # redacted: the same message with them in place.
            if sent.body == message.body or links.unredacts_to(message.body, sent.body or ""):
                return str(sent.sid)
        return None

    def _create(self, message: OutgoingMessage) -> str:
        sender: dict[str, Any] = (
            {"messaging_service_sid": self._messaging_service_sid}
            if self._messaging_service_sid
            else {"from_": self._sender}
        )
        try:
            created = self._client.messages.create(
                to=message.address,
                body=message.body,
                status_callback=self._status_callback,
                **sender,
            )
        except (TwilioRestException, TwilioServiceException) as err:
            raise self._classified(err, creating=True) from err
        except UNANSWERED as err:
            if _never_sent(err):
                raise TransientDeliveryError(f"Twilio unreachable: {err}") from err
            # The request went out and no answer came back: Twilio may have taken the SMS.
            raise TransientDeliveryError(
                f"Twilio did not answer (it may have taken the SMS): {err}"[:300],
                maybe_taken=True,
            ) from err
        return str(created.sid)

    def _classified(
        self, err: TwilioRestException | TwilioServiceException, *, creating: bool = False
    ) -> Exception:
        status, code = int(err.status), (int(err.code) if err.code else None)
        detail = f"Twilio answered {status} (error {code}): {getattr(err, 'msg', '') or err}"
        failure = twilio_failure(status, code)
        if failure is TwilioFailure.TRANSIENT:
            return TransientDeliveryError(
                detail[:300],
                self._http.last_retry_after(),
                throttled=status == 429,
                # A 5xx to a create says Twilio failed somewhere, not that it took nothing.
                maybe_taken=creating and status >= 500,
            )
        if failure in (TwilioFailure.INVALID_NUMBER, TwilioFailure.NO_SUCH_NUMBER):
            return _InvalidNumber(detail[:300], failure is TwilioFailure.NO_SUCH_NUMBER)
        if failure is TwilioFailure.OPTED_OUT:
            return _OptedOutAtTwilio(detail[:300])
        if failure is TwilioFailure.CREDENTIALS:
            # Promptly's account, not this message: retried within the message's budget
            # until someone fixes the settings (the send logs an ERROR for each attempt).
            return TransientDeliveryError(
                f"Twilio refused Promptly's credentials: {detail[:240]}; check "
                "PROMPTLY_TWILIO_ACCOUNT_SID / PROMPTLY_TWILIO_AUTH_TOKEN",
                credentials=True,
            )
        return PermanentDeliveryError(detail[:300])


# What the `twilio` client raises when no answer came: no connection, a timeout, a
# connection dropped before or during the answer.
UNANSWERED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _never_sent(err: Exception) -> bool:
    """The request never reached Twilio: no connection could be made. Anything later (no
    answer in time, the connection dropped after the request went) leaves it unknown."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    cause = err.args[0] if err.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


class _InvalidNumber(Exception):
    """Twilio says the number cannot take SMS (21211 invalid, 21614 not a mobile, ...)."""

    def __init__(self, detail: str, no_such_number: bool) -> None:
        super().__init__(detail)
        # 21211: no call reaches it either, unlike a landline.
        self.no_such_number = no_such_number


class _OptedOutAtTwilio(Exception):
    """Twilio refuses the number (21610): it replied STOP to Twilio's own opt-out handling."""


class SmsRoutingMessaging(MessagingActivities):
    """`send_message` with the SMS rules first; registered under the same activity name."""

    @cached_property
    def _remembered(self) -> dict[str, tuple[str | None, ...]]:
        """Contacts this worker already wrote, so a client's next message writes nothing."""
        return {}

    def ledger_keys(self, idempotency_key: str) -> list[str]:
        """The key, and the keys of the message rerouted (`…/email`, `…/phone`): a send the
        workflow gives up under its own key is given up under those too."""
        return [idempotency_key, *(rerouted_key(idempotency_key, c) for c in REROUTED_TO)]

    @activity.defn(name="send_message")
    async def send_message(self, request: SendMessageRequest) -> SendMessageResult:
        routed = await self._route(request)
        try:
            return await super().send_message(routed)
        except ApplicationError as err:
            refused = (
                routed.channel is Channel.SMS
                and err.type == errors.DELIVERY_REJECTED
                and routed.template not in CONSENT_TEMPLATES
            )
            blocked = (
                await self._sms_blocked(routed.to.phone) if refused and routed.to.phone else None
            )
            if blocked is None:
                if not (refused and routed.to.email):
                    raise
                # Twilio refused this message for good (not the number): the same message by
                # email at once, as for a blocked number.
                activity.logger.info("SMS to %s refused by Twilio: by email", request.case_id)
                instead = rerouted(request, "refused")
            else:
                # Twilio refused the number for good (invalid, or opted out there): the same
                # message another way; a bad number is also for the front desk to check.
                instead = rerouted(request, blocked)
                if blocked != "opted_out":
                    await self._invalid_number_task(request, str(err), rerouted=instead is not None)
            if instead is None:
                raise  # no way left: the case hands the message to the front desk
        return await super().send_message(instead)

    async def _route(self, request: SendMessageRequest) -> SendMessageRequest:
        """Remember the client's contacts, then reroute an SMS the number must not get."""
        if request.channel is not Channel.SMS and not self._unremembered(request):
            return request  # nothing to write or check: no connection taken
        async with self._pool.connection() as conn:
            await self._remember_client(conn, request)
            blocked = await blocked_reason(conn, request)
        if blocked is None:
            return request
        if request.template in CONSENT_TEMPLATES:
            raise ApplicationError(
                f"{request.to.phone} cannot take SMS",
                type=errors.INVALID_RECIPIENT,
                non_retryable=True,
            )
        instead = rerouted(request, blocked)
        if instead is None:
            raise ApplicationError(
                f"{request.to.phone} is no phone number (Twilio said so before) and the "
                "client has no email",
                type=errors.INVALID_RECIPIENT,
                non_retryable=True,
            )
        activity.logger.info("SMS to %s is %s: rerouted", request.case_id, blocked)
        return instead

    async def _sms_blocked(self, phone: str) -> str | None:
        """'opted_out', 'no_such_number', 'undeliverable' or None (SMS allowed)."""
        async with self._pool.connection() as conn:
            return await number_state(conn, phone)

    def _unremembered(
        self, request: SendMessageRequest
    ) -> tuple[str, tuple[str | None, ...]] | None:
        """The client's id and contacts when this worker has not stored them yet."""
        client_id = request.context.get("client_id") or request.context.get("customer_id")
        to = request.to
        if to.role is not RecipientRole.CLIENT or not isinstance(client_id, str):
            return None
        contacts = (to.name, to.email, to.phone, to.locale.value, to.timezone)
        return None if self._remembered.get(client_id) == contacts else (client_id, contacts)

    async def _remember_client(self, conn: AsyncConnection, request: SendMessageRequest) -> None:
        """Keep the client's contacts where an inbound reply can find them."""
        unremembered = self._unremembered(request)
        if unremembered is None:
            return
        client_id, contacts = unremembered
        if len(self._remembered) >= REMEMBERED_CLIENTS:
            self._remembered.clear()
        await _upsert_client(conn, client_id, contacts)
        self._remembered[client_id] = contacts

    async def _invalid_number_task(
        self, request: SendMessageRequest, reason: str, rerouted: bool
    ) -> None:
        went = (
            "went by another channel"
            if rerouted
            else "could not go out (no email either): the case asks for it by hand"
        )
        async with self._pool.connection() as conn:
            await insert_task(
                conn,
                CreateTaskRequest(
                    idempotency_key=f"{request.idempotency_key}/invalid-number",
                    case_id=request.case_id,
                    kind=TaskKind.CLIENT_REPLY,
                    assignee=RecipientRole.FRONT_DESK,
                    title=f"Check the phone number of {request.to.name or 'the client'}",
                    details=f"SMS to {request.to.phone} refused: {reason}. The {request.template}"
                    f" {went}; correct the number in the booking system.",
                    due_at=activity.info().scheduled_time,
                    data={"phone": request.to.phone, "template": request.template},
                ),
            )


async def _upsert_client(
    conn: AsyncConnection, client_id: str, contacts: tuple[str | None, ...]
) -> None:
    """Unchanged contacts write nothing."""
    await conn.execute(
        """INSERT INTO clients (client_id, name, email, phone, locale, timezone)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (client_id) DO UPDATE
              SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone,
                  locale = EXCLUDED.locale, timezone = EXCLUDED.timezone, updated_at = now()
            WHERE (clients.name, clients.email, clients.phone, clients.locale,
                   clients.timezone)
                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.phone,
                                    EXCLUDED.locale, EXCLUDED.timezone)""",
        (client_id, *contacts),
    )
