"""Delivery receipts: Twilio's for an SMS, the front desk's call outcome for a message read out
by phone. Each is recorded on the message ledger; a message to a client that did not arrive
goes again by email, its links fresh (for an SMS without an email, as the front desk's call
task), and a number that will never take SMS, or is wrong, is the front desk's to check.
A message the case has moved past since (domain/moot_messages.py: a reminder of a visit since
cancelled or moved, an inquiry's acknowledgement once answered) is not passed on: its receipt
is recorded with why nothing followed (`messages.delivery_moot`). Twilio's receipts may come
out of order (a status only moves forward, `sms.receipt_replaces`), and before the ledger knows
the SMS by its id (kept in `early_sms_receipts` until it does). Notices run in a
`ClientNoticeWorkflow` whose id holds the message's id, so a receipt delivered twice acts
once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from promptly.config import Settings
from promptly.domain import read_outs
from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.links import redacted_actions
from promptly.domain.messages import NoticeRequest, Recipient, SendMessageRequest
from promptly.domain.moot_messages import CaseNow, message_round, moot_reason
from promptly.domain.read_outs import ReadOutOutcome
from promptly.domain.sms import FINAL_RECEIPTS, DeliveryStatus, needs_fallback
from promptly.domain.tasks import CreateTaskRequest, TaskKind
from promptly.services.case_views import VISIT_LINK_COLUMNS, visit_link_context
from promptly.services.notices import start_notice

# Receipt error codes that mean the number will never take SMS (unknown number, landline).
DEAD_NUMBER_CODES = frozenset({"30005", "30006"})
# The fallback of an undelivered SMS is a message of its own under the SMS's key + this.
FALLBACK_SUFFIX = "/undelivered"
# ... and that of a message the desk could not read out by phone, under its key + this.
UNREACHED_SUFFIX = "/unreached"
# Enough of a message to pass it on another way, and its receipt.
_MESSAGE = """id, idempotency_key, case_id, template, recipient, recipient_role, subject, body,
              delivery_status, delivery_error_code"""
# A receipt on its message's ledger row, by the channel's id of it (`{match}`). The status only
# moves forward: `sms.receipt_replaces` as a condition, so a late `sent` never replaces a final
# status, nor a receipt kept since it came one the ledger recorded after it (parameters
# `status`, `error_code`, `final`, `id`, and `received_at` for a kept receipt, else None: now).
_RECEIPT = f"""UPDATE messages
                  SET delivery_status = %(status)s, delivery_error_code = %(error_code)s,
                      delivery_updated_at = COALESCE(%(received_at)s::timestamptz, now()),
                      delivery_moot = NULL
                WHERE {{match}}
                  AND (delivery_status IS NULL
                       OR CASE WHEN (%(status)s = ANY(%(final)s))
                                    <> (delivery_status = ANY(%(final)s))
                               THEN %(status)s = ANY(%(final)s)
                               ELSE %(received_at)s::timestamptz IS NULL
                                    OR delivery_updated_at IS NULL
                                    OR delivery_updated_at <= %(received_at)s::timestamptz
                          END)
            RETURNING {_MESSAGE}"""
_SMS = "provider_id = %(id)s AND channel = 'sms'"
_BY_SMS_SID = _RECEIPT.format(match=_SMS)
_BY_MESSAGE_ID = _RECEIPT.format(match="id = %(id)s AND channel = 'phone'")
_FINAL = sorted(status.value for status in FINAL_RECEIPTS)
# A receipt for an SMS the ledger does not know by its id yet, kept until it does (the same
# order rule between two such receipts); the sweep records it then (waiting_inbound.py).
_KEEP_EARLY = """INSERT INTO early_sms_receipts (provider_id, status, error_code)
                 VALUES (%(id)s, %(status)s, %(error_code)s)
                 ON CONFLICT (provider_id) DO UPDATE
                    SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
                        received_at = now()
                  WHERE EXCLUDED.status = ANY(%(final)s)
                     OR early_sms_receipts.status <> ALL(%(final)s)"""
# The kept receipt of an SMS the ledger now knows, taken once (two API processes: one of them).
_TAKE_EARLY = """DELETE FROM early_sms_receipts e USING messages m
                  WHERE e.provider_id = %s AND m.provider_id = e.provider_id
                    AND m.channel = 'sms'
              RETURNING e.status, e.error_code, e.received_at"""
UNKNOWN = "unknown message"
KEPT = "kept until the ledger knows the message"

Row = dict[str, Any]


async def record_receipt(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    message_sid: str,
    status: DeliveryStatus,
    error_code: str | None,
) -> str:
    """Record a delivery receipt on the ledger; an undelivered message to a client goes again
    by email (or as a call task) and the front desk is told. A receipt older than the one
    recorded (a late `sent`) changes nothing; one for an SMS the ledger does not know by its
    id yet is kept until it does. Returns what was done."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        message = await _on_the_ledger(cur, message_sid, status, error_code)
        if message == UNKNOWN:
            await cur.execute(_KEEP_EARLY, _receipt(status, error_code) | {"id": message_sid})
            return KEPT
        notice = await _sms_fallback(cur, message)
    return await _started(client, settings, message_sid, notice)


