"""`promptly history replay` before a deploy: the running cases' histories, fetched from
Temporal, replay on the new code, and one that would not is named and stops the deploy (exit 1).

Visibility lists the running cases, so this runs on the dev server (the time-skipping server
has no list)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

# The sandbox re-imports this module for the workflow class defined below.
with workflow.unsafe.imports_passed_through():
    import asyncio
    from datetime import UTC, datetime

    import pytest
    from psycopg_pool import AsyncConnectionPool
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowHandle
    from temporalio.testing import WorkflowEnvironment
    from typer.testing import CliRunner, Result

    from promptly import worker as promptly_worker
    from promptly.cli.main import app
    from promptly.config import Settings
    from promptly.domain.complaints.models import (
        ComplaintContinuation,
        ComplaintRequest,
        ComplaintView,
    )
    from promptly.domain.ui_views import runs_query
    from promptly.services.complaints import file_complaint
    from promptly.worker import WORKFLOWS, create_worker
    from promptly.workflows.complaint import ComplaintWorkflow
    from tests.complaint_helpers import complaint
    from tests.helpers import until


# A deliberately incompatible complaint workflow under the real type name: it waits a minute
# before anything else, so its first command (a timer) is not what the running case recorded.
@workflow.defn(name="ComplaintWorkflow")
class ChangedComplaintWorkflow(ComplaintWorkflow):
    @workflow.run
    async def run(self, request: ComplaintRequest | ComplaintContinuation) -> ComplaintView:
        await workflow.sleep(timedelta(minutes=1))
        return await super().run(request)


async def _replay(dev_env: WorkflowEnvironment, settings: Settings, since: datetime) -> Result:
    """`promptly history replay --since …` against the test servers, as an operator runs it."""
    env = {
        "PROMPTLY_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_TASK_QUEUE": settings.task_queue,
    }
    args = ["history", "replay", "--since", since.strftime("%Y-%m-%dT%H:%M:%S")]
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, args, env=env))


async def _running_case(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    """A complaint left open, its first workflow task done (so its history has commands)."""
    async with create_worker(dev_env.client, settings, pool=pool):
        handle = await file_complaint(dev_env.client, complaint(), settings)

        async def task_done() -> bool:
            history = await handle.fetch_history()
            return any(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events
            )

        await until(task_done, "the complaint's first workflow task")
    query = runs_query(["ComplaintWorkflow"], running=True) + f" AND WorkflowId = '{handle.id}'"

    async def listed() -> bool:
        return (await dev_env.client.count_workflows(query)).count == 1

    await until(listed, "the running complaint in visibility")
    return handle


async def test_the_replay_before_a_deploy_takes_running_cases_and_names_one_that_would_break(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --since: cases started from the next whole second on (the option reads seconds), so the
    # cases earlier tests left running on the shared server are not counted.
    since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    await asyncio.sleep((since - datetime.now(UTC)).total_seconds())
    handle = await _running_case(dev_env, settings, pool)
    try:
        replayed = await _replay(dev_env, settings, since)
        assert replayed.exit_code == 0, replayed.output
        assert replayed.stdout.splitlines() == ["replayed 1 running, 0 archived, 0 failed"]

        # The same case against a workflow change that breaks determinism: named, exit 1.
        changed = [ChangedComplaintWorkflow, *(w for w in WORKFLOWS if w is not ComplaintWorkflow)]
        monkeypatch.setattr(promptly_worker, "WORKFLOWS", changed)
        broken = await _replay(dev_env, settings, since)
        assert broken.exit_code == 1, broken.output
        assert broken.stdout.splitlines() == ["replayed 1 running, 0 archived, 1 failed"]
        [said] = broken.stderr.splitlines()
        assert said.startswith(f"running {handle.id} {handle.result_run_id}: ")
        assert "NondeterminismError" in said, said
    finally:
        await handle.terminate("test over")
