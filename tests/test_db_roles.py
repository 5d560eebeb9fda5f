"""Least-privilege database roles, attacked on the real embedded PostgreSQL.

The roles are provisioned as compose does it (`promptly db roles`, then `promptly db upgrade`
as the owner). With the application role's own connection, everything that would rewrite the
append-only timeline is refused by PostgreSQL itself, while a real appointment, staff tasks and
the retention purge keep working on that same connection.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import pytest_asyncio
from psycopg import errors
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from promptly import db
from promptly.activities.archive import ArchiveActivities
from promptly.activities.tasks import TaskActivities
from promptly.cli.secrets import pgpass_line, replace_private
from promptly.config import Settings
from promptly.db import schema
from promptly.db.privileges import APP_TABLE_PRIVILEGES, app_tables, provision_roles
from promptly.domain.appointments.models import AppointmentStatus, CancelInput
from promptly.domain.common import RecipientRole
from promptly.domain.maintenance import PurgeInput
from promptly.domain.tasks import CreateTaskRequest, TaskKind
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.conftest import TEST_LINK_SECRET
from tests.helpers import CLIENT, appointment, messages, next_local, tasks, timeline_rows


def as_role(url: str, role: str, database: str, passfile: Path | None = None) -> str:
    """`url` (a libpq URI) logging in as `role` to `database`, with a passfile if given."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(q for q in (parts.query, passfile and f"passfile={passfile}") if q)
    return urlunsplit((parts.scheme, f"{role}@{host}", f"/{database}", query, ""))


@contextmanager
def passwords_required(admin_url: str, roles: list[str]) -> Iterator[bool]:
    """The embedded server asks `roles` for their password (SCRAM) instead of trusting the
    socket, for the block; False when the server's pg_hba.conf is not a local file."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SHOW hba_file").fetchone()
        hba = Path(row[0]) if row else None
        if hba is None or not hba.is_file() or not os.access(hba, os.W_OK):
            yield False
            return
        original = hba.read_text(encoding="utf-8")
        names = ",".join(roles)
        hba.write_text(
            f"local all {names} scram-sha-256\nhost all {names} all scram-sha-256\n" + original,
            encoding="utf-8",
        )
        conn.execute("SELECT pg_reload_conf()")
        try:
            yield True
        finally:
            hba.write_text(original, encoding="utf-8")
            conn.execute("SELECT pg_reload_conf()")


@dataclass(frozen=True)
class Stack:
    admin_url: str
    checks_passwords: bool
    passwords: Path
    owner_url: str
    app_url: str
    owner: str
    app: str
    temporal: str
    database: str
    temporal_databases: tuple[str, ...]


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Roles and databases of their own (role names are server-wide), with generated passwords
    that the server checks, and the passfiles compose hands out; dropped afterwards."""
    tag = uuid.uuid4().hex[:6]
    owner, app, temporal = f"owner_{tag}", f"app_{tag}", f"temporal_{tag}"
    database = f"promptly_roles_{tag}"
    temporal_dbs = (f"temporal_{tag}", f"temporal_visibility_{tag}")
    folder = tmp_path_factory.mktemp("db-passwords")
    passwords = {role: secrets.token_urlsafe(32) for role in (owner, app, temporal)}
    for role, password in passwords.items():
        replace_private(folder / f"{role}.pgpass", pgpass_line(role, password))
    provision_roles(
        database_url,
        passwords,
        database=database,
        owner=owner,
        app=app,
        temporal=temporal,
        temporal_databases=temporal_dbs,
    )
    with passwords_required(database_url, [owner, app, temporal]) as checked:
        built = Stack(
            admin_url=database_url,
            checks_passwords=checked,
            passwords=folder,
            owner_url=as_role(database_url, owner, database, folder / f"{owner}.pgpass"),
            app_url=as_role(database_url, app, database, folder / f"{app}.pgpass"),
            owner=owner,
            app=app,
            temporal=temporal,
            database=database,
            temporal_databases=temporal_dbs,
        )
        db.migrate(built.app_url, built.owner_url)
        try:
            yield built
        finally:
            with psycopg.connect(database_url, autocommit=True) as conn:
                for name in (database, *temporal_dbs):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                for role in (app, temporal, owner):
                    conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest_asyncio.fixture(loop_scope="session")