async def record_early_receipt(
    client: Client, pool: AsyncConnectionPool, settings: Settings, message_sid: str
) -> str:
    """Record the receipt kept for `message_sid` now that the ledger knows the SMS, as it would
    have been when it came (its time kept), and act on it; the kept one goes. Returns what was
    done, as `record_receipt` does."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_TAKE_EARLY, (message_sid,))
        kept = await cur.fetchone()
        if kept is None:
            return "recorded already"  # by another API process, or not on the ledger yet
        status = DeliveryStatus(kept["status"])
        message = await _on_the_ledger(
            cur, message_sid, status, kept["error_code"], kept["received_at"]
        )
        notice = await _sms_fallback(cur, message)
    # Recorded: should Temporal not answer now, the undelivered SMS waits like any other.
    return await _started(client, settings, message_sid, notice)


async def pass_on_undelivered(
    client: Client, pool: AsyncConnectionPool, settings: Settings, message_sid: str
) -> str:
    """Start the fallback of an undelivered SMS whose receipt is recorded but whose fallback
    never started (Temporal was away): from the ledger row as it stands, which keeps the
    receipt's own time. Returns what was done, as `record_receipt` does."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        notice = await _sms_fallback(cur, await _recorded(cur, message_sid) or UNKNOWN)
    return await _started(client, settings, message_sid, notice)


def _receipt(
    status: DeliveryStatus, error_code: str | None, received_at: datetime | None = None
) -> dict[str, object]:
    return {
        "status": status.value,
        "error_code": error_code,
        "final": _FINAL,
        "received_at": received_at,
    }


async def _on_the_ledger(
    cur: AsyncCursor[Row],
    message_sid: str,
    status: DeliveryStatus,
    error_code: str | None,
    received_at: datetime | None = None,
) -> Row | str:
    """The receipt recorded on its SMS's ledger row (a dead number noted): the message, or
    why it was not (UNKNOWN, or a later receipt recorded already)."""
    receipt = _receipt(status, error_code, received_at) | {"id": message_sid}
    await cur.execute(_BY_SMS_SID, receipt)
    message = await cur.fetchone()
    if message is None:
        recorded = await _recorded(cur, message_sid)
        if recorded is None:
            return UNKNOWN
        return f"ignored {status.value}: {recorded['delivery_status']} recorded already"
    if error_code in DEAD_NUMBER_CODES:
        await cur.execute(
            """INSERT INTO sms_numbers (phone, undeliverable) VALUES (%s, %s)
               ON CONFLICT (phone) DO UPDATE SET undeliverable = EXCLUDED.undeliverable""",
            (message["recipient"], f"receipt error {error_code}"),
        )
    return message


