"""A process that does not migrate refuses a database lacking this release's migrations, and
/health says so (promptly/db/schema.py); one applied by a newer release is fine."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly import db
from promptly.api.app import create_app
from promptly.config import Settings
from promptly.db import schema
from tests.conftest import installed_binary
from tests.databases import on_database, partly_migrated

LAST = schema.packaged_migrations()[-1]


@pytest.fixture
def behind(database_url: str) -> Iterator[str]:
    """A database with every packaged migration applied but the last (an image newer than
    the schema: `db-setup` not run yet)."""
    with partly_migrated(
        database_url, "promptly_behind", lambda migration: migration != LAST
    ) as url:
        yield url


def _promptly(
    args: list[str], url: str, settings: Settings, temporal: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PROMPTLY_DATABASE_URL": url,
        "PROMPTLY_MIGRATE_AT_START": "false",
        "PROMPTLY_LINK_SECRET": settings.master_secret(),
        "PROMPTLY_PLAINTEXT_PAYLOADS": "true",  # the refusal under test comes after this one
        "PROMPTLY_TEMPORAL_ADDRESS": temporal,
        "PROMPTLY_LOG_FORMAT": "text",
    }
    return subprocess.run(
        [installed_binary("promptly"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("process", ["worker", "api"])
def test_a_process_that_does_not_migrate_refuses_a_schema_behind_the_release(
    behind: str, settings: Settings, dev_env: WorkflowEnvironment, process: str
) -> None:
    command = ["worker"] if process == "worker" else ["api", "--port", str(_free_port())]
    temporal = dev_env.client.service_client.config.target_host
    ran = _promptly(command, behind, settings, temporal)
    assert ran.returncode == 2, ran.stderr
    said = ran.stderr.strip().splitlines()
    assert len(said) == 1, ran.stderr
    assert f"pending: {LAST}" in said[0]
    assert "run `promptly db upgrade`" in said[0]


def test_a_migration_from_a_newer_release_does_not_refuse(behind: str) -> None:
    db.upgrade(behind)
    with psycopg.connect(behind, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)"
            " VALUES ('newer', '9999_from_a_newer_release', now())"
        )
    schema.require_current(behind)  # no SchemaNotCurrent


def test_a_database_never_migrated_has_every_migration_pending(database_url: str) -> None:
    with psycopg.connect(on_database(database_url, "postgres")) as conn:
        assert schema.pending_migrations(conn) == list(schema.packaged_migrations())
    with pytest.raises(schema.SchemaNotCurrent, match="0001_initial"):
        schema.require_current(on_database(database_url, "postgres"))


@pytest.fixture
async def behind_pool(behind: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(behind, min_size=1, max_size=2) as opened:
        yield opened


async def health(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> httpx.Response:
    """`GET /health` of an app on `pool`'s database."""
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://promptly.test"
        ) as http,
    ):
        return await http.get("/health")


async def test_health_is_503_naming_the_pending_migration(
    dev_env: WorkflowEnvironment, settings: Settings, behind_pool: AsyncConnectionPool
) -> None:
    response = await health(dev_env, settings, behind_pool)
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["postgres"] == {"ok": True, "detail": "reachable"}
    assert body["schema"] == f"pending: {LAST}"


async def test_health_tells_a_role_that_may_not_read_the_migrations_from_a_database_down(
    dev_env: WorkflowEnvironment, settings: Settings, database_url: str
) -> None:
    role = f"promptly_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'probe'")
    base, _, query = database_url.partition("://")[2].partition("?")
    host_and_db = base.rsplit("@", 1)[-1]
    as_role = f"postgresql://{role}:probe@{host_and_db}" + (f"?{query}" if query else "")
    try:
        async with AsyncConnectionPool(as_role, min_size=1, max_size=1) as pool:
            response = await health(dev_env, settings, pool)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    assert response.status_code == 503
    body = response.json()
    assert body["postgres"] == {"ok": True, "detail": "reachable"}
    assert body["schema"].startswith("unreadable: cannot read the applied migrations")
    assert "promptly db upgrade" in body["schema"]
