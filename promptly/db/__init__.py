"""Schema migrations (yoyo), applied by `promptly db upgrade` and at worker start.

`migrate` applies them as the schema owner when a separate migration connection is configured,
then grants the application's role its privileges (promptly/db/privileges.py); without one
(`make run`, tests) the application's own role migrates and owns the tables.

Concurrent starts (several workers, `db upgrade` during a deploy) take turns under a
PostgreSQL session advisory lock rather than yoyo's lock row: a process killed while it
migrates loses its session, PostgreSQL releases the lock and rolls back the half-applied
migration, and the next start goes on at once. yoyo's row would stay behind and stop every
later start with `LockTimeout … run yoyo break-lock`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

MIGRATIONS = Path(__file__).parent / "migrations"

# One number for every Promptly process on a database: pg_advisory_lock's bigint key.
MIGRATION_LOCK_KEY = 0x70726F6D70746C79  # "promptly"
# A live holder is migrating; wait that long for it before giving up with an error.
MIGRATION_LOCK_WAIT = timedelta(minutes=5)
# How long a migration's statement waits for a table lock (a long transaction on the table it
# alters). Waiting longer would queue every query of the live processes behind it.
TABLE_LOCK_WAIT = timedelta(seconds=5)


class MigrationBlocked(RuntimeError):
    """A migration gave up waiting for a table lock; it was rolled back whole."""


def _yoyo_url(database_url: str) -> str:
    scheme, _, rest = database_url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def _libpq_url(database_url: str) -> str:
    scheme, _, rest = database_url.partition("://")
    if scheme.startswith("postgresql+"):
        return f"postgresql://{rest}"
    return database_url


def _with_lock_timeout(url: str) -> str:
    """`url` whose sessions wait TABLE_LOCK_WAIT at most for a lock: in the connection's
    options, since yoyo opens a connection of its own for each migration."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    wait_ms = int(TABLE_LOCK_WAIT.total_seconds() * 1000)
    query["options"] = f"{query.get('options', '')} -c lock_timeout={wait_ms}".strip()
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def migration_lock(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold the migration advisory lock for the block, on a session of its own."""
    with psycopg.connect(_libpq_url(database_url), autocommit=True) as session:
        wait_ms = int(MIGRATION_LOCK_WAIT.total_seconds() * 1000)
        session.execute(f"SET lock_timeout = {wait_ms}")
        session.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            yield session
        finally:
            if not session.closed:
                session.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


@contextmanager
def _already_locked(timeout: int = 10) -> Iterator[None]:
    yield


def upgrade(database_url: str) -> int:
    """Apply pending migrations under the advisory lock; returns how many were applied."""
    # Imported here: every `promptly.db.*` module loads this package, and only an upgrade
    # needs yoyo (about 0.15 s of the CLI's start).
    from yoyo import get_backend, read_migrations

    with migration_lock(database_url):
        backend = get_backend(_with_lock_timeout(_yoyo_url(database_url)))
        try:
            # yoyo takes its own lock row around its internal-schema upgrade too; the
            # advisory lock already serialises us, and a row could outlive a killed process.
            backend.lock = _already_locked
            migrations = read_migrations(str(MIGRATIONS))
            pending = backend.to_apply(migrations)
            try:
                backend.apply_migrations(pending)
            except psycopg.errors.LockNotAvailable as blocked:
                stuck = [m.id for m in backend.to_apply(migrations)]
                raise MigrationBlocked(
                    f"migration {stuck[0] if stuck else '?'} waited more than "
                    f"{TABLE_LOCK_WAIT.total_seconds():g}s for a table lock held by another "
                    "transaction (a long query or an idle transaction on that table) and was "
                    "rolled back whole; the ones before it are applied. Run `promptly db "
                    "upgrade` again once that transaction ends (pg_stat_activity shows it)"
                ) from blocked
        finally:
            backend.connection.close()
    return len(pending)


def migrate(database_url: str, migration_database_url: str | None = None) -> int:
    """Apply pending migrations as the owner (`migration_database_url`, else `database_url`'s
    role), then grant `database_url`'s role exactly its privileges when it is another role."""
    from promptly.db.privileges import grant_app, role_of

    if migration_database_url is None:
        return upgrade(database_url)
    applied = upgrade(migration_database_url)
    app_role = role_of(database_url)
    if app_role != role_of(migration_database_url):
        with psycopg.connect(_libpq_url(migration_database_url), autocommit=True) as conn:
            grant_app(conn, app_role)
    return applied
