"""Inbound webhooks: client replies by SMS (Twilio) and email (SendGrid Inbound Parse), and
SMS delivery receipts. No API key: Twilio's requests carry its signature, checked with
Twilio's `RequestValidator` against `PROMPTLY_PUBLIC_BASE_URL` (the URL Twilio was given);
SendGrid's carry the secret token in the path. A bad signature or token changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import deque
from email.utils import parseaddr
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from promptly.config import Settings
from promptly.domain.common import Channel
from promptly.domain.sms import RECEIPT_STATUSES, DeliveryStatus, unverified_sender
from promptly.services.delivery_receipts import record_receipt
from promptly.services.errors import ServiceError, invalid_input
from promptly.services.inbound import InboundReply, handle_reply
from promptly.services.reply_answers import email_answer, sms_answer
from promptly.services.waiting_inbound import TEMPORAL_AWAY

# Provider webhooks, not back-office API: documented in docs/sms.md, not in OpenAPI.
router = APIRouter(tags=["inbound"], include_in_schema=False)

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml(text: str | None) -> str:
    """Twilio's answer: a <Message> that Twilio texts back to the sender, or nothing."""
    if text is None:
        return EMPTY_TWIML
    response = MessagingResponse()
    response.message(text)
    return str(response)


SIGNATURE_HEADER = "X-Twilio-Signature"


class SenderLimiter:
    """At most `per_minute` inbound requests per sender in this process (a sliding minute)."""

    def __init__(self, per_minute: int, max_senders: int = 10_000) -> None:
        self._per_minute = per_minute
        self._max_senders = max_senders
        self._hits: dict[str, deque[float]] = {}

    def allow(self, sender: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if len(self._hits) > self._max_senders:  # forget the quiet ones
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - 60}
        hits = self._hits.setdefault(sender, deque())
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= self._per_minute:
            return False
        hits.append(now)
        return True


