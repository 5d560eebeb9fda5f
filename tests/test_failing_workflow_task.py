"""An update the case's workflow cannot take because its workflow task fails in the worker (a
bug, a search attribute Temporal lacks) is one sentence for the desk, not a traceback."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import Settings
from promptly.services.errors import WORKFLOW_TASK_FAILING, ServiceError, temporal_errors


@workflow.defn(name="AppointmentWorkflow", sandboxed=False)
class BrokenAppointment:
    """An appointment whose worker fails every task that takes an update."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update(name="check_in")
    async def check_in(self, _: dict[str, object]) -> None:
        raise RuntimeError("BadSearchAttributes: NeedsAttention is not a valid search attribute")


async def test_the_cli_says_the_workflow_fails_in_the_worker(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    case_id = f"A-{uuid.uuid4().hex[:8]}"
    env = {
        "PROMPTLY_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_TASK_QUEUE": settings.task_queue,
    }
    async with Worker(
        dev_env.client, task_queue=settings.task_queue, workflows=[BrokenAppointment]
    ):
        await dev_env.client.start_workflow(
            "AppointmentWorkflow", id=f"appointment-{case_id}", task_queue=settings.task_queue
        )
        done = await asyncio.to_thread(
            lambda: CliRunner().invoke(app, ["check-in", case_id], env=env)
        )
    assert done.exit_code == 1, done.output
    assert not isinstance(done.exception, RPCError) and "Traceback" not in done.output
    assert WORKFLOW_TASK_FAILING in " ".join(done.stderr.split())
    assert "worker log" in done.stderr


@pytest.mark.parametrize(
    "message",
    [
        "Unable to perform workflow execution update due to unexpected workflow task failure.",
        "Unable to perform workflow execution update due to Workflow Task in failed state.",
    ],
)
def test_the_api_answers_503_saying_to_check_the_worker_log(message: str) -> None:
    with pytest.raises(ServiceError) as refused, temporal_errors("no appointment A-1"):
        raise RPCError(message, RPCStatusCode.FAILED_PRECONDITION, b"")
    assert refused.value.status == 503
    assert refused.value.reason == WORKFLOW_TASK_FAILING
    assert "worker log" in refused.value.reason and refused.value.internal == message
