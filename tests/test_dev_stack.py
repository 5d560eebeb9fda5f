"""`promptly dev` on a data dir made by older code: the Temporal database keeps the search
attributes it was created with, so the stack registers Promptly's own on every start."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from promptly.dev.stack import register_dev_search_attributes
from promptly.services.setup import SEARCH_ATTRIBUTES


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
