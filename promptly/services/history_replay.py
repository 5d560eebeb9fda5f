"""Replaying the archived histories against the current workflow code (`promptly history
replay`): a change that would break a closed case's history shows before it ships."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel
from temporalio.client import (
    WorkflowHistory,
)
from temporalio.converter import DataConverter


class ReplayOutcome(BaseModel):
    case_id: str
    run_id: str
    workflow_type: str
    failure: str | None


async def replay_archived(
    conn: AsyncConnection[Any], converter: DataConverter, since: datetime | None = None
) -> list[ReplayOutcome]:
    """Replay archived histories (closed at or after `since`) against the current workflow
    code: a change that running cases would replay differently shows up as a failure."""
    from temporalio.worker import Replayer

    from promptly.worker import WORKFLOWS, workflow_runner

    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=converter, workflow_runner=workflow_runner()
    )
    outcomes = []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT case_id, run_id, workflow_type, history::text AS history FROM history_archive"
            " WHERE closed_at >= %s ORDER BY closed_at, case_id",
            (since or datetime.min.replace(tzinfo=UTC),),
        )
        async for row in cur:
            history = WorkflowHistory.from_json(row["case_id"], row["history"])
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            failure = result.replay_failure
            outcomes.append(
                ReplayOutcome(
                    case_id=row["case_id"],
                    run_id=row["run_id"],
                    workflow_type=row["workflow_type"],
                    failure=f"{type(failure).__name__}: {failure}" if failure else None,
                )
            )
    return outcomes
