"""`promptly dev` on a data dir made by older code: the Temporal database keeps the search
attributes it was created with, so the stack registers Promptly's own on every start. And the
stack as `make run` starts it keeps its data private and client data encrypted."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeScheduleRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from promptly.codec import ENCODING
from promptly.dev.stack import register_dev_search_attributes
from promptly.services.setup import ARCHIVE_SCHEDULE_ID, SEARCH_ATTRIBUTES
from tests.browser import free_port
from tests.conftest import installed_binary


async def test_a_restarted_dev_stack_adds_the_search_attributes_its_database_lacks(
    dev_env: WorkflowEnvironment,
) -> None:
    # A namespace without Promptly's attributes stands for a database created before them.
    namespace = f"old-data-{uuid.uuid4().hex[:8]}"
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )
    config = dev_env.client.config()
    config["namespace"] = namespace
    client = Client(**config)

    async def listed() -> set[str]:
        answer = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        return set(answer.custom_attributes)

    for _ in range(100):  # the new namespace reaches the server's cache
        try:
            before = await listed()
            break
        except RPCError:
            await asyncio.sleep(0.2)
    assert "NeedsAttention" not in before

    added = await register_dev_search_attributes(client)
    assert "NeedsAttention" in added
    assert set(SEARCH_ATTRIBUTES) <= await listed()
    assert await register_dev_search_attributes(client) == []  # the next start: nothing to add


def test_the_dev_stack_keeps_its_data_private_and_encrypts_client_data(tmp_path: Path) -> None:
    """`promptly dev` as `make run` starts it, with nothing set: its data folder (Temporal's
    database with client data, the logs) is the user's alone, client data reaches Temporal
    encrypted, and the ready block says where a codec session opens to read it in the UI."""
    ports = [free_port() for _ in range(4)]
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTLY_", "TEMPORAL_"))}
    env["HOME"] = str(tmp_path)
    stack = subprocess.Popen(
        [installed_binary("promptly"), "dev"]
        + ["--port", str(ports[0]), "--ui-port", str(ports[1]), "--api-port", str(ports[2])]
        + ["--sms-port", str(ports[3]), "--data", str(data)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert stack.stdout is not None
    said: list[str] = []
    try:
        while not said or not said[-1].startswith("Ctrl-C stops everything"):
            line = stack.stdout.readline()  # the stack prints its ready block within minutes
            assert line, f"promptly dev ended: {''.join(said)}"
            said.append(line)
        login = f"http://localhost:{ports[2]}/codec/login"
        assert f"encrypted in Temporal; to read it in the UI, open {login} with the API key" in (
            " ".join("".join(said).split())
        )
        assert httpx.get(login).status_code == 200  # the codec server the UI is pointed at

        # Root's stack leaves others PostgreSQL's user's traversal alone (see private_data).
        assert stat.S_IMODE(data.stat().st_mode) == (0o711 if os.geteuid() == 0 else 0o700)
        assert (data / "temporal" / "temporal.db").is_file()
        others = stat.S_IRWXG | stat.S_IRWXO
        readable = [
            f"{path} {stat.S_IMODE(path.stat().st_mode):o}"
            for path in data.iterdir()
            if path.name != "pg" and path.stat().st_mode & others
        ] + [
            f"{path} {stat.S_IMODE(path.stat().st_mode):o}"
            for path in data.rglob("*")
            if path.is_file() and path.stat().st_mode & others
        ]
        assert readable == []

        async def archive_input() -> bytes:
            plain = await Client.connect(f"localhost:{ports[0]}")  # no codec: what is stored
            described = await plain.workflow_service.describe_schedule(
                DescribeScheduleRequest(namespace="default", schedule_id=ARCHIVE_SCHEDULE_ID)
            )
            [payload] = described.schedule.action.start_workflow.input.payloads
            return payload.metadata["encoding"]

        assert asyncio.run(archive_input()) == ENCODING
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
