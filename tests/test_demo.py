"""`make demo` plays its four stories to their ends, prints each status change, leaves no
case open on its queue, keeps its cases out of the staff inbox and the QA report, and
`promptly demo --clean` removes them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from promptly.cli.demo import clean
from promptly.config import Settings
from promptly.db.qa_facts import load_facts
from promptly.dev import demo
from promptly.dev.demo_board import Board
from promptly.domain.qa_report import Period
from promptly.services.task_list import find_tasks


async def _gone(env: WorkflowEnvironment, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        return err.status is RPCStatusCode.NOT_FOUND
    return False


# 72 demo hours in about two minutes: every rule keeps its order (calls 3.6 s apart), and a
# machine busy with the rest of the suite (a worker starved for seconds) keeps it too.
SCALE = 0.0005


async def test_the_demo_plays_every_story_to_its_end_and_cleans_up(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    printed = io.StringIO()
    board = Board(Console(file=printed, width=200), timezone="Europe/Warsaw")
    began = datetime.now(UTC)

    assert await demo.run(settings, SCALE, client=dev_env.client, board=board), printed.getvalue()

    output = printed.getvalue()
    cases = list(board.rows)
    assert [case.split("-", 2)[2] for case in cases] == [
        "confirmed",
        "silent",
        "phone",
        "short-notice",
    ]
    changes = {case: [to for changed, _, to in board.changes if changed == case] for case in cases}
    confirmed, silent, phone, short_notice = cases
    assert changes[confirmed] == ["Booked", "Confirmed", "CheckedIn", "Completed"], output
    assert changes[silent][0] == "Booked" and changes[silent][-1] == "NoShow", output
    assert "Unconfirmed" in changes[silent]
    assert changes[phone] == ["Booked", "Confirmed", "CheckedIn", "Completed"], output
    assert changes[short_notice][-1] == "Completed"
    for case, statuses in changes.items():  # printed as it happened, one line per change
        for before, after in zip(["booking", *statuses], statuses, strict=False):
            assert f"{case:<26} {before} → {after}" in output
    assert f"demo: {silent} ended NoShow" in output
    # Times as the office reads them, zone named once; no machine time in a line.
    assert "times in Europe/Warsaw" in output and "+00:00" not in output
    assert f"{confirmed:<26} Booked → Confirmed: Client confirmed" in output

    # Nothing is left running on the demo queue once the demo has returned, not even the
    # surveys the completed visits started.
    for case in cases:
        handle = dev_env.client.get_workflow_handle(f"appointment-{case}")
        description = await handle.describe()
        assert description.status is not WorkflowExecutionStatus.RUNNING  # ended or terminated
        memo = await description.memo()
        assert memo == {"promptly_demo": True, "opened_by": {"kind": "system", "id": "demo"}}
    for case in (confirmed, phone):
        survey = dev_env.client.get_workflow_handle(f"survey-appointment-{case}")
        assert (await survey.describe()).status is not WorkflowExecutionStatus.RUNNING

    # The staff inbox and the QA report leave demo cases out.
    demo_tasks = [
        task
        for task in await find_tasks(pool, status="all", include_demo=True)
        if task.case_id.removeprefix("appointment-") in cases
    ]
    assert demo_tasks, "the silent and phone stories make call tasks"
    inbox = await find_tasks(pool, status="all", limit=1000)
    assert not [task for task in inbox if "-DEMO-" in task.case_id]
    today = began.date()
    async with pool.connection() as conn:
        facts = await load_facts(
            conn, Period(today - timedelta(days=1), today + timedelta(days=1), "UTC")
        )
    assert not [fact for fact in facts.appointments if "-DEMO-" in fact.case_id]

    # --clean removes them from Temporal and closes what they left in the inbox.
    cleaned = await clean(dev_env.client, pool)
    assert {f"appointment-{case}" for case in cases} <= set(cleaned.deleted)
    assert cleaned.still_deleting == []
    for case in cases:  # it returned once Temporal's background deletions had finished
        assert await _gone(dev_env, f"appointment-{case}")
    # Again at once: what visibility may still list is not deleted (or counted) twice.
    again = await clean(dev_env.client, pool)
    assert again.deleted == [] and again.terminated == []
    left_open = [
        task
        for task in await find_tasks(pool, status="open", include_demo=True)
        if "-DEMO-" in task.case_id
    ]
    assert left_open == []