async def _started(
    client: Client, settings: Settings, message_sid: str, notice: NoticeRequest | str
) -> str:
    """The SMS's fallback started, once (or what was done instead)."""
    if isinstance(notice, str):
        return notice
    await start_notice(client, settings, f"sms-fallback-{message_sid}", notice)
    return "fallback"


async def _recorded(cur: AsyncCursor[Row], message_sid: str) -> Row | None:
    """The SMS `message_sid` as the ledger holds it, its receipt with it."""
    await cur.execute(f"SELECT {_MESSAGE} FROM messages WHERE {_SMS}", {"id": message_sid})
    return await cur.fetchone()


async def _sms_fallback(cur: AsyncCursor[Row], message: Row | str) -> NoticeRequest | str:
    """What follows the SMS `message` by its recorded receipt: the notice passing it on to
    its client, or what was done instead (nothing to pass on, or moot). A `message` that is
    text already says why no receipt was recorded (`_on_the_ledger`): nothing follows."""
    if isinstance(message, str):
        return message
    status = DeliveryStatus(message["delivery_status"])
    error_code = message["delivery_error_code"]
    if not needs_fallback(status, message["template"], message["recipient_role"]):
        return f"recorded {status.value}"  # most receipts: nothing more to read
    known, case = await _client_and_visit(cur, message)
    if (moot := await _moot(cur, message, case)) is not None:
        return f"recorded {status.value}; moot: {moot}"
    phone = message["recipient"]
    email = known.get("email")
    fallback = _passed_on(
        message,
        known,
        case,
        template="undelivered_sms",
        suffix=FALLBACK_SUFFIX,
        # Without an email the fallback itself is the front desk's call task.
        channel=Channel.EMAIL if email else Channel.PHONE,
    )
    task = (
        _check_the_number(
            message,
            f"{message['idempotency_key']}/undelivered-task",
            title=f"SMS {message['template']} not delivered to {phone}",
            details=f"Twilio reported {status.value} (error {error_code or 'none'}); the "
            f"message went by email to {email}. Check the number with the client.",
            error_code=error_code,
        )
        if email
        else None
    )
    return NoticeRequest(message=fallback, task=task)


async def record_read_out(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    message_id: int,
    outcome: ReadOutOutcome,
) -> str:
    """Record how the desk's call to read message `message_id` out ended, as its receipt. A
    client the desk could not reach gets the message by email when one is on record; for a
    wrong number the desk is asked to find the right one. Returns what was done."""
    status = read_outs.receipt(outcome)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_BY_MESSAGE_ID, _receipt(status, outcome.value) | {"id": message_id})
        message = await cur.fetchone()
        if message is None:
            return UNKNOWN
        if not read_outs.missed(outcome, message["recipient_role"]):
            return f"recorded {status.value}"  # most read-outs: nothing more to read
        known, case = await _client_and_visit(cur, message)
        if (moot := await _moot(cur, message, case)) is not None:
            return f"recorded {status.value}; moot: {moot}"
    email = known.get("email")
    follow = read_outs.not_reached(
        outcome, message["template"], message["recipient_role"], email is not None
    )
    if follow is None:
        return f"recorded {status.value}"
    task = _wrong_number(message, known, emailed=follow.by_email) if follow.check_number else None
    fallback = (
        _passed_on(
            message,
            known,
            case,
            template="unreached_call",
            suffix=UNREACHED_SUFFIX,
            channel=Channel.EMAIL,
        )
        if follow.by_email
        else None
    )
    await start_notice(
        client, settings, f"call-fallback-{message_id}", NoticeRequest(message=fallback, task=task)
    )
    return "fallback"


