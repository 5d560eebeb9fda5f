"""The history archive and the retention purge (DESIGN.md §5).

`archive_closed_histories` copies the full Temporal history of every closed case run into
`history_archive` (idempotent: one row per run, a copy found there is not fetched again).
`purge_expired` deletes what closed longer ago than the retention setting: the archived
histories and the case, timeline, message, staff-task, survey-answer, webhook-delivery and
client-reply rows. It is the only writer allowed to delete timeline rows (migration 0004 makes
them append-only otherwise), and it does so through `purge_timeline_events` (migration 0010),
which runs as the schema owner: the application's own role has no DELETE on the timeline.
Then it forgets the clients left without any case, and the SMS numbers no client holds, except
opt-outs.

Two kinds of closed case outlive the cutoff: an appointment that a complaint still open names
by its `appointment_id` (the complaint is about that visit: its history is the evidence), and
a case under a legal hold (`legal_holds`, migration 0019: the case, or every case of its
client, until compliance staff release it; promptly/services/legal_holds.py). Both go in the
first purge after the complaint closes or the hold is released, if their retention has run.

`billing_outcomes` are not purged: they are the accounting record, ids only, and Promptly
sets no end to it (deleting them is the business's accounting decision, docs/ops.md); the
free-text reason a purged case's rows carry is blanked through `purge_billing_reasons`
(migration 0015, as the owner: the table is append-only for the app).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.client import Client

from promptly.domain.maintenance import ArchiveRequest, ArchiveResult, PurgeInput, PurgeResult
from promptly.domain.retention import ENDED_STATUSES, purge_cutoff
from promptly.domain.ui_views import runs_query

CASE_WORKFLOW_TYPES = (
    "AppointmentWorkflow",
    "ComplaintWorkflow",
    "SurveyWorkflow",
    "InquiryWorkflow",
)
FINAL_STATUSES = ENDED_STATUSES
CONTINUED_AS_NEW = "CONTINUED_AS_NEW"


class ArchiveActivities:
    def __init__(
        self,
        client: Client,
        pool: AsyncConnectionPool,
        retention: timedelta,
        timezone: str = "UTC",
    ) -> None:
        self._client = client
        self._pool = pool
        self._retention = retention
        self._timezone = timezone  # where "six calendar months" is counted

    @activity.defn
    async def archive_closed_histories(self, request: ArchiveRequest) -> ArchiveResult:
        since = request.since
        if since is None:
            async with self._pool.connection() as conn:
                cursor = await conn.execute("SELECT max(closed_at) FROM history_archive")
                row = await cursor.fetchone()
            newest = row[0] if row else None
            since = newest - request.overlap if newest is not None else None
        archived = already = 0
        async for execution in self._client.list_workflows(
            runs_query(CASE_WORKFLOW_TYPES, running=False, since=since)
        ):
            activity.heartbeat(execution.id)
            if execution.close_time is None or execution.status is None:
                continue  # still running after all (visibility lags): the next run takes it
            async with self._pool.connection() as conn:
                if await _is_archived(conn, execution.id, execution.run_id):
                    already += 1
                    continue
                handle = self._client.get_workflow_handle(execution.id, run_id=execution.run_id)
                history = await handle.fetch_history()
                cursor = await conn.execute(
                    """INSERT INTO history_archive
                           (case_id, run_id, workflow_type, status, started_at, closed_at,
                            history)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (case_id, run_id) DO NOTHING""",
                    (
                        execution.id,
                        execution.run_id,
                        execution.workflow_type,
                        execution.status.name,
                        execution.start_time,
                        execution.close_time,
                        history.to_json(),
                    ),
                )
                if cursor.rowcount:
                    archived += 1
                else:
                    already += 1
        return ArchiveResult(since=since, archived=archived, already_archived=already)

    @activity.defn
    async def purge_expired(self, request: PurgeInput) -> PurgeResult:
        """Delete every case closed before the cutoff (`now - retention`, and at least six
        calendar months back in the office timezone), with all its rows.

        A case is closed when its status is final or Temporal closed it for good (an
        archived run that did not continue as new); its close time is the later of its last
        record and that run's close. Running cases are never purged, however old.
        """
        cutoff = purge_cutoff(request.now, self._retention, self._timezone)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """CREATE TEMPORARY TABLE expired ON COMMIT DROP AS
                   SELECT c.case_id
                     FROM cases c
                     LEFT JOIN LATERAL (
                          SELECT max(a.closed_at) AS closed_at FROM history_archive a
                           WHERE a.case_id = c.case_id AND a.status <> %(continued)s) a ON true
                    WHERE greatest(c.updated_at, a.closed_at) < %(cutoff)s
                      AND (c.status = ANY(%(final)s) OR a.closed_at IS NOT NULL)""",
                {"cutoff": cutoff, "final": FINAL_STATUSES, "continued": CONTINUED_AS_NEW},
            )
            kept = await _keep_held_and_disputed(conn)
            cursor = await conn.execute(
                "SELECT purge_timeline_events(ARRAY(SELECT case_id FROM expired))"
            )
            removed = await cursor.fetchone()
            counts = {"timeline_events": removed[0] if removed else 0}
            # Live bodies waiting in the outbox go with their messages (they reference them).
            await conn.execute(
                """DELETE FROM outbox WHERE message_id IN (
                       SELECT id FROM messages WHERE case_id IN (SELECT case_id FROM expired))"""
            )
            for table, column in (
                ("messages", "case_id"),
                ("staff_tasks", "case_id"),
                ("survey_responses", "survey_id"),
                ("webhook_deliveries", "case_id"),
                ("promises", "case_id"),
            ):
                cursor = await conn.execute(
                    f"DELETE FROM {table} WHERE {column} IN (SELECT case_id FROM expired)"
                )
                counts[table] = cursor.rowcount
            cursor = await conn.execute(
                "DELETE FROM cases WHERE case_id IN (SELECT case_id FROM expired)"
            )
            counts["cases"] = cursor.rowcount
            # The accounting record stays, but not what someone typed into it: a cancellation
            # reason may say who was ill with what. The function blanks only cases now gone.
            cursor = await conn.execute(
                "SELECT purge_billing_reasons(ARRAY(SELECT case_id FROM expired))"
            )
            blanked = await cursor.fetchone()
            counts["billing_reasons"] = blanked[0] if blanked else 0
            # Replies go with their case; one that matched no case goes once received before
            # the cutoff, as a case closed then would.
            cursor = await conn.execute(
                """DELETE FROM inbound_messages
                    WHERE case_id IN (SELECT case_id FROM expired)
                       OR (case_id IS NULL AND received_at < %s)""",
                (cutoff,),
            )
            counts["inbound_messages"] = cursor.rowcount
            counts.update(await _forget_clients(conn, cutoff))
            # Histories of purged cases, and old ones whose case PostgreSQL never had.
            cursor = await conn.execute(
                """DELETE FROM history_archive a
                    WHERE a.case_id IN (SELECT case_id FROM expired)
                       OR (a.closed_at < %s
                           AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.case_id = a.case_id))""",
                (cutoff,),
            )
            counts["archived_histories"] = cursor.rowcount
        activity.logger.info(
            "purged what closed before %s: %s; kept %s", cutoff.isoformat(), counts, kept
        )
        return PurgeResult(cutoff=cutoff, retention=self._retention, **counts, **kept)


async def _is_archived(conn: AsyncConnection, case_id: str, run_id: str) -> bool:
    cursor = await conn.execute(
        "SELECT 1 FROM history_archive WHERE case_id = %s AND run_id = %s", (case_id, run_id)
    )
    return await cursor.fetchone() is not None


async def _keep_held_and_disputed(conn: AsyncConnection) -> dict[str, int]:
    """Take out of `expired` the cases that must outlive their retention: those under a legal
    hold (of the case, or of its client) and the appointments a complaint still open names.
    A complaint counts as open while its status is not final and it is not expiring itself
    (Temporal ended it for good). Counts per reason."""
    cursor = await conn.execute(
        """DELETE FROM expired e USING cases c
            WHERE c.case_id = e.case_id
              AND EXISTS (SELECT 1 FROM legal_holds h
                           WHERE h.released_at IS NULL
                             AND (h.case_id = c.case_id OR h.client_id = c.client_id))"""
    )
    held = cursor.rowcount
    cursor = await conn.execute(
        """DELETE FROM expired e USING cases c
            WHERE c.case_id = e.case_id AND c.kind = 'appointment'
              AND EXISTS (SELECT 1 FROM cases k
                           WHERE k.kind = 'complaint'
                             AND k.details ->> 'appointment_id' = c.business_id
                             AND NOT (k.status = ANY(%s))
                             AND k.case_id NOT IN (SELECT case_id FROM expired))""",
        (FINAL_STATUSES,),
    )
    return {"kept_on_hold": held, "kept_for_open_complaints": cursor.rowcount}


async def _forget_clients(conn: AsyncConnection, cutoff: datetime) -> dict[str, int]:
    """After the cases are gone: the clients with no case left and the SMS numbers no client
    holds, each only once untouched since the cutoff (a client written since may be about to
    have a case). Deletes counted per table."""
    cursor = await conn.execute(
        """DELETE FROM clients cl
            WHERE cl.updated_at < %s
              AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.client_id = cl.client_id)""",
        (cutoff,),
    )
    clients = cursor.rowcount
    # An opt-out stays whoever held the number: it is the number's owner refusing SMS, to be
    # honoured when that number comes back in any later booking. Every other row (opted back
    # in, or a number Twilio could not reach) is no consent, only a fact about someone gone.
    cursor = await conn.execute(
        """DELETE FROM sms_numbers n
            WHERE NOT n.opted_out AND n.updated_at < %s
              AND NOT EXISTS (SELECT 1 FROM clients cl WHERE cl.phone = n.phone)""",
        (cutoff,),
    )
    return {"clients": clients, "sms_numbers": cursor.rowcount}
