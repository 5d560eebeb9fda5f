"""`promptly demo` and `promptly demo --clean`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import typer
from psycopg_pool import AsyncConnectionPool
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from promptly.domain.demo import DEMO_CASE_ID_LIKE, is_demo_case

DEMO_WORKFLOW_TYPES = ("AppointmentWorkflow", "SurveyWorkflow")
# Temporal deletes in the background (a case whose survey it started can take most of a
# minute): how long --clean waits for its deletions to finish.
DELETION_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Cleaned:
    terminated: list[str]
    deleted: list[str]
    tasks_closed: int
    still_deleting: list[str]  # asked to delete, not gone within DELETION_WAIT_SECONDS


async def clean(client: Client, pool: AsyncConnectionPool) -> Cleaned:
    """Remove every demo case from Temporal (terminated if open, then deleted) and close the
    staff tasks they left. Their timeline rows stay: the record is append-only.

    Returns once the deletions have finished (or DELETION_WAIT_SECONDS passed), so what it
    counts is gone; an execution visibility still lists but that is deleted already is not
    counted again."""
    query = " OR ".join(f"WorkflowType = '{name}'" for name in DEMO_WORKFLOW_TYPES)
    terminated: list[str] = []
    deleted: list[str] = []
    runs: list[WorkflowExecution] = []
    async for execution in client.list_workflows(query):
        if not is_demo_case(execution.id):
            continue
        run = WorkflowExecution(workflow_id=execution.id, run_id=execution.run_id)
        try:
            if execution.status is WorkflowExecutionStatus.RUNNING:
                await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate(
                    reason="promptly demo --clean"
                )
                terminated.append(execution.id)
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(namespace=client.namespace, workflow_execution=run)
            )
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            continue  # deleted by an earlier --clean; visibility has not caught up
        deleted.append(execution.id)
        runs.append(run)
    still_deleting = await _until_deleted(client, runs)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """UPDATE staff_tasks
                  SET status = 'done', outcome = 'demo_cleaned', closed_by = 'system:demo',
                      closed_at = now()
                WHERE status = 'open' AND case_id LIKE %s""",
            (DEMO_CASE_ID_LIKE,),
        )
        closed = cursor.rowcount
    return Cleaned(
        terminated=terminated,
        deleted=sorted(set(deleted)),
        tasks_closed=closed,
        still_deleting=sorted(set(still_deleting)),
    )


async def _until_deleted(client: Client, runs: list[WorkflowExecution]) -> list[str]:
    """Wait until Temporal no longer knows these runs; the workflow ids of those it still does
    after DELETION_WAIT_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELETION_WAIT_SECONDS
    waiting = list(runs)
    while waiting and loop.time() < deadline:
        waiting = [run for run in waiting if not await _deleted(client, run)]
        if waiting:
            await asyncio.sleep(0.2)
    return [run.workflow_id for run in waiting]


async def _deleted(client: Client, run: WorkflowExecution) -> bool:
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    try:
        await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


def demo_command(
    time_scale: Annotated[float, typer.Option(help="policy durations × this")] = 0.002,
    clean_up: Annotated[
        bool,
        typer.Option(
            "--clean", help="remove every demo case (Temporal) and close their staff tasks"
        ),
    ] = False,
) -> None:
    """Book four sample appointments on a compressed-time worker and play them out (about
    9 minutes); needs `make run` going. Demo cases have DEMO- ids and stay out of the staff
    inbox and the QA report."""
    from promptly.cli.common import settings
    from promptly.client import make_client, open_pool
    from promptly.dev import demo

    config = settings()
    if clean_up:

        async def cleaning() -> Cleaned:
            client = await make_client(config)  # first: an unreachable Temporal says so
            async with open_pool(config) as pool:
                return await clean(client, pool)

        done = asyncio.run(cleaning())
        waiting = (
            f"; still being deleted by Temporal: {len(done.still_deleting)}"
            if done.still_deleting
            else ""
        )
        typer.echo(
            f"demo cases removed: {len(done.deleted)} ({len(done.terminated)} were running)"
            f"{waiting}; staff tasks closed: {done.tasks_closed}"
        )
        return
    played = asyncio.run(demo.run(config, time_scale))
    if not played:
        raise typer.Exit(1)
