"""Worker tuning settings (docs/performance.md): the unsandboxed runner still runs a case to
the reminder, the pool matches the activity concurrency, and the bench's own arithmetic."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.common import percentile
from bench.profile import top_frames
from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentStatus
from promptly.services.appointments import book
from promptly.worker import create_worker, worker_runner
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import appointment, close_to, end_workflows, messages, next_local


def test_the_pool_holds_a_connection_per_concurrent_activity_unless_set() -> None:
    assert Settings(max_concurrent_activities=32).pool_size() == 32
    assert Settings(max_concurrent_activities=32, database_pool_size=8).pool_size() == 8


def test_the_sandbox_is_on_unless_turned_off() -> None:
    assert isinstance(worker_runner(Settings()), SandboxedWorkflowRunner)
    assert isinstance(worker_runner(Settings(workflow_sandbox=False)), UnsandboxedWorkflowRunner)


async def test_an_unsandboxed_worker_sends_the_reminder_48h_before(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    unsandboxed = settings.model_copy(
        update={"workflow_sandbox": False, "task_queue": f"unsandboxed-{uuid.uuid4().hex[:8]}"}
    )
    booked_at = await env.get_current_time()
    start = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
    request = appointment(start)
    async with create_worker(env.client, unsandboxed, pool=pool):
        handle = await book(env.client, request, unsandboxed, booked_at)
        await env.sleep(start - booked_at - timedelta(hours=47))
        view = await handle.query(AppointmentWorkflow.status)
        await end_workflows(env, handle.id)
    assert view.status is AppointmentStatus.BOOKED and view.reminder_sent
    to_client = [
        m for m in await messages(pool, request.workflow_id) if m["recipient_role"] == "client"
    ]
    # No provider key in tests: both wait in the outbox (never called "sent").
    assert [(m["template"], m["status"]) for m in to_client] == [
        ("confirmation", "queued_in_outbox"),
        ("reminder", "queued_in_outbox"),
    ]
    assert close_to(to_client[1]["requested_at"], start - timedelta(hours=48))


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_top_frames_leaves_out_idle_and_framing_samples(tmp_path: Path) -> None:
    collapsed = tmp_path / "worker.collapsed"
    collapsed.write_text(
        "process 1:MainThread;run (asyncio/runners.py:1);select (selectors.py:2) 60\n"
        "process 1:MainThread;run (asyncio/runners.py:1);"
        "EpollSelector.select (selectors.py:3) 50\n"
        "process 1:MainThread;run (asyncio/runners.py:1);"
        "send_message (/x/promptly/activities/messaging.py:9);"
        "_exec_command (/x/site-packages/psycopg/_connection_base.py:4) 30\n"
        "process 1:MainThread;run (asyncio/runners.py:1);"
        "_run_code (/x/site-packages/temporalio/worker/workflow_sandbox/_runner.py:5) 10\n"
    )
    frames = top_frames(collapsed)
    assert frames["busy_share"] == round(100 / 150, 3)
    assert frames["self"][:2] == [
        ("select (selectors.py)", 0.6),
        ("_exec_command (psycopg/_connection_base.py)", 0.3),
    ]
    assert ("send_message (promptly/activities/messaging.py)", 0.3) in frames["inclusive"]
    assert not any("asyncio/" in name for name, _ in frames["inclusive"])
