"""An SMS delivery receipt: recorded on the message ledger; a message to a client that did
not arrive goes again by email, its links fresh (or as the front desk's call task), and a
number that will never take SMS is marked so. Notices run in a `ClientNoticeWorkflow` whose
id holds the provider's message id, so a receipt delivered twice acts once."""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from promptly.config import Settings
from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.links import redacted_actions
from promptly.domain.messages import NoticeRequest, Recipient, SendMessageRequest
from promptly.domain.sms import DeliveryStatus, needs_fallback
from promptly.domain.tasks import CreateTaskRequest, TaskKind
from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT
from promptly.services.case_views import VISIT_LINK_COLUMNS, visit_link_context
from promptly.workflows.notices import ClientNoticeWorkflow

# Receipt error codes that mean the number will never take SMS (unknown number, landline).
DEAD_NUMBER_CODES = frozenset({"30005", "30006"})
# The fallback of an undelivered SMS is a message of its own under the SMS's key + this.
FALLBACK_SUFFIX = "/undelivered"


async def start_notice(
    client: Client, settings: Settings, workflow_id: str, request: NoticeRequest
) -> None:
    """Start the notice once: a second start under the same id is the same event again."""
    try:
        await client.start_workflow(
            ClientNoticeWorkflow.run,
            request,
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        pass


async def record_receipt(
    client: Client,
    pool: AsyncConnectionPool,
    settings: Settings,
    message_sid: str,
    status: DeliveryStatus,
    error_code: str | None,
) -> str:
    """Record a delivery receipt on the ledger; an undelivered message to a client goes again
    by email (or as a call task) and the front desk is told. Returns what was done."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """UPDATE messages SET delivery_status = %s, delivery_error_code = %s,
                                   delivery_updated_at = now()
                WHERE provider_id = %s AND channel = 'sms'
            RETURNING id, idempotency_key, case_id, template, recipient, recipient_role,
                      subject, body""",
            (status.value, error_code, message_sid),
        )
        message = await cur.fetchone()
        if message is None:
            return "unknown message"
        if error_code in DEAD_NUMBER_CODES:
            await cur.execute(
                """INSERT INTO sms_numbers (phone, undeliverable) VALUES (%s, %s)
                   ON CONFLICT (phone) DO UPDATE SET undeliverable = EXCLUDED.undeliverable""",
                (message["recipient"], f"receipt error {error_code}"),
            )
        if not needs_fallback(status, message["template"], message["recipient_role"]):
            return f"recorded {status.value}"  # most receipts: nothing more to read
        await cur.execute(
            "SELECT client_id, name, email, locale, timezone FROM clients WHERE phone = %s"
            " ORDER BY updated_at DESC LIMIT 1",
            (message["recipient"],),
        )
        known = await cur.fetchone() or {}
        await cur.execute(
            f"SELECT {VISIT_LINK_COLUMNS} FROM cases WHERE case_id = %s", (message["case_id"],)
        )
        case = await cur.fetchone() or {}
    phone = message["recipient"]
    email = known.get("email")
    key = message["idempotency_key"]
    fallback = SendMessageRequest(
        idempotency_key=f"{key}{FALLBACK_SUFFIX}",
        case_id=message["case_id"],
        template="undelivered_sms",
        channel=Channel.EMAIL if email else Channel.PHONE,
        to=Recipient(
            role=RecipientRole.CLIENT,
            name=known.get("name") or "",
            email=email,
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
        # The ledger keeps no live link: the email carries fresh ones for the same actions.
        link_actions=redacted_actions(message["body"]),
    )
    # Without an email the fallback itself is the front desk's call task.
    task = (
        CreateTaskRequest(
            idempotency_key=f"{key}/undelivered-task",
            case_id=message["case_id"],
            kind=TaskKind.CLIENT_REPLY,
            assignee=RecipientRole.FRONT_DESK,
            title=f"SMS {message['template']} not delivered to {phone}",
            details=f"Twilio reported {status.value} (error {error_code or 'none'}); the "
            f"message went by email to {email}. Check the number with the client.",
            due_at=datetime.now(UTC),
            data={"phone": phone, "message_id": message["id"], "error_code": error_code},
        )
        if email
        else None
    )
    await start_notice(
        client, settings, f"sms-fallback-{message_sid}", NoticeRequest(message=fallback, task=task)
    )
    return "fallback"
