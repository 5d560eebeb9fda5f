"""The system of record: one row per case and its append-only timeline, and the webhook outbox."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from promptly.activities.promise_writes import write_promises
from promptly.domain.appointments.models import (
    AppointmentPolicy,
    BillingOutcome,
    BillingRecord,
    ClientStanding,
    ClientStandingRequest,
)
from promptly.domain.common import CaseSnapshot
from promptly.domain.surveys.models import SurveyAnswerRecord
from promptly.domain.webhooks import webhook_events


class RecordsActivities:
    def __init__(self, pool: AsyncConnectionPool, webhook_urls: Sequence[str] = ()) -> None:
        """`webhook_urls`: where events are announced (settings); none: nowhere."""
        self._pool = pool
        self._webhook_urls = list(webhook_urls)

    @activity.defn
    async def record_case(self, snapshot: CaseSnapshot) -> None:
        """Upsert the case row, append its new timeline entries and, for each event among
        them (a status change, a delay: domain/webhooks.py), queue a webhook to every
        configured URL.

        Entries are keyed by (case, position) and webhooks by (event, URL), so a retried call
        stores each once. One transaction: an event is announced if and only if it is
        on the record, and the stored read view always matches the timeline rows stored with
        it. A snapshot older than the row's view (a slow write overtaken by a newer one) leaves
        the row as it is; its timeline entries are stored all the same.
        """
        read_view = snapshot.read_view
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO cases (case_id, kind, business_id, status, client_id,
                                      provider_id, starts_at, details, view, view_as_of,
                                      view_changes, view_timeline_from, view_timeline_to)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (case_id) DO UPDATE
                      SET status = EXCLUDED.status, provider_id = EXCLUDED.provider_id,
                          starts_at = EXCLUDED.starts_at, details = EXCLUDED.details,
                          view = EXCLUDED.view, view_as_of = EXCLUDED.view_as_of,
                          view_changes = EXCLUDED.view_changes,
                          view_timeline_from = EXCLUDED.view_timeline_from,
                          view_timeline_to = EXCLUDED.view_timeline_to,
                          updated_at = now()
                    WHERE EXCLUDED.view_as_of IS NULL OR cases.view_as_of IS NULL
                       OR (cases.view_as_of, cases.view_changes)
                          <= (EXCLUDED.view_as_of, EXCLUDED.view_changes)""",
                (
                    snapshot.case_id,
                    snapshot.kind.value,
                    snapshot.business_id,
                    snapshot.status,
                    snapshot.client_id,
                    snapshot.provider_id,
                    snapshot.starts_at,
                    Jsonb(snapshot.details),
                    Jsonb(read_view.view) if read_view else None,
                    read_view.as_of if read_view else None,
                    read_view.changes if read_view else None,
                    read_view.timeline_from if read_view else 0,
                    snapshot.first_seq + len(snapshot.entries),
                ),
            )
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    """INSERT INTO timeline_events
                           (case_id, seq, at, kind, actor_kind, actor_id, actor_via, detail,
                            data)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (case_id, seq) DO NOTHING""",
                    [
                        (
                            snapshot.case_id,
                            snapshot.first_seq + offset,
                            entry.at,
                            entry.kind.value,
                            entry.actor.kind.value,
                            entry.actor.id,
                            entry.actor.via,
                            entry.detail,
                            Jsonb(entry.data),
                        )
                        for offset, entry in enumerate(snapshot.entries)
                    ],
                )
            await write_promises(conn, snapshot)
            if self._webhook_urls:
                await _queue_webhooks(conn, snapshot, self._webhook_urls)

    @activity.defn
    async def record_billing(self, record: BillingRecord) -> None:
        """Append the billing outcome of an appointment slot, once per key, with who decided
        and the API key (or `cli`) the decision came through (`decided_via`, the actor's via),
        and the fee it charges, lifts or keeps with its amount (NULL in a record from before)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO billing_outcomes
                       (idempotency_key, case_id, appointment_id, client_id, outcome,
                        decided_by_kind, decided_by_id, decided_via, reason, decided_at,
                        fee, amount, currency, provider_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                (
                    record.idempotency_key,
                    record.case_id,
                    record.appointment_id,
                    record.client_id,
                    record.outcome.value,
                    record.decided_by.kind.value,
                    record.decided_by.id,
                    record.decided_by.via,
                    record.reason,
                    record.decided_at,
                    record.fee.value if record.fee else None,
                    record.amount,
                    record.currency,
                    record.provider_id,
                ),
            )
            await _keep_prepayment_flag(conn, record)

    @activity.defn
    async def client_standing(self, request: ClientStandingRequest) -> ClientStanding:
        """Whether the client's next visit must be prepaid (set by a no-show, not waived)."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """SELECT prepayment_required, prepayment_case_id
                     FROM clients WHERE client_id = %s""",
                (request.client_id,),
            )
            row = await cursor.fetchone()
        if row is None:
            return ClientStanding()
        return ClientStanding(prepayment_required=row[0], prepayment_case_id=row[1])

    @activity.defn
    async def record_survey_answer(self, record: SurveyAnswerRecord) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO survey_responses
                       (survey_id, case_id, client_id, nps, comment, answered_at)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (survey_id) DO NOTHING""",
                (
                    record.survey_id,
                    record.case_id,
                    record.client_id,
                    record.nps,
                    record.comment,
                    record.answered_at,
                ),
            )


class PolicyActivities:
    """Hands the worker's configured rules to a new case, so they are fixed in its history."""

    def __init__(self, appointment_policy: AppointmentPolicy) -> None:
        self._appointment_policy = appointment_policy

    @activity.defn
    async def current_appointment_policy(self) -> AppointmentPolicy:
        return self._appointment_policy


async def _queue_webhooks(conn: AsyncConnection, snapshot: CaseSnapshot, urls: list[str]) -> None:
    events = webhook_events(snapshot)
    if not events:
        return
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """INSERT INTO webhook_deliveries
                   (event_id, url, case_id, seq, event_type, payload)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (event_id, url) DO NOTHING""",
            [
                (
                    event.id,
                    url,
                    event.case_id,
                    seq,
                    event.type,
                    Jsonb(event.model_dump(mode="json")),
                )
                for seq, event in events
                for url in urls
            ],
        )


async def _keep_prepayment_flag(conn: AsyncConnection, record: BillingRecord) -> None:
    """A no-show flags the client; a later outcome of that same case (a waiver) clears it.

    Only the case that set the flag clears it, so waiving an older no-show does not lift a
    newer one; a fee that stands keeps it. Idempotent: a retried activity writes the same values.
    """
    if record.outcome is BillingOutcome.FEE_STANDS:
        return
    if record.outcome is BillingOutcome.NO_SHOW:
        await conn.execute(
            """INSERT INTO clients (client_id, prepayment_required, prepayment_case_id,
                                    prepayment_since)
               VALUES (%s, true, %s, %s)
               ON CONFLICT (client_id) DO UPDATE
                  SET prepayment_required = true,
                      prepayment_case_id = EXCLUDED.prepayment_case_id,
                      prepayment_since = EXCLUDED.prepayment_since,
                      updated_at = now()""",
            (record.client_id, record.case_id, record.decided_at),
        )
    else:
        await conn.execute(
            """UPDATE clients
                  SET prepayment_required = false, prepayment_case_id = NULL,
                      prepayment_since = NULL, updated_at = now()
                WHERE client_id = %s AND prepayment_case_id = %s""",
            (record.client_id, record.case_id),
        )