async def app_pool(stack: Stack) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(stack.app_url, min_size=1, max_size=4) as opened:
        yield opened


def _seed_case(url: str, case_id: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id)
               VALUES (%s, 'complaint', %s, 'Open', 'C-1')""",
            (case_id, case_id),
        )
        conn.execute(
            """INSERT INTO timeline_events (case_id, seq, at, kind, actor_kind, actor_id, detail)
               VALUES (%s, 0, now(), 'status', 'staff', 'desk-1', 'opened')""",
            (case_id,),
        )


ATTACKS = [
    "ALTER TABLE timeline_events DISABLE TRIGGER timeline_events_append_only",
    "ALTER TABLE timeline_events DISABLE TRIGGER ALL",
    "DROP TRIGGER timeline_events_append_only ON timeline_events",
    "DROP TRIGGER timeline_events_no_truncate ON timeline_events",
    "DROP FUNCTION timeline_events_append_only() CASCADE",
    "CREATE OR REPLACE FUNCTION timeline_events_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
    "UPDATE timeline_events SET detail = 'rewritten' WHERE case_id = %(case)s",
    "DELETE FROM timeline_events WHERE case_id = %(case)s",
    "TRUNCATE timeline_events CASCADE",
    "DROP TABLE timeline_events CASCADE",
    "ALTER TABLE timeline_events OWNER TO CURRENT_USER",
    # The trigger lets the purge through when this is on; without DELETE it opens nothing.
    "SELECT set_config('promptly.purge', 'on', false) -- then: "
    "DELETE FROM timeline_events WHERE case_id = %(case)s",
    # Replication mode skips triggers: only a superuser may set it.
    "SET session_replication_role = replica",
    "CREATE TABLE timeline_copy (LIKE timeline_events)",
    # Granting itself DELETE grants nothing (PostgreSQL warns), so the DELETE still fails.
    "GRANT DELETE ON timeline_events TO CURRENT_USER -- then: "
    "DELETE FROM timeline_events WHERE case_id = %(case)s",
]


@pytest.mark.parametrize("statement", ATTACKS)
def test_the_app_role_cannot_rewrite_the_timeline(stack: Stack, statement: str) -> None:
    case_id = f"complaint-X{uuid.uuid4().hex[:8]}"
    _seed_case(stack.app_url, case_id)
    with psycopg.connect(stack.app_url) as conn:
        *before, attack = statement.split(" -- then: ")
        for step in before:
            conn.execute(step)
        # PostgreSQL's own refusal, not the trigger's (which uses the same error code).
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied|must be owner"):
            conn.execute(attack, {"case": case_id} if "%(case)s" in attack else None)
        conn.rollback()
        rows = conn.execute(
            "SELECT seq, detail FROM timeline_events WHERE case_id = %s", (case_id,)
        ).fetchall()
    assert rows == [(0, "opened")]
    with psycopg.connect(stack.owner_url) as conn:
        triggers = conn.execute(
            """SELECT tgname, tgenabled FROM pg_trigger
                WHERE tgrelid = 'timeline_events'::regclass AND NOT tgisinternal
                ORDER BY tgname"""
        ).fetchall()
    assert triggers == [("timeline_events_append_only", "O"), ("timeline_events_no_truncate", "O")]


def test_the_app_role_owns_nothing_and_holds_only_its_declared_privileges(stack: Stack) -> None:
    with psycopg.connect(stack.owner_url) as conn:
        owners = conn.execute(
            """SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"""
        ).fetchall()
        granted = conn.execute(
            """SELECT table_name, privilege_type FROM information_schema.role_table_grants
                WHERE grantee = %s""",
            (stack.app,),
        ).fetchall()
        tables = app_tables(conn)
        role = conn.execute(
            """SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles
                WHERE rolname = %s""",
            (stack.app,),
        ).fetchone()
    assert owners == [(stack.owner,)]
    assert role == (False, False, False, False)
    held: dict[str, set[str]] = {}
    for table, privilege in granted:
        held.setdefault(table, set()).add(privilege)
    declared = {table: set(APP_TABLE_PRIVILEGES[table]) for table in tables}
    # yoyo's record of what is applied: read, for the schema check of a process that does
    # not migrate (promptly/db/schema.py).
    assert held == {**declared, "_yoyo_migration": {"SELECT"}}
    assert held["timeline_events"] == {"SELECT", "INSERT"}


def test_the_app_role_can_tell_whether_the_schema_is_current(stack: Stack) -> None:
    schema.require_current(stack.app_url)  # no SchemaNotCurrent: every migration applied


def test_every_table_has_declared_application_privileges(stack: Stack) -> None:
    """A migration that adds a table must say what the application may do with it."""
    with psycopg.connect(stack.owner_url) as conn:
        assert set(app_tables(conn)) == set(APP_TABLE_PRIVILEGES)


def test_the_app_role_cannot_migrate_or_create_tables(stack: Stack) -> None:
    with psycopg.connect(stack.app_url) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE evil (id int)")
    with pytest.raises(psycopg.Error):
        db.upgrade(stack.app_url)  # yoyo's own tables are the owner's


def test_each_role_connects_only_to_its_own_databases(stack: Stack) -> None:
    def url(role: str, database: str) -> str:
        return as_role(stack.admin_url, role, database, stack.passwords / f"{role}.pgpass")

    temporal_db = stack.temporal_databases[0]
    with psycopg.connect(url(stack.temporal, temporal_db)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (stack.temporal,)
    for role, database in (
        (stack.app, temporal_db),
        (stack.owner, stack.temporal_databases[1]),
        (stack.temporal, stack.database),
    ):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(url(role, database)).close()


def test_no_role_logs_in_without_its_generated_password(stack: Stack) -> None:
    if not stack.checks_passwords:
        pytest.skip("the test server's pg_hba.conf is not a local file")
    for role in (stack.app, stack.owner, stack.temporal):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(as_role(stack.admin_url, role, stack.database)).close()
        wrong = stack.passwords / f"wrong-{role}.pgpass"
        replace_private(wrong, pgpass_line(role, "not-the-password"))
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(as_role(stack.admin_url, role, stack.database, wrong)).close()
    with psycopg.connect(stack.app_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (stack.app,)


def test_a_rotation_replaces_the_password_and_keeps_everything_else(stack: Stack) -> None:
    """What docs/security.md prescribes: new passwords in the files, `db roles` again, then the
    migrations (nothing pending: the grants again); connections read the passfile afresh."""

    def verifier(role: str) -> str:
        with psycopg.connect(stack.admin_url) as conn:
            row = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
            ).fetchone()
        assert row is not None
        return str(row[0])

    before = verifier(stack.app)
    assert before.startswith("SCRAM-SHA-256$")  # a verifier, never the password itself
    old_app = stack.passwords / f"old-{stack.app}.pgpass"
    replace_private(old_app, (stack.passwords / f"{stack.app}.pgpass").read_text())
    passwords = {role: secrets.token_urlsafe(32) for role in (stack.owner, stack.app)}
    for role, password in passwords.items():
        replace_private(stack.passwords / f"{role}.pgpass", pgpass_line(role, password))
    provision_roles(
        stack.admin_url,
        passwords,
        database=stack.database,
        owner=stack.owner,
        app=stack.app,
        temporal=None,
    )
    assert verifier(stack.app) != before
    db.migrate(stack.app_url, stack.owner_url)
    with psycopg.connect(stack.app_url) as conn:
        assert conn.execute("SELECT count(*) >= 0 FROM timeline_events").fetchone() == (True,)
    if stack.checks_passwords:
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(as_role(stack.admin_url, stack.app, stack.database, old_app)).close()


async def test_the_app_path_works_as_the_app_role(
    env: WorkflowEnvironment, stack: Stack, app_pool: AsyncConnectionPool
) -> None:
    """A real appointment (case row, timeline, message ledger and outbox), a staff task, and
    the retention purge that deletes the timeline through the owner's function."""
    settings = Settings(
        database_url=stack.app_url,
        task_queue=f"promptly-roles-{uuid.uuid4().hex[:8]}",
        link_secret=TEST_LINK_SECRET,
    )
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(days=5), 2, 10, "Europe/Warsaw")
    request = appointment(start)
    async with create_worker(env.client, settings, pool=app_pool):
        handle = await book(env.client, request, settings, booked_at)
        await env.sleep(timedelta(minutes=5))
        view = await handle.execute_update(
            AppointmentWorkflow.cancel, CancelInput(reason="ill", actor=CLIENT)
        )
        assert view.status is AppointmentStatus.CANCELLED
        final = await handle.result()
    case_id = request.workflow_id
    sent = await messages(app_pool, case_id)
    assert sent and sent[0]["template"] == "confirmation"
    assert sent[0]["status"] == "queued_in_outbox" and "/c/" in sent[0]["body"]
    stored = await timeline_rows(app_pool, case_id)
    assert [row["detail"] for row in stored] == [e.detail for e in final.timeline]

    task = await ActivityEnvironment().run(
        TaskActivities(app_pool).create_task,
        CreateTaskRequest(
            idempotency_key=f"roles-{case_id}",
            case_id=case_id,
            kind=TaskKind.CALL_CLIENT,
            assignee=RecipientRole.FRONT_DESK,
            title="Call the client",
            due_at=datetime.now(UTC),
        ),
    )
    assert [t["id"] for t in await tasks(app_pool, case_id)] == [task.task_id]

    # The purge, on the app role's connection, removes the case with its whole timeline.
    await _close_long_ago(app_pool, case_id)
    purge = ArchiveActivities(None, app_pool, timedelta(days=395))  # type: ignore[arg-type]
    result = await ActivityEnvironment().run(purge.purge_expired, PurgeInput(now=datetime.now(UTC)))
    assert result.cases >= 1 and result.timeline_events >= len(stored)
    assert await timeline_rows(app_pool, case_id) == []
    # The billing record stays, append-only for this role, without the reason the client gave:
    # blanked through the owner's function too.
    async with app_pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT outcome, reason FROM billing_outcomes WHERE case_id = %s", (case_id,)
        )
        assert await cursor.fetchall() == [("cancelled_free", "")]
    assert result.billing_reasons >= 1
    # Its messages too, with the live body the outbox still held for them, and the client
    # it leaves without a case.
    assert await messages(app_pool, case_id) == []
    assert result.clients >= 1
    async with app_pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT 1 FROM clients WHERE client_id = %s", (request.client.id,)
        )
        assert await cursor.fetchone() is None


