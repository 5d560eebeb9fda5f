"""Replaying histories against the current workflow code (`promptly history replay`): the
running cases' histories, fetched from Temporal, and the closed ones archived in PostgreSQL. A
change that would break a case's history shows before it ships."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from promptly.domain.ui_views import runs_query

if TYPE_CHECKING:
    from temporalio.worker import Replayer


class ReplayOutcome(BaseModel):
    case_id: str
    run_id: str
    workflow_type: str
    failure: str | None
    running: bool = False  # fetched from Temporal (an open case), else from the archive


def _replayer(converter: DataConverter, workflows: Sequence[type] | None) -> Replayer:
    """The replayer of every check: Promptly's workflows (or `workflows`, a test's changed
    definition), the same converter as the worker and the sandbox of every replay."""
    from temporalio.worker import Replayer

    from promptly.worker import WORKFLOWS, workflow_runner

    return Replayer(
        workflows=list(workflows or WORKFLOWS),
        data_converter=converter,
        workflow_runner=workflow_runner(),
    )


async def _outcome(
    replayer: Replayer, history: WorkflowHistory, workflow_type: str, *, running: bool
) -> ReplayOutcome:
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    return ReplayOutcome(
        case_id=history.workflow_id,
        run_id=history.run_id,
        workflow_type=workflow_type,
        running=running,
        # One line per failure: the SDK's messages run over several.
        failure=" ".join(f"{type(failure).__name__}: {failure}".split()) if failure else None,
    )


async def replay_archived(
    conn: AsyncConnection[Any],
    converter: DataConverter,
    since: datetime | None = None,
    workflows: Sequence[type] | None = None,
) -> list[ReplayOutcome]:
    """Replay archived histories (closed at or after `since`) against the current workflow
    code."""
    replayer = _replayer(converter, workflows)
    outcomes = []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT case_id, run_id, workflow_type, history::text AS history FROM history_archive"
            " WHERE closed_at >= %s ORDER BY closed_at, case_id",
            (since or datetime.min.replace(tzinfo=UTC),),
        )
        async for row in cur:
            history = WorkflowHistory.from_json(row["case_id"], row["history"])
            outcomes.append(await _outcome(replayer, history, row["workflow_type"], running=False))
    return outcomes


def workflow_types(workflows: Sequence[type] | None = None) -> list[str]:
    """The type names Promptly's workflows (or `workflows`) are registered under."""
    from promptly.worker import WORKFLOWS

    names = (workflow._Definition.must_from_class(cls).name for cls in workflows or WORKFLOWS)
    return [name for name in names if name]  # a dynamic workflow (None) has no type of its own


async def replay_running(
    client: Client,
    converter: DataConverter,
    since: datetime | None = None,
    workflows: Sequence[type] | None = None,
) -> list[ReplayOutcome]:
    """Replay the history so far of every running Promptly workflow (started at or after
    `since`) against the current workflow code: what a new worker would do when it takes the
    case's next task."""
    replayer = _replayer(converter, workflows)
    outcomes = []
    async for execution in client.list_workflows(
        runs_query(workflow_types(workflows), running=True, since=since)
    ):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        outcomes.append(await _outcome(replayer, history, execution.workflow_type, running=True))
    return outcomes
