"""A process killed while it migrates never stops the next start (promptly/db)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from yoyo import read_migrations

from promptly import db
from tests.conftest import installed_binary
from tests.databases import partly_migrated

# The child migrates; it blocks inside the migration, on a table lock the test holds.
CHILD = "import sys; from promptly import db; db.upgrade(sys.argv[1])"


@pytest.fixture
def half_migrated(database_url: str) -> Iterator[str]:
    """A new database with the migrations up to 0005 applied and the rest pending."""
    with partly_migrated(
        database_url, "promptly_lock", lambda migration: migration < "0006"
    ) as url:
        yield url


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def test_a_start_killed_inside_the_migration_window_does_not_wedge_the_next(
    half_migrated: str,
) -> None:
    url = half_migrated
    pending = sorted(m.id for m in read_migrations(str(db.MIGRATIONS)) if m.id >= "0006")
    assert pending, "the test needs a migration after 0005 to block in"
    # Hold the table 0006 alters, so the child stops inside its migration with the lock held.
    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        with psycopg.connect(url, autocommit=True) as watcher:
            # Wait until the child's migration session is stuck on the table lock.
            for _ in range(200):
                waiting = watcher.execute(
                    """SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock'
                          AND pid <> pg_backend_pid()"""
                ).fetchone()
                if waiting and waiting[0] >= 1:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the child never reached its migration")
            held = watcher.execute(
                """SELECT count(*) FROM pg_locks
                    WHERE locktype = 'advisory' AND granted
                      AND ((classid::bigint << 32) | objid::bigint) = %s""",
                (db.MIGRATION_LOCK_KEY,),
            ).fetchone()
            assert held == (1,), "the child holds the migration lock while it waits"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        blocker.rollback()
        blocker.close()

    began = time.monotonic()
    applied_now = db.upgrade(url)
    took = time.monotonic() - began

    assert took < 5, f"the next start waited {took:.1f}s"
    assert applied_now == len(pending), "the killed start's half migration was rolled back"
    assert [m for m in _applied(url) if m >= "0006"] == pending
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """SELECT count(*) FROM information_schema.columns
                WHERE table_name = 'webhook_deliveries' AND column_name = 'requeued_at'"""
        ).fetchone()
    assert columns == (1,)
    assert db.upgrade(url) == 0


def test_concurrent_upgrades_take_turns(database_url: str) -> None:
    """Two starts at once: one applies, the other finds nothing left (already migrated db)."""
    with db.migration_lock(database_url):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from promptly import db; "
                "db.MIGRATION_LOCK_WAIT = __import__('datetime').timedelta(seconds=1); "
                "db.upgrade(sys.argv[1])",
                database_url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert child.returncode != 0, "a second upgrade waits for the lock holder"
    assert "lock timeout" in child.stderr.lower()
    assert db.upgrade(database_url) == 0


def test_a_migration_blocked_by_a_long_transaction_fails_fast_and_leaves_nothing_half_done(
    half_migrated: str,
) -> None:
    """An ALTER TABLE waiting behind a long transaction would queue every live query on that
    table behind it: the migration gives up after TABLE_LOCK_WAIT, rolled back whole."""
    url = half_migrated
    before = _applied(url)
    blocker = psycopg.connect(url)
    blocker.execute("SELECT count(*) FROM webhook_deliveries")  # a long read, still open
    # Without a lock timeout the upgrade would wait for ever: end the read after 30 s.
    release = threading.Timer(30, blocker.rollback)
    release.start()
    env = {**os.environ, "PROMPTLY_DATABASE_URL": url}
    env.pop("PROMPTLY_MIGRATION_DATABASE_URL", None)
    began = time.monotonic()
    try:
        ran = subprocess.run(
            [installed_binary("promptly"), "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        release.cancel()
        blocker.rollback()
        blocker.close()
    took = time.monotonic() - began

    assert ran.returncode == 1, ran.stderr
    said = ran.stderr.strip().splitlines()
    assert len(said) == 1, ran.stderr
    assert "migration 0006_webhook_redelivery waited more than 5s for a table lock" in said[0]
    assert "rolled back whole" in said[0]
    assert "Run `promptly db upgrade` again" in said[0]
    assert took < 25, f"the upgrade waited {took:.1f}s"
    assert _applied(url) == before  # nothing of 0006 or later
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """SELECT count(*) FROM information_schema.columns
                WHERE table_name = 'webhook_deliveries' AND column_name = 'requeued_at'"""
        ).fetchone()
    assert columns == (0,)
    assert db.upgrade(url) > 0  # run again once the transaction ended: it goes through
