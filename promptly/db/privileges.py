"""Least-privilege PostgreSQL roles (docs/security.md, "Database roles").

Three roles share one server: the schema owner (`promptly_owner`) applies migrations and owns
every table, trigger and function; the application (`promptly_app`, the worker and the API)
reads and writes rows with the privileges below and owns nothing, so it can neither disable nor
drop the timeline's append-only trigger; Temporal (`temporal`) owns its own two databases and
cannot connect to Promptly's. `provision_roles` (run by a superuser, idempotent) creates the roles
and databases and sets the passwords; `grant_app` (run by the owner after every migration) gives
the application exactly `APP_TABLE_PRIVILEGES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

OWNER_ROLE = "promptly_owner"
APP_ROLE = "promptly_app"
TEMPORAL_ROLE = "temporal"
TEMPORAL_DATABASES = ("temporal", "temporal_visibility")

READ_WRITE = ("SELECT", "INSERT", "UPDATE")
READ_WRITE_DELETE = (*READ_WRITE, "DELETE")
# What the application may do to each table; a table missing here stops `grant_app`, so a new
# migration cannot ship a table the application silently cannot use. DELETE only where the code
# deletes (the retention purge, expired idempotency keys, early SMS receipts once recorded or
# expired). The timeline and the billing record are append-only for the application: it adds
# rows, and the retention purge goes through purge_timeline_events (migration 0010) and
# purge_billing_reasons (0015), which run as the owner.
APP_TABLE_PRIVILEGES: Mapping[str, tuple[str, ...]] = {
    "timeline_events": ("SELECT", "INSERT"),
    "billing_outcomes": ("SELECT", "INSERT"),
    "cases": READ_WRITE_DELETE,
    "messages": READ_WRITE_DELETE,
    "staff_tasks": READ_WRITE_DELETE,
    "survey_responses": READ_WRITE_DELETE,
    "webhook_deliveries": READ_WRITE_DELETE,
    "history_archive": READ_WRITE_DELETE,
    "api_idempotency": READ_WRITE_DELETE,
    "outbox": READ_WRITE_DELETE,
    "promises": READ_WRITE_DELETE,
    "calendar_feed_tokens": READ_WRITE,
    "clients": READ_WRITE_DELETE,
    "sms_numbers": READ_WRITE_DELETE,
    "inbound_messages": READ_WRITE_DELETE,
    "early_sms_receipts": READ_WRITE_DELETE,
    # A hold is released, never deleted: the record of why a case outlived its retention.
    "legal_holds": READ_WRITE,
}
APP_FUNCTIONS = ("purge_timeline_events(text[])", "purge_billing_reasons(text[])")


class UngrantedTable(RuntimeError):
    """A table in the schema that APP_TABLE_PRIVILEGES does not mention."""


def role_of(database_url: str) -> str:
    """The role a connection string logs in as (libpq URI or key=value)."""
    scheme, sep, rest = database_url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        database_url = f"postgresql://{rest}"
    user = conninfo_to_dict(database_url).get("user")
    if not user:
        raise ValueError("the database URL names no user: cannot tell which role to grant")
    return str(user)


def _is_migration_bookkeeping(table: str) -> bool:
    return table.startswith(("_yoyo", "yoyo"))


def app_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Promptly's tables in the public schema (yoyo's bookkeeping left out)."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return [row[0] for row in rows if not _is_migration_bookkeeping(row[0])]


def grant_app(conn: psycopg.Connection[Any], app_role: str) -> None:
    """Give `app_role` exactly its privileges (earlier grants revoked first); run as the owner."""
    tables = app_tables(conn)
    unknown = sorted(set(tables) - set(APP_TABLE_PRIVILEGES))
    if unknown:
        raise UngrantedTable(
            f"no application privileges declared for {', '.join(unknown)}: add them to "
            "promptly/db/privileges.py APP_TABLE_PRIVILEGES"
        )
    role = sql.Identifier(app_role)
    with conn.transaction():
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
        for table in tables:
            privileges = sql.SQL(", ").join(sql.SQL(p) for p in APP_TABLE_PRIVILEGES[table])
            conn.execute(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    privileges, sql.Identifier(table), role
                )
            )
        # bigserial ids: nextval needs USAGE on each sequence.
        conn.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role)
        )
        for function in APP_FUNCTIONS:
            conn.execute(sql.SQL(f"GRANT EXECUTE ON FUNCTION {function} TO {{}}").format(role))
        # Read-only: a process that does not migrate checks the schema is current at start
        # and in /health (promptly/db/schema.py).
        conn.execute(sql.SQL("GRANT SELECT ON TABLE _yoyo_migration TO {}").format(role))


def _ensure_role(conn: psycopg.Connection[Any], role: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    name = sql.Identifier(role)
    if not exists:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
    # The server receives a SCRAM verifier, never the password: statement logs cannot leak it.
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode()).decode()
    conn.execute(
        sql.SQL(
            "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS PASSWORD {}"
        ).format(name, sql.Literal(verifier))
    )


def _ensure_database(
    conn: psycopg.Connection[Any], database: str, owner: str, connect: Iterable[str]
) -> None:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    name, owner_name = sql.Identifier(database), sql.Identifier(owner)
    if not exists:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name, owner_name))
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, owner_name))
    # Only the roles named may connect; PUBLIC (every other role) may not.
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
    for role in connect:
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                name, sql.Identifier(role)
            )
        )


def _database_url(server_url: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(server_url, dbname=database)


def provision_roles(
    admin_url: str,
    passwords: Mapping[str, str],
    *,
    database: str = "promptly",
    owner: str = OWNER_ROLE,
    app: str = APP_ROLE,
    temporal: str | None = TEMPORAL_ROLE,
    temporal_databases: tuple[str, ...] = TEMPORAL_DATABASES,
) -> None:
    """Create (or bring back to shape) the roles and databases; set every role's password.

    `passwords` maps each role to its password. Run as a superuser (or a role with CREATEROLE
    and CREATEDB); idempotent, so a rerun after a password change rotates it.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in (owner, app, *([temporal] if temporal else [])):
            _ensure_role(conn, role, passwords[role])
        _ensure_database(conn, database, owner, connect=[app])
        if temporal:
            for temporal_db in temporal_databases:
                _ensure_database(conn, temporal_db, temporal, connect=[])
    with psycopg.connect(_database_url(admin_url, database), autocommit=True) as conn:
        # Before PostgreSQL 15 every role could create tables in public; only the owner may.
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(
            sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(owner))
        )