def _wrong_number(message: Row, known: Row, *, emailed: bool) -> CreateTaskRequest:
    """The front desk's task to find the right number of a client the desk called wrongly."""
    title, details = read_outs.wrong_number_task(
        known.get("name") or "",
        message["recipient"],
        known.get("email"),
        f"The desk could not read out the {read_outs.desk_name(message['template'])}"
        f" ({message['subject']})",
        emailed=emailed,
    )
    return _check_the_number(
        message,
        f"{message['idempotency_key']}/wrong-number-task",
        title=title,
        details=details,
        error_code=ReadOutOutcome.WRONG_NUMBER.value,
    )


async def _client_and_visit(cur: AsyncCursor[Row], message: Row) -> tuple[Row, Row]:
    """The client of the message's case, and its case as it stands (kind, status) with its
    visit (for fresh links). Found through the case, never by the number: clients may share a
    phone, and the fallback carries this case's freshly signed links."""
    await cur.execute(
        "SELECT client_id, name, email, locale, timezone"
        " FROM cases JOIN clients USING (client_id) WHERE case_id = %s",
        (message["case_id"],),
    )
    known = await cur.fetchone() or {}
    await cur.execute(
        f"SELECT kind, status, view->>'billing' AS billing, {VISIT_LINK_COLUMNS}"
        " FROM cases WHERE case_id = %s",
        (message["case_id"],),
    )
    return known, await cur.fetchone() or {}


async def _moot(cur: AsyncCursor[Row], message: Row, case: Row) -> str | None:
    """Why the message no longer matters to its client (None while it does), noted on its
    ledger row when so. A message passed on already (an SMS's text read out by the desk) is
    judged as the message it passes on."""
    template = message["template"]
    key = message["idempotency_key"]
    for suffix in (FALLBACK_SUFFIX, UNREACHED_SUFFIX):
        if key.endswith(suffix):
            await cur.execute(
                "SELECT template FROM messages WHERE idempotency_key = %s",
                (key.removesuffix(suffix),),
            )
            original = await cur.fetchone()
            template = original["template"] if original else template
    now = (
        CaseNow(case["kind"], case["status"], case.get("reschedules"), case.get("billing"))
        if case
        else None
    )
    reason = moot_reason(now, template, message_round(key, message["case_id"]))
    if reason is not None:
        await cur.execute(
            "UPDATE messages SET delivery_moot = %s WHERE id = %s", (reason, message["id"])
        )
    return reason


def _passed_on(
    message: Row, known: Row, case: Row, *, template: str, suffix: str, channel: Channel
) -> SendMessageRequest:
    """The message, as the ledger keeps it, passed on to the client another way: `template`
    says why, and the links the ledger redacted come back fresh for the same actions."""
    phone = message["recipient"]
    return SendMessageRequest(
        idempotency_key=f"{message['idempotency_key']}{suffix}",
        case_id=message["case_id"],
        template=template,
        channel=channel,
        to=Recipient(
            role=RecipientRole.CLIENT,
            name=known.get("name") or "",
            email=known.get("email"),
            phone=phone,
            locale=Locale(known.get("locale") or "en"),
            timezone=known.get("timezone") or "UTC",
        ),
        context={
            "original_subject": message["subject"],
            "original_text": message["body"],
            "phone": phone,
            "client_id": known.get("client_id"),
        }
        | visit_link_context(case),
        link_actions=redacted_actions(message["body"]),
    )


def _check_the_number(
    message: Row, key: str, *, title: str, details: str, error_code: str | None
) -> CreateTaskRequest:
    """A front-desk task to check the client's number with them."""
    phone = message["recipient"]
    return CreateTaskRequest(
        idempotency_key=key,
        case_id=message["case_id"],
        kind=TaskKind.CLIENT_REPLY,
        assignee=RecipientRole.FRONT_DESK,
        title=title,
        details=details,
        due_at=datetime.now(UTC),
        data={"phone": phone, "message_id": message["id"], "error_code": error_code},
    )