def public_url(settings: Settings, request: Request) -> str:
    """The URL Twilio signed: the public base URL (what Twilio was configured with, whatever
    proxies sit between) plus the path and query it called."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_base_url.rstrip('/')}{request.url.path}{query}"


async def _twilio_form(request: Request) -> dict[str, str] | Response:
    """The form of a correctly signed Twilio request, or the response refusing it."""
    settings: Settings = request.app.state.settings
    if settings.twilio_auth_token is None:
        return JSONResponse({"reason": "Twilio is not configured"}, status_code=404)
    form = {k: str(v) for k, v in (await request.form()).items()}
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature or not validator.validate(public_url(settings, request), form, signature):
        return JSONResponse({"reason": "invalid Twilio signature"}, status_code=403)
    return form


def _limited(request: Request, sender: str) -> Response | None:
    limiter: SenderLimiter = request.app.state.inbound_limiter
    if limiter.allow(sender):
        return None
    return JSONResponse(
        {"reason": "too many messages from this sender"},
        status_code=429,
        headers={"Retry-After": "60"},
    )


def _deps(request: Request) -> tuple[Client, AsyncConnectionPool, Settings]:
    state = request.app.state
    return state.client, state.pool, state.settings


@router.post("/inbound/sms", summary="A client's SMS reply (Twilio messaging webhook)")
async def inbound_sms(request: Request) -> Response:
    form = await _twilio_form(request)
    if isinstance(form, Response):
        return form
    sid, sender = form.get("MessageSid") or form.get("SmsSid"), form.get("From")
    if not sid or not sender:
        missing = [name for name, value in (("MessageSid", sid), ("From", sender)) if not value]
        raise invalid_input([(name, "required") for name in missing])
    if (refused := _limited(request, sender)) is not None:
        return refused
    reply = InboundReply(sid, Channel.SMS, sender, form.get("Body", ""))
    try:
        outcome = await handle_reply(*_deps(request), reply)
    except TEMPORAL_AWAY as err:
        # Stored, and acted on once Temporal answers (services/waiting_inbound.py): Twilio
        # would not post it again, so an error here would help nobody.
        log.warning("SMS reply %s stored; Temporal did not answer (%s)", sid, err)
        return Response(
            EMPTY_TWIML, media_type="text/xml", headers={"X-Promptly-Outcome": "waiting"}
        )
    # The client hears what became of their reply (confirmed, passed to a person). Consent
    # words get no <Message>: Twilio's opt-out handling answers them, and our notice.
    answer = await sms_answer(request.app.state.pool, request.app.state.settings, reply, outcome)
    return Response(
        twiml(answer),
        media_type="text/xml",
        headers={"X-Promptly-Outcome": f"{outcome.intent.value}:{outcome.action}"},
    )


@router.post("/inbound/sms/status", summary="An SMS delivery receipt (Twilio StatusCallback)")
async def inbound_sms_status(request: Request) -> Response:
    form = await _twilio_form(request)
    if isinstance(form, Response):
        return form
    sid, status = form.get("MessageSid"), form.get("MessageStatus", "")
    if not sid:
        raise invalid_input([("MessageSid", "required")])
    if status not in RECEIPT_STATUSES:  # queued, sending, accepted: not a receipt
        return Response(status_code=204)
    try:
        done = await record_receipt(
            *_deps(request), sid, DeliveryStatus(status), form.get("ErrorCode") or None
        )
    except TEMPORAL_AWAY as err:  # recorded; its fallback starts once Temporal answers
        log.warning("SMS receipt %s recorded; Temporal did not answer (%s)", sid, err)
        done = "waiting"
    return Response(status_code=204, headers={"X-Promptly-Outcome": done})


EMAIL_PREFIX = "/inbound/email/"
# SendGrid's own cap on a parsed email with its attachments: a client's reply with a photo or
# a long quoted thread is read, not refused (a refusal is retried for 3 days, then dropped).
EMAIL_MAX_BYTES = 30 * 1024 * 1024


@router.post(EMAIL_PREFIX + "{token}", summary="A client's email reply (SendGrid Inbound Parse)")
async def inbound_email(token: str, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    expected = settings.inbound_email_token
    if expected is None or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return JSONResponse({"reason": "not found"}, status_code=404)
    # A long thread's text or html part may pass Starlette's 1 MiB a field.
    parsed = await request.form(max_part_size=EMAIL_MAX_BYTES)
    form: dict[str, Any] = {k: v for k, v in parsed.items() if isinstance(v, str)}
    sender = parseaddr(form.get("from", ""))[1]
    if "@" not in sender:
        raise invalid_input([("from", "no sender address")])
    if (refused := _limited(request, sender.lower())) is not None:
        return refused
    text = form.get("text", "")
    subject = form.get("subject", "")
    reply = InboundReply(
        _email_id(form.get("headers", ""), sender, subject, text),
        Channel.EMAIL,
        sender,
        text,
        subject,
        unverified=unverified_sender(
            sender, form.get("SPF"), form.get("dkim"), _envelope_from(form.get("envelope"))
        ),
    )
    try:
        outcome = await handle_reply(*_deps(request), reply)
        # The client hears what became of their reply by email, as an SMS client does by
        # text: once (the notice's id holds the Message-ID), and only a client of ours.
        await email_answer(*_deps(request), reply, outcome)
    except TEMPORAL_AWAY as err:
        # Stored, but unlike an SMS not swept up later: SendGrid posts the email again for
        # three days while we answer 5xx, and its Message-ID makes the repeat act once (and
        # starts the answer a first post could not).
        raise ServiceError(
            503,
            "Temporal is unreachable; the email is kept, post it again later",
            headers={"Retry-After": "60"},
            internal=str(err),
        ) from err
    return JSONResponse({"intent": outcome.intent.value, "action": outcome.action})


def _envelope_from(envelope: str | None) -> str | None:
    """The SMTP sender of Inbound Parse's `envelope` JSON (`{"to": [...], "from": "..."}`)."""
    try:
        found = json.loads(envelope or "null")
    except ValueError:
        return None
    sender = found.get("from") if isinstance(found, dict) else None
    return sender if isinstance(sender, str) else None


def _email_id(headers: str, sender: str, subject: str, text: str) -> str:
    """The Message-ID header, so a re-posted email is the same reply; else a content hash."""
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "message-id" and value.strip():
            return value.strip()
    digest = hashlib.sha256(f"{sender}\n{subject}\n{text}".encode()).hexdigest()
    return f"email-{digest[:32]}"