async def _close_long_ago(pool: AsyncConnectionPool, case_id: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE cases SET updated_at = now() - interval '800 days' WHERE case_id = %s",
            (case_id,),
        )
        await conn.execute(
            """UPDATE clients SET updated_at = now() - interval '800 days'
                WHERE client_id = (SELECT client_id FROM cases WHERE case_id = %s)""",
            (case_id,),
        )


def test_the_app_role_blanks_a_billing_reason_only_once_its_case_is_gone(stack: Stack) -> None:
    case_id = f"appointment-X{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.app_url) as conn:
        conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id)
               VALUES (%s, 'appointment', %s, 'Cancelled', 'C-1')""",
            (case_id, case_id),
        )
        conn.execute(
            """INSERT INTO billing_outcomes (idempotency_key, case_id, appointment_id, client_id,
                   outcome, decided_by_kind, decided_by_id, reason, decided_at)
               VALUES (%s, %s, %s, 'C-1', 'late_cancel', 'client', 'C-1', 'ill', now())""",
            (case_id, case_id, case_id),
        )
        conn.commit()
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("UPDATE billing_outcomes SET reason = '' WHERE case_id = %s", (case_id,))
        conn.rollback()
        # The case is still there: the owner's function leaves its record as it is.
        assert conn.execute("SELECT purge_billing_reasons(%s)", ([case_id],)).fetchone() == (0,)
        conn.execute("DELETE FROM cases WHERE case_id = %s", (case_id,))
        assert conn.execute("SELECT purge_billing_reasons(%s)", ([case_id],)).fetchone() == (1,)
        row = conn.execute(
            "SELECT outcome, reason FROM billing_outcomes WHERE case_id = %s", (case_id,)
        ).fetchone()
    assert row == ("late_cancel", "")


@pytest.mark.parametrize("function", ["purge_timeline_events", "purge_billing_reasons"])
def test_the_purge_functions_are_not_open_to_every_role(stack: Stack, function: str) -> None:
    rows: list[Any]
    with psycopg.connect(stack.owner_url) as conn:
        rows = conn.execute(
            """SELECT grantee FROM information_schema.routine_privileges
                WHERE routine_name = %s ORDER BY grantee""",
            (function,),
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted([stack.app, stack.owner])
