"""What Promptly does with a client's reply (SMS or email); SMS delivery receipts are in
promptly/services/delivery_receipts.py.

A reply is matched to its client by phone number or email address and to the case it answers:
the appointment waiting for an answer confirms (the client's one upcoming unconfirmed
appointment; several → a staff task, never a guess). A reply that is no such answer becomes a
staff task, filed under the case it quotes (an email's subject, a reference in an SMS), or
the visit whose text asked for that answer; a reply that quotes nothing goes with the client's
open complaint when there is one (a client with a complaint open writes about it, whatever our
last text was about), then the case our last SMS was about or the soonest open visit if still
open, then the open case last messaged to them (docs/sms.md, "Where a reply is filed").

Every effect is keyed by the provider's message id: the `confirm` update carries it as its
update id, and notices and tasks run in a `ClientNoticeWorkflow` whose id holds it, so a
webhook delivered twice acts once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowUpdateFailedError

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentView, ConfirmInput
from promptly.domain.common import Actor, ActorKind, CaseKind, Channel, Locale, RecipientRole
from promptly.domain.messages import NoticeRequest, Recipient, SendMessageRequest
from promptly.domain.sms import (
    ReplyIntent,
    first_reply_line,
    may_mean_cancelling,
    reply_intent,
)
from promptly.domain.tasks import CreateTaskRequest, TaskKind
from promptly.services.case_views import VISIT_LINK_COLUMNS, visit_link_context
from promptly.services.inbound_store import InboundReply as InboundReply
from promptly.services.inbound_store import ReplyOutcome as ReplyOutcome
from promptly.services.inbound_store import (
    case_named_by_subject,
    case_quoted_in_text,
    case_to_file_under,
    clients_of,
    record_inbound,
)
from promptly.services.notices import start_notice
from promptly.services.reply_verdicts import give_verdict, verdict_of
from promptly.workflows.appointment import AppointmentWorkflow

AWAITING_ANSWER = ("Booked", "Unconfirmed")
# A visit's texts that ask the client for a yes.
ASKS_YES = ("confirmation", "reminder")
OPEN_APPOINTMENT = ("Booked", "Confirmed", "Unconfirmed")
CANCEL_MEANT = (
    "a carrier's opt-out word: texts to this number stopped, the visit stands; ask whether "
    "they meant to cancel it"
)


async def handle_reply(
    client: Client, pool: AsyncConnectionPool, settings: Settings, reply: InboundReply
) -> ReplyOutcome:
    text = reply.text.strip() if reply.channel is Channel.SMS else first_reply_line(reply.text)
    intent = reply_intent(text)
    if reply.channel is not Channel.SMS and intent in (ReplyIntent.OPT_OUT, ReplyIntent.OPT_IN):
        intent = ReplyIntent.OTHER  # SMS consent words mean nothing by email: a person reads it
    async with pool.connection() as conn:
        earlier = await record_inbound(conn, reply, text, intent)
        if isinstance(earlier, ReplyOutcome):
            return earlier
        clients = await clients_of(conn, reply)
    handler = _Handler(client, pool, settings, reply, text, clients)
    if earlier is not None and intent is ReplyIntent.CONFIRM:
        # Acted on before but not finished: the confirmation it started is repeated under the
        # same update id (Temporal answers it once), not looked for again among the cases
        # still waiting for an answer, which it may already have left.
        outcome = await handler.confirm(earlier)
    else:
        outcome = await handler.act(intent)
    async with pool.connection() as conn:
        await conn.execute(
            """UPDATE inbound_messages SET outcome = %s, case_id = %s, client_id = %s
                WHERE provider_id = %s""",
            (outcome.action, outcome.case_id, outcome.client_id, reply.provider_id),
        )
    return outcome


class _Handler:
    def __init__(
        self,
        client: Client,
        pool: AsyncConnectionPool,
        settings: Settings,
        reply: InboundReply,
        text: str,
        clients: list[dict[str, Any]],
    ) -> None:
        self._client, self._pool, self._settings = client, pool, settings
        self._reply, self._text, self._clients = reply, text, clients
        self._client_id = clients[0]["client_id"] if len(clients) == 1 else None
        self._client_ids = [c["client_id"] for c in clients]

    async def act(self, intent: ReplyIntent) -> ReplyOutcome:
        if intent is ReplyIntent.OPT_OUT or intent is ReplyIntent.OPT_IN:
            return await self._consent(intent)
        named = await self._case_named()
        if named is not None and (satisfied := verdict_of(named, intent, self._reply)) is not None:
            return await self._verdict(named, intent, satisfied)
        if named is not None and named["kind"] != CaseKind.APPOINTMENT.value:
            # An answer to a complaint's, an inquiry's or a survey's message is about that
            # case: a "Tak, dziękuję" there confirms no appointment. Unless it quotes that
            # case, it goes with the client's open complaint, if any (_file).
            why = f"a reply to our {named['kind']} message" if intent is ReplyIntent.CONFIRM else ""
            return await self._file(intent, named["case_id"], why, quoted=bool(named.get("quoted")))
        candidates = await self._candidates(
            AWAITING_ANSWER if intent is ReplyIntent.CONFIRM else OPEN_APPOINTMENT, named
        )
        if intent is ReplyIntent.CONFIRM and len(candidates) == 1:
            if self._reply.unverified:
                return await self._task(intent, candidates[0]["case_id"], self._reply.unverified)
            return await self.confirm(candidates[0])
        if intent is ReplyIntent.RESCHEDULE and len(candidates) == 1:
            return await self._send_reschedule_link(candidates[0])
        why = {
            0: "no open appointment matches it",
            1: "",
        }.get(len(candidates), f"{len(candidates)} appointments could be meant")
        # An answer to a visit's text that asked the client for one is about that visit.
        about = bool(named and (named.get("quoted") or named.get("only")))
        return await self._file(
            intent, candidates[0]["case_id"] if candidates else None, why, quoted=about
        )

    async def _file(
        self, intent: ReplyIntent, about: str | None, why: str, *, quoted: bool = False
    ) -> ReplyOutcome:
        """The reply as a task for the front desk, on the case it names (`quoted`); else on
        the client's open complaint when there is one (a client with a complaint open writes
        about it, whatever our last text was about), else `about` if still open, else the
        open case last messaged to the sender (case_to_file_under); else where `_task` puts
        a reply about no open case."""
        if not quoted and self._client_ids:
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                found = await case_to_file_under(cur, self._client_ids, self._reply.sender, about)
            if found is not None and found["case_id"] != about:
                if found["kind"] == CaseKind.COMPLAINT.value:
                    why = f"filed with the open complaint {found['business_id']}"
                    if about is not None:
                        why += f"; it may be about {about}"
                elif about is not None:
                    why = f"{about} has ended; filed with an open case"
                about = found["case_id"]
        return await self._task(intent, about, why)

    async def _consent(self, intent: ReplyIntent) -> ReplyOutcome:
        opted_out = intent is ReplyIntent.OPT_OUT
        phone = self._reply.sender
        async with self._pool.connection() as conn:
            changed = await (
                await conn.execute(
                    """INSERT INTO sms_numbers (phone, opted_out, opted_out_at, opted_in_at,
                                                last_message_sid)
                       VALUES (%(phone)s, %(out)s, CASE WHEN %(out)s THEN now() END,
                               CASE WHEN NOT %(out)s THEN now() END, %(sid)s)
                       ON CONFLICT (phone) DO UPDATE
                          SET opted_out = EXCLUDED.opted_out,
                              opted_out_at = COALESCE(EXCLUDED.opted_out_at,
                                                      sms_numbers.opted_out_at),
                              opted_in_at = COALESCE(EXCLUDED.opted_in_at,
                                                     sms_numbers.opted_in_at),
                              last_message_sid = EXCLUDED.last_message_sid, updated_at = now()
                        WHERE sms_numbers.opted_out IS DISTINCT FROM EXCLUDED.opted_out
                    RETURNING phone""",
                    {"phone": phone, "out": opted_out, "sid": self._reply.provider_id},
                )
            ).fetchone()
            case_id = await self._latest_case(conn)
        action = "opted_out" if opted_out else "opted_in"
        visits = await self._candidates(OPEN_APPOINTMENT, None) if opted_out else []
        # One notice per change of mind; a START from a number never opted out changes nothing.
        if changed is not None and (opted_out or await self._was_known(phone)):
            template = "sms_opted_out" if opted_out else "sms_opted_in"
            if visits:  # the visit stands: the notice says so, with its link to change it
                notice = self._message(template, visits[0]["case_id"], Channel.SMS)
                notice.context |= visit_link_context(visits[0])
                notice.context |= self._settings.appointment_policy().message_terms()
                notice.link_actions = ["confirm"]
            else:
                notice = self._message(template, case_id, Channel.SMS)
            await start_notice(
                self._client,
                self._settings,
                f"sms-consent-{self._reply.provider_id}",
                NoticeRequest(message=notice),
            )
        if visits and may_mean_cancelling(self._text):
            await self._task(intent, visits[0]["case_id"], CANCEL_MEANT)
        return ReplyOutcome(ReplyIntent(intent), action, case_id, self._client_id)

    async def _was_known(self, phone: str) -> bool:
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT opted_out_at IS NOT NULL FROM sms_numbers WHERE phone = %s", (phone,)
                )
            ).fetchone()
        return bool(row and row[0])

    async def confirm(self, case: dict[str, Any]) -> ReplyOutcome:
        """Confirm `case` (its `case_id` and `client_id`) by this reply, once."""
        async with self._pool.connection() as conn:
            await conn.execute(  # what a second try repeats (handle_reply)
                "UPDATE inbound_messages SET case_id = %s, client_id = %s WHERE provider_id = %s",
                (case["case_id"], case["client_id"], self._reply.provider_id),
            )
        handle = self._client.get_workflow_handle(case["case_id"], result_type=AppointmentView)
        actor = Actor(kind=ActorKind.CLIENT, id=case["client_id"])
        try:
            await handle.execute_update(
                AppointmentWorkflow.confirm,
                ConfirmInput(actor=actor, channel=self._reply.channel),
                id=f"reply-{self._reply.provider_id}",
                rpc_timeout=self._settings.api_update_timeout,
            )
        except WorkflowUpdateFailedError as err:
            reason = str(err.cause.message if err.cause else err)  # type: ignore[attr-defined]
            return await self._task(ReplyIntent.CONFIRM, case["case_id"], f"refused: {reason}")
        return ReplyOutcome(ReplyIntent.CONFIRM, "confirmed", case["case_id"], case["client_id"])

    async def _verdict(
        self, complaint: dict[str, Any], intent: ReplyIntent, satisfied: bool
    ) -> ReplyOutcome:
        """The customer's answer to the resolution proposal our last SMS carried, once."""
        refused = await give_verdict(
            self._client, self._settings, self._reply, self._text, complaint, satisfied
        )
        if refused:
            return await self._task(intent, complaint["case_id"], f"refused: {refused}")
        action = "verdict_satisfied" if satisfied else "verdict_not_satisfied"
        return ReplyOutcome(intent, action, complaint["case_id"], complaint["client_id"])

    async def _send_reschedule_link(self, case: dict[str, Any]) -> ReplyOutcome:
        message = self._message("reschedule_link", case["case_id"], self._reply.channel)
        message.context |= visit_link_context(case)
        message.context |= self._settings.appointment_policy().message_terms()
        message.link_actions = ["reschedule"]
        await start_notice(
            self._client,
            self._settings,
            f"reply-{self._reply.provider_id}",
            NoticeRequest(message=message),
        )
        return ReplyOutcome(
            ReplyIntent.RESCHEDULE, "reschedule_link", case["case_id"], case["client_id"]
        )

    async def _task(self, intent: ReplyIntent, case_id: str | None, why: str) -> ReplyOutcome:
        if case_id is None:
            async with self._pool.connection() as conn:
                case_id = await self._latest_case(conn)
        who = self._clients[0]["name"] if len(self._clients) == 1 else self._reply.sender
        channel = self._reply.channel.value
        task = CreateTaskRequest(
            idempotency_key=f"reply/{self._reply.provider_id}",
            case_id=case_id,
            kind=TaskKind.CLIENT_REPLY,
            assignee=RecipientRole.FRONT_DESK,
            title=f"{channel.upper()} reply from {who or self._reply.sender}",
            details=f"{self._text or self._reply.text.strip()[:500]}"
            + (f"\n({why})" if why else ""),
            due_at=datetime.now(UTC),
            data={"sender": self._reply.sender, "channel": channel, "intent": intent.value},
        )
        await start_notice(
            self._client,
            self._settings,
            f"reply-{self._reply.provider_id}",
            NoticeRequest(task=task),
        )
        return ReplyOutcome(intent, "task", case_id, self._client_id)

    def _message(self, template: str, case_id: str, channel: Channel) -> SendMessageRequest:
        known = self._clients[0] if len(self._clients) == 1 else {}
        to = Recipient(
            role=RecipientRole.CLIENT,
            name=known.get("name") or "",
            email=known.get("email") or (self._reply.sender if channel is Channel.EMAIL else None),
            phone=known.get("phone") or (self._reply.sender if channel is Channel.SMS else None),
            locale=Locale(known.get("locale") or "en"),
            timezone=known.get("timezone") or "UTC",
        )
        return SendMessageRequest(
            idempotency_key=f"reply/{self._reply.provider_id}/{template}",
            case_id=case_id,
            template=template,
            channel=channel,
            to=to,
            context={"client_name": to.name, "client_id": known.get("client_id")},
        )

    async def _case_named(self) -> dict[str, Any] | None:
        """The client's case (any kind) that the reply answers: the one an email's subject
        names or answers, or an SMS's text quotes by reference (`quoted`). Else, for an SMS:
        when our last SMS to the number was about a complaint, an inquiry or a survey, that
        case (appointments are found as before: the one awaiting an answer, several → a
        task)."""
        if not self._client_ids:
            return None
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if self._reply.channel is Channel.SMS:
                quoted = await case_quoted_in_text(cur, self._client_ids, self._text)
                if quoted is not None:
                    return quoted | {"quoted": True}
                await cur.execute(
                    """SELECT c.case_id, c.kind, c.status, c.client_id, m.template
                         FROM messages m JOIN cases c USING (case_id)
                        WHERE m.recipient = %s AND m.recipient_role = 'client'
                          AND m.channel = 'sms' AND c.client_id = ANY(%s)
                        ORDER BY m.requested_at DESC, m.id DESC LIMIT 1""",
                    (self._reply.sender, self._client_ids),
                )
                texted: dict[str, Any] | None = await cur.fetchone()
                if texted is None:
                    return None
                if texted["kind"] != CaseKind.APPOINTMENT:
                    return texted
                # A visit's text that asked for a yes (its confirmation, its reminder): the
                # answer is about that visit, whatever other visits the client has.
                return texted | {"only": True} if texted["template"] in ASKS_YES else None
            if not self._reply.subject:
                return None
            named = await case_named_by_subject(cur, self._reply)
            if named is None:
                return None
            await cur.execute(
                # A survey carries its appointment's reference: the reference names the visit.
                """SELECT case_id, kind FROM cases
                    WHERE client_id = ANY(%s) AND (case_id = %s OR business_id = %s)
                    ORDER BY kind = 'survey', created_at DESC LIMIT 1""",
                (self._client_ids, named, named),
            )
            found: dict[str, Any] | None = await cur.fetchone()
            return found | {"quoted": True} if found is not None else None

    async def _candidates(
        self, statuses: tuple[str, ...], named: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """The appointments this reply can be about, soonest first; the one an email's subject
        names, when it is among them."""
        if not self._client_ids:
            return []
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""SELECT case_id, business_id, client_id, {VISIT_LINK_COLUMNS} FROM cases
                    WHERE kind = 'appointment' AND client_id = ANY(%s) AND status = ANY(%s)
                      AND starts_at > now()
                    ORDER BY starts_at""",
                (self._client_ids, list(statuses)),
            )
            found: list[dict[str, Any]] = await cur.fetchall()
        if named is not None:
            about = [c for c in found if c["case_id"] == named["case_id"]]
            found = about if about or named.get("only") else found
        return found

    async def _latest_case(self, conn: AsyncConnection[Any]) -> str:
        """Where a reply that is about no open appointment is filed, among the client's cases of
        any kind: the one our last message to the sender was about (what the reply answers),
        else the newest."""
        row = await (
            await conn.execute(
                """SELECT c.case_id FROM cases c
                    WHERE c.client_id = ANY(%s)
                    ORDER BY (SELECT max(m.id) FROM messages m
                               WHERE m.case_id = c.case_id AND m.recipient_role = 'client'
                                 AND lower(m.recipient) = lower(%s)) DESC NULLS LAST,
                             c.created_at DESC
                    LIMIT 1""",
                (self._client_ids, self._reply.sender),
            )
        ).fetchone()
        return str(row[0]) if row else f"{self._reply.channel.value}:{self._reply.sender}"
