"""Legal holds (`legal_holds`, migration 0019), shared by the API (`/legal-holds`) and the CLI
(`promptly hold`): compliance staff keep a case, or every case of a client, from the retention
purge until they release the hold (promptly/activities/archive.py reads the active ones).

A hold names a case that PostgreSQL has (by workflow id, or by a business id that names one
case) or a client with at least one case; a hold already active on the same case or client is
returned as it is, not placed twice. Releasing keeps the row, with who released it and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from promptly.domain.common import CaseKind
from promptly.services.errors import ServiceError


class LegalHold(BaseModel):
    id: int
    case_id: str | None = Field(description="the held case's workflow id; None: a client hold")
    client_id: str | None = Field(description="the client whose every case is held")
    reason: str
    held_by: str = Field(description='who placed it, e.g. "staff:audit"')
    held_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_note: str


_COLUMNS = (
    "id, case_id, client_id, reason, held_by, held_at, released_by, released_at, release_note"
)


async def _case_id(conn: AsyncConnection[Any], case: str) -> str:
    """The workflow id `case` names (itself, or the one case its business id names)."""
    candidates = [case, *(f"{kind.value}-{case}" for kind in CaseKind)]
    cursor = await conn.execute(
        "SELECT case_id FROM cases WHERE case_id = ANY(%s) ORDER BY case_id", (candidates,)
    )
    found = [row[0] for row in await cursor.fetchall()]
    if case in found:
        return case
    if not found:
        raise ServiceError(404, f"no case {case!r} in PostgreSQL")
    if len(found) > 1:
        raise ServiceError(409, f"{case!r} names {len(found)} cases: hold one of {found}")
    return str(found[0])


async def place_hold(
    conn: AsyncConnection[Any],
    *,
    case: str | None,
    client_id: str | None,
    reason: str,
    held_by: str,
) -> tuple[LegalHold, bool]:
    """Hold a case or a client's cases; returns the hold and whether it is new."""
    if (case is None) == (client_id is None):
        raise ValueError("hold a case or a client, one of the two")
    case_id = await _case_id(conn, case) if case is not None else None
    if client_id is not None:
        cursor = await conn.execute(
            "SELECT 1 FROM cases WHERE client_id = %s LIMIT 1", (client_id,)
        )
        if await cursor.fetchone() is None:
            raise ServiceError(404, f"no case of client {client_id!r} in PostgreSQL")
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # One active hold per case or client: two people holding it for one matter is one hold.
        await cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext('legal_hold:' || %s))",
            (case_id or f"client:{client_id}",),
        )
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM legal_holds
                 WHERE released_at IS NULL
                   AND case_id IS NOT DISTINCT FROM %s AND client_id IS NOT DISTINCT FROM %s""",
            (case_id, client_id),
        )
        active = await cur.fetchone()
        if active is not None:
            return LegalHold.model_validate(active), False
        await cur.execute(
            f"""INSERT INTO legal_holds (case_id, client_id, reason, held_by)
                VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}""",
            (case_id, client_id, reason, held_by),
        )
        row = await cur.fetchone()
    assert row is not None
    return LegalHold.model_validate(row), True


async def release_hold(
    conn: AsyncConnection[Any], hold_id: int, released_by: str, note: str = ""
) -> LegalHold:
    """Release a hold (releasing a released one changes nothing); 404 for an unknown id."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""UPDATE legal_holds
                   SET released_by = %s, released_at = now(), release_note = %s
                 WHERE id = %s AND released_at IS NULL
             RETURNING {_COLUMNS}""",
            (released_by, note, hold_id),
        )
        row = await cur.fetchone()
        if row is None:
            await cur.execute(f"SELECT {_COLUMNS} FROM legal_holds WHERE id = %s", (hold_id,))
            row = await cur.fetchone()
    if row is None:
        raise ServiceError(404, f"no legal hold {hold_id}")
    return LegalHold.model_validate(row)


async def list_holds(
    conn: AsyncConnection[Any],
    *,
    active_only: bool = True,
    case_id: str | None = None,
    client_id: str | None = None,
    limit: int | None = None,
    before: tuple[datetime, int] | None = None,
) -> list[LegalHold]:
    """Holds, newest first: the active ones, or all; those of a case or client when given.
    At most `limit` (None: every one); `before` (a hold's `held_at` and `id`): only those
    listed after that hold, the next page."""
    before_at, before_id = before if before is not None else (None, None)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM legal_holds
                 WHERE (NOT %(active)s OR released_at IS NULL)
                   AND (%(case)s::text IS NULL OR case_id = %(case)s)
                   AND (%(client)s::text IS NULL OR client_id = %(client)s)
                   AND (%(before_at)s::timestamptz IS NULL
                        OR (held_at, id) < (%(before_at)s, %(before_id)s::bigint))
                 ORDER BY held_at DESC, id DESC
                 LIMIT %(limit)s""",
            {
                "active": active_only,
                "case": case_id,
                "client": client_id,
                "before_at": before_at,
                "before_id": before_id,
                "limit": limit,
            },
        )
        return [LegalHold.model_validate(row) for row in await cur.fetchall()]
