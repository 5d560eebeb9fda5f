"""Databases of their own for the tests of migrating: beside the test server's, made from
scratch with part of the packaged migrations applied, and dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from yoyo import get_backend, read_migrations

from promptly import db


def on_database(url: str, name: str) -> str:
    """`url` with its database replaced by `name` (same server, same credentials)."""
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@contextmanager
def partly_migrated(
    database_url: str, prefix: str, applied: Callable[[str], bool]
) -> Iterator[str]:
    """A new database with the packaged migrations whose id `applied` picks applied, the
    others pending; its URL for the block."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = on_database(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = on_database(database_url, name)
    backend = get_backend(db._yoyo_url(url))
    with backend.lock():
        picked = read_migrations(str(db.MIGRATIONS)).filter(lambda m: applied(m.id))
        backend.apply_migrations(backend.to_apply(picked))
    backend.connection.close()
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
