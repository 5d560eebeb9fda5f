"""A namespace without the search attributes the workflows set (a release deployed before
`promptly setup`): every case that sets one stops on a failing workflow task. /health says so,
and the lists name the missing attributes and the remedy instead of blaming the filter."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from promptly.api.app import SearchAttributeCheck
from promptly.cli.main import app as cli_app
from promptly.client import data_converter
from promptly.config import Settings
from promptly.services.setup import SEARCH_ATTRIBUTES, check_namespace
from tests.api_support import STAFF_KEY, serving, with_api_keys

ABSENT = "NeedsAttention"


@pytest_asyncio.fixture(loop_scope="session")
async def unprepared(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Client]:
    """A client of a new namespace with every search attribute but NeedsAttention."""
    namespace = f"promptly-sa-{uuid.uuid4().hex[:8]}"
    await check_namespace(dev_env.client, namespace, create_with_retention=timedelta(days=1))
    present = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name != ABSENT}
    await dev_env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=namespace, search_attributes=present)
    )
    yield await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=namespace,
        data_converter=data_converter(settings),
    )


async def test_health_and_the_lists_say_search_attributes_are_missing(
    unprepared: Client,
    settings: Settings,
    pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # While some are missing, each probe asks again: `promptly setup` shows at once.
    monkeypatch.setattr(SearchAttributeCheck, "MISSING_FOR", 0.0)
    async with serving(unprepared, with_api_keys(settings), pool) as http:
        health = await http.get("/health")
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["ok"] is False
        assert body["temporal"] == {"ok": True, "detail": "reachable"}
        assert body["postgres"] == {"ok": True, "detail": "reachable"}
        assert body["search_attributes"] == f"missing: {ABSENT} (run `promptly setup`)"

        listed = await http.get("/appointments?needs_attention=true", headers=STAFF_KEY)
        assert listed.status_code == 503, listed.text
        assert listed.json()["code"] == "unavailable.search_attributes_missing"
        assert ABSENT in listed.json()["reason"]
        assert "promptly setup" in listed.json()["reason"]
        assert listed.json()["errors"] == []

        await unprepared.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=unprepared.namespace,
                search_attributes={ABSENT: SEARCH_ATTRIBUTES[ABSENT]},
            )
        )
        listed = await http.get("/appointments?needs_attention=true", headers=STAFF_KEY)
        assert listed.status_code == 200, listed.text
        health = await http.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["search_attributes"] == "registered"


async def test_list_attention_says_search_attributes_are_missing_in_one_line(
    unprepared: Client, settings: Settings
) -> None:
    env = {
        "PROMPTLY_TEMPORAL_ADDRESS": unprepared.service_client.config.target_host,
        "PROMPTLY_TEMPORAL_NAMESPACE": unprepared.namespace,
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_TASK_QUEUE": settings.task_queue,
    }
    result = await asyncio.to_thread(
        lambda: CliRunner().invoke(cli_app, ["list", "--attention"], env=env)
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert ABSENT in lines[0] and "run `promptly setup`" in lines[0]
    assert unprepared.namespace in lines[0]


async def test_a_worker_does_not_start_on_a_namespace_without_them(
    unprepared: Client, database_url: str
) -> None:
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")
    } | {
        "PROMPTLY_DATABASE_URL": database_url,
        "PROMPTLY_TEMPORAL_ADDRESS": unprepared.service_client.config.target_host,
        "PROMPTLY_TEMPORAL_NAMESPACE": unprepared.namespace,
        "PROMPTLY_TASK_QUEUE": f"promptly-sa-{uuid.uuid4().hex[:8]}",
        "PROMPTLY_PLAINTEXT_PAYLOADS": "true",  # no codec keys in this test
    }
    ended = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from promptly.worker import main; main()"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ended.returncode == 1, ended.stderr
    assert "Traceback" not in ended.stderr
    assert ended.stderr.strip().splitlines()[-1] == (
        f"promptly: search attributes not registered on namespace {unprepared.namespace!r}: "
        f"{ABSENT} (run `promptly setup`): every case that sets one would stop on a failing "
        "workflow task"
    )
