"""Reading the promise ledger (`promises`, written by the workflows through `record_case`):
a case's promises for its history export, and the promises due in a period for compliance
(`GET /promises`, `promptly promises`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from promptly.domain.common import Actor
from promptly.domain.demo import DEMO_CASE_ID_LIKE

_COLUMNS = (
    "case_id, promise, case_kind, business_id, client_id, verdict, promised_at, due_at, "
    "met_at, decided_at, cause, actor_kind, actor_id, actor_via"
)
# Most rows `promptly promises` lists, and one page of `GET /promises` (its default).
MAX_ROWS = 1000


class LedgerRow(BaseModel):
    """One promise of one case and the verdict its workflow reached."""

    model_config = ConfigDict(extra="forbid")

    case_id: str
    promise: str
    case_kind: str
    business_id: str
    client_id: str
    verdict: str
    promised_at: datetime
    due_at: datetime | None
    met_at: datetime | None
    decided_at: datetime | None
    cause: str | None
    # Who broke, waived or kept it, as the timeline names actors: "staff:ewa via desk" when
    # an API key (or `via cli`) acted for them (Actor.signature).
    actor: str | None

    @classmethod
    def of(cls, row: dict[str, Any], zone: ZoneInfo | None = None) -> LedgerRow:
        values = {k: v for k, v in row.items() if not k.startswith("actor_")}
        if zone is not None:
            values |= {k: v.astimezone(zone) for k, v in values.items() if isinstance(v, datetime)}
        actor = (
            Actor(kind=row["actor_kind"], id=row["actor_id"], via=row.get("actor_via")).signature()
            if row.get("actor_kind")
            else None
        )
        return cls(**values, actor=actor)


async def case_promises(
    conn: AsyncConnection[Any], case_id: str, zone: ZoneInfo | None = None
) -> list[LedgerRow]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM promises WHERE case_id = %s "
            "ORDER BY due_at NULLS LAST, promise",
            (case_id,),
        )
        return [LedgerRow.of(row, zone) for row in await cur.fetchall()]


async def promises_due(
    conn: AsyncConnection[Any],
    start: datetime,
    end: datetime,
    *,
    kept: bool | None = None,
    limit: int = MAX_ROWS,
    after: tuple[datetime, str, str] | None = None,
) -> list[LedgerRow]:
    """Promises due in [start, end), by due time, case and promise: all, only the kept
    (`kept=True`) or only the broken (`kept=False`); waived, not applicable and pending ones
    are neither. Demo cases are left out, as the staff inbox and the QA report leave them (a
    case's own export keeps them). At most `limit`; `after` (a row's `due_at`, `case_id` and
    `promise`): only those listed after that row, the next page."""
    verdict = {None: None, True: "kept", False: "broken"}[kept]
    after_at, after_case, after_promise = after if after is not None else (None, None, None)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM promises
                 WHERE due_at >= %(start)s AND due_at < %(end)s
                   AND (%(verdict)s::text IS NULL OR verdict = %(verdict)s)
                   AND case_id NOT LIKE %(demo)s
                   AND (%(after_at)s::timestamptz IS NULL
                        OR (due_at, case_id, promise)
                           > (%(after_at)s, %(after_case)s::text, %(after_promise)s::text))
                 ORDER BY due_at, case_id, promise
                 LIMIT %(limit)s""",
            {
                "start": start,
                "end": end,
                "verdict": verdict,
                "limit": limit,
                "demo": DEMO_CASE_ID_LIKE,
                "after_at": after_at,
                "after_case": after_case,
                "after_promise": after_promise,
            },
        )
        return [LedgerRow.of(row) for row in await cur.fetchall()]
