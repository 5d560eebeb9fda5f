"""The system of record: one row per case and its append-only timeline."""

from __future__ import annotations

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from promptly.domain.models import AppointmentPolicy, CaseSnapshot


class RecordsActivities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @activity.defn
    async def record_case(self, snapshot: CaseSnapshot) -> None:
        """Upsert the case row and append its new timeline entries.

        Entries are keyed by (case, position), so a retried call stores each once.
        """
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO cases (case_id, kind, business_id, status, client_id,
                                      provider_id, starts_at, details)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (case_id) DO UPDATE
                      SET status = EXCLUDED.status, provider_id = EXCLUDED.provider_id,
                          starts_at = EXCLUDED.starts_at, details = EXCLUDED.details,
                          updated_at = now()""",
                (
                    snapshot.case_id,
                    snapshot.kind.value,
                    snapshot.business_id,
                    snapshot.status,
                    snapshot.client_id,
                    snapshot.provider_id,
                    snapshot.starts_at,
                    Jsonb(snapshot.details),
                ),
            )
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    """INSERT INTO timeline_events
                           (case_id, seq, at, kind, actor_kind, actor_id, detail, data)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (case_id, seq) DO NOTHING""",
                    [
                        (
                            snapshot.case_id,
                            snapshot.first_seq + offset,
                            entry.at,
                            entry.kind.value,
                            entry.actor.kind.value,
                            entry.actor.id,
                            entry.detail,
                            Jsonb(entry.data),
                        )
                        for offset, entry in enumerate(snapshot.entries)
                    ],
                )


class PolicyActivities:
    """Hands the worker's configured rules to a new case, so they are fixed in its history."""

    def __init__(self, appointment_policy: AppointmentPolicy) -> None:
        self._appointment_policy = appointment_policy

    @activity.defn
    async def current_appointment_policy(self) -> AppointmentPolicy:
        return self._appointment_policy
