"""The promise ledger's writes: the rows a `record_case` carries, upserted in its transaction."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from promptly.domain.common import CaseSnapshot

# A row changes only for a newer revision: a retried save, or one overtaken by a later save,
# never duplicates a row or turns a verdict back.
_UPSERT = """
INSERT INTO promises (case_id, promise, case_kind, business_id, client_id, verdict,
                      promised_at, due_at, met_at, decided_at, cause, actor_kind, actor_id,
                      actor_via, revision)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (case_id, promise) DO UPDATE
   SET verdict = EXCLUDED.verdict, promised_at = EXCLUDED.promised_at,
       due_at = EXCLUDED.due_at, met_at = EXCLUDED.met_at, decided_at = EXCLUDED.decided_at,
       cause = EXCLUDED.cause, actor_kind = EXCLUDED.actor_kind, actor_id = EXCLUDED.actor_id,
       actor_via = EXCLUDED.actor_via, revision = EXCLUDED.revision, updated_at = now()
 WHERE promises.revision < EXCLUDED.revision
"""


async def write_promises(conn: AsyncConnection[Any], snapshot: CaseSnapshot) -> None:
    if not snapshot.promises:
        return
    async with conn.cursor() as cursor:
        await cursor.executemany(
            _UPSERT,
            [
                (
                    snapshot.case_id,
                    record.promise.value,
                    snapshot.kind.value,
                    snapshot.business_id,
                    snapshot.client_id,
                    record.verdict.value,
                    record.promised_at,
                    record.due_at,
                    record.met_at,
                    record.decided_at,
                    record.cause,
                    record.actor.kind.value if record.actor else None,
                    record.actor.id if record.actor else None,
                    record.actor.via if record.actor else None,
                    record.revision,
                )
                for record in snapshot.promises
            ],
        )
