"""Whether the database's schema is the one this release needs.

A process that does not migrate (`PROMPTLY_MIGRATE_AT_START=false`, the API) compares the
migrations applied (yoyo's `_yoyo_migration`) with the ones packaged in promptly/db/migrations
before it starts, and `/health` reports the same. Only a packaged migration that is not applied
counts: one applied but not packaged comes from a newer release (an image rolled back, old and
new workers side by side during a deploy) and is fine.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import psycopg
from psycopg.errors import InsufficientPrivilege

from promptly.db import MIGRATIONS, _libpq_url

MIGRATION_TABLE = "_yoyo_migration"
UPGRADE_COMMAND = "promptly db upgrade"


class SchemaNotCurrent(RuntimeError):
    """The database lacks migrations this release needs, or they cannot be read."""


@cache  # the release's files do not change while it runs; /health asks on every probe
def packaged_migrations() -> tuple[str, ...]:
    """The ids of the migrations this release ships (file names without `.sql`), in order."""
    return tuple(
        sorted(
            path.name.removesuffix(".sql")
            for path in MIGRATIONS.glob("*.sql")
            if not path.name.endswith(".rollback.sql")
        )
    )


def missing(applied: set[str]) -> list[str]:
    """The packaged migrations not among `applied`."""
    return [migration for migration in packaged_migrations() if migration not in applied]


def describe(pending: list[str]) -> str:
    """`current`, or `pending: 0016_…, 0017_…` (the /health `schema` field)."""
    return "current" if not pending else f"pending: {', '.join(pending)}"


# No table yet (a database never migrated): every packaged migration is pending.
_TABLE_EXISTS = f"SELECT to_regclass('{MIGRATION_TABLE}') IS NOT NULL"


def pending_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """The packaged migrations the database behind `conn` has not applied."""
    row = conn.execute(_TABLE_EXISTS).fetchone()
    if not row or not row[0]:
        return list(packaged_migrations())
    applied = conn.execute(f"SELECT migration_id FROM {MIGRATION_TABLE}").fetchall()
    return missing({str(migration) for (migration,) in applied})


async def pending_migrations_async(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """`pending_migrations` on a pool's connection (/health)."""
    row = await (await conn.execute(_TABLE_EXISTS)).fetchone()
    if not row or not row[0]:
        return list(packaged_migrations())
    cursor = await conn.execute(f"SELECT migration_id FROM {MIGRATION_TABLE}")
    return missing({str(migration) for (migration,) in await cursor.fetchall()})


# A role the last upgrade did not grant the migrations table to (a deployment that upgraded
# without `promptly db upgrade`): the database answers, but what it holds cannot be told.
UNREADABLE = (
    f"cannot read the applied migrations ({MIGRATION_TABLE}) as PROMPTLY_DATABASE_URL's "
    f"role: run `{UPGRADE_COMMAND}` as the schema owner, which grants it"
)


async def schema_state(conn: psycopg.AsyncConnection[Any]) -> str:
    """The /health `schema` field: `current`, `pending: …`, or `unreadable: …`."""
    try:
        return describe(await pending_migrations_async(conn))
    except InsufficientPrivilege:
        return f"unreadable: {UNREADABLE}"


def require_current(database_url: str) -> None:
    """Raise SchemaNotCurrent, naming the pending migrations and the command that applies
    them, unless every packaged migration is applied."""
    try:
        with psycopg.connect(_libpq_url(database_url), autocommit=True) as conn:
            pending = pending_migrations(conn)
    except InsufficientPrivilege as denied:
        raise SchemaNotCurrent(UNREADABLE) from denied
    if pending:
        raise SchemaNotCurrent(
            f"the database schema is behind this release ({describe(pending)}): run "
            f"`{UPGRADE_COMMAND}` (as the schema owner, PROMPTLY_MIGRATION_DATABASE_URL) "
            "before starting"
        )
