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

from promptly.domain.demo import DEMO_CASE_ID_LIKE, is_demo_case

DEMO_WORKFLOW_TYPES = ("AppointmentWorkflow", "SurveyWorkflow")


@dataclass(frozen=True)
class Cleaned:
    terminated: list[str]
    deleted: list[str]
    tasks_closed: int


async def clean(client: Client, pool: AsyncConnectionPool) -> Cleaned:
    """Remove every demo case from Temporal (terminated if open, then deleted) and close the
    staff tasks they left. Their timeline rows stay: the record is append-only."""
    query = " OR ".join(f"WorkflowType = '{name}'" for name in DEMO_WORKFLOW_TYPES)
    terminated: list[str] = []
    deleted: list[str] = []
    async for execution in client.list_workflows(query):
        if not is_demo_case(execution.id):
            continue
        if execution.status is WorkflowExecutionStatus.RUNNING:
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate(
                reason="promptly demo --clean"
            )
            terminated.append(execution.id)
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(
                    workflow_id=execution.id, run_id=execution.run_id
                ),
            )
        )
        deleted.append(execution.id)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """UPDATE staff_tasks
                  SET status = 'done', outcome = 'demo_cleaned', closed_by = 'system:demo',
                      closed_at = now()
                WHERE status = 'open' AND case_id LIKE %s""",
            (DEMO_CASE_ID_LIKE,),
        )
        closed = cursor.rowcount
    return Cleaned(terminated=terminated, deleted=sorted(set(deleted)), tasks_closed=closed)


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
        typer.echo(
            f"demo cases removed: {len(done.deleted)} ({len(done.terminated)} were running);"
            f" staff tasks closed: {done.tasks_closed}"
        )
        return
    played = asyncio.run(demo.run(config, time_scale))
    if not played:
        raise typer.Exit(1)
