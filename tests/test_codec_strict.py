"""Strict codec: a payload sent to Temporal around Promptly (no encryption) is refused.

With an open (or leaked) Temporal frontend, anyone could start a case or send an update with
a plain payload. A worker whose codec is strict refuses to decode it: the case never runs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from promptly.codec import CodecKeyError, EncryptionCodec
from promptly.config import Settings
from promptly.worker import create_worker, data_converter
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import appointment


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_strict_codec_refuses_plain_payloads_and_reads_its_own() -> None:
    codec = EncryptionCodec({"k": os.urandom(32)}, "k", strict=True)
    with pytest.raises(CodecKeyError, match="unencrypted payload refused"):
        await codec.decode([plain("forged")])
    sealed = await codec.encode([plain("ours")])
    assert await codec.decode(sealed) == [plain("ours")]


def test_strict_needs_keys() -> None:
    with pytest.raises(ValueError, match="codec_strict needs codec_keys"):
        Settings(codec_strict=True)


async def test_a_case_started_around_the_api_without_encryption_never_runs(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    strict = settings.model_copy(
        update={"codec_keys": {"k": SecretStr(key)}, "codec_key_id": "k", "codec_strict": True}
    )
    service = dev_env.client.service_client
    namespace = dev_env.client.namespace
    strict_client = Client(service, namespace=namespace, data_converter=data_converter(strict))
    plain_client = Client(service, namespace=namespace, data_converter=pydantic_data_converter)
    request = appointment(datetime.now(UTC) + timedelta(days=10))
    workflow_id = f"appointment-{request.appointment_id}-{uuid.uuid4().hex[:6]}"
    async with create_worker(strict_client, strict, pool=pool):
        # The attacker talks to the frontend directly, with no codec.
        handle = await plain_client.start_workflow(
            AppointmentWorkflow.run, request, id=workflow_id, task_queue=strict.task_queue
        )
        try:
            failure = None
            for _ in range(100):
                async for event in handle.fetch_history_events():
                    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                        failure = event.workflow_task_failed_event_attributes.failure
                if failure is not None:
                    break
                await asyncio.sleep(0.1)
            assert failure is not None, "the worker ran the case"
            assert failure.application_failure_info.type == "CodecKeyError"
            # The failure itself is encrypted; with the keys it reads:
            error = await strict_client.data_converter.decode_failure(failure)
            assert "unencrypted payload refused" in str(error)
            # Nothing of the case happened: no message was written for it.
            async with pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT count(*) FROM messages WHERE case_id = %s", (workflow_id,)
                )
                row = await cursor.fetchone()
            assert row == (0,)
        finally:
            await handle.terminate("test over")
