"""The promise ledger in PostgreSQL: written with the case (`record_case`), read by the export,
the QA report and `GET /promises`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from promptly.domain.models import CaseSnapshot

# A row changes only for a newer revision: a retried save, or one overtaken by a later save,
# never duplicates a row or turns a verdict back.
_UPSERT = """
INSERT INTO promises (case_id, promise, case_kind, business_id, client_id, verdict,
                      promised_at, due_at, met_at, decided_at, cause, actor_kind, actor_id,
                      revision)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (case_id, promise) DO UPDATE
   SET verdict = EXCLUDED.verdict, promised_at = EXCLUDED.promised_at,
       due_at = EXCLUDED.due_at, met_at = EXCLUDED.met_at, decided_at = EXCLUDED.decided_at,
       cause = EXCLUDED.cause, actor_kind = EXCLUDED.actor_kind, actor_id = EXCLUDED.actor_id,
       revision = EXCLUDED.revision, updated_at = now()
 WHERE promises.revision < EXCLUDED.revision
"""

COLUMNS = (
    "case_id, promise, case_kind, business_id, client_id, verdict, promised_at, due_at, "
    "met_at, decided_at, cause, actor_kind, actor_id"
)


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
                    record.revision,
                )
                for record in snapshot.promises
            ],
        )


async def promises_of_case(conn: AsyncConnection[Any], case_id: str) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM promises WHERE case_id = %s ORDER BY due_at NULLS LAST, "
            "promise",
            (case_id,),
        )
        return await cur.fetchall()


async def promises_due_between(
    conn: AsyncConnection[Any],
    start: datetime,
    end: datetime,
    *,
    kept: bool | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Promises due in [start, end); `kept=False`: the broken ones, `kept=True`: the kept."""
    verdict = {None: None, True: "kept", False: "broken"}[kept]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {COLUMNS} FROM promises
                 WHERE due_at >= %(start)s AND due_at < %(end)s
                   AND (%(verdict)s::text IS NULL OR verdict = %(verdict)s)
                 ORDER BY due_at, case_id, promise
                 LIMIT %(limit)s""",
            {"start": start, "end": end, "verdict": verdict, "limit": limit},
        )
        return await cur.fetchall()
