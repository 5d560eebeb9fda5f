"""Updates that arrive while the survey closes: refused, or heard before it ends.

The close awaits its activities (the pass-it-on tasks closed, the last save); an answer
accepted then would run after the run returned: no answer stored, no complaint for a
detractor, and the client told "workflow completed". An answer is refused from the moment
the close begins; the desk's `passed_on`, which no state refuses, is waited for. The
activities the close awaits are held here, so the update lands exactly in that await.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import promptly.worker
from promptly.activities.records import RecordsActivities
from promptly.activities.tasks import TaskActivities
from promptly.config import Settings
from promptly.domain.common import CaseSnapshot
from promptly.domain.surveys.models import SurveyAnswer, SurveyStatus, SurveyView
from promptly.domain.tasks import CloseCaseTasksRequest, PassedOnInput
from promptly.worker import create_worker
from promptly.workflows.case import JournaledCase
from promptly.workflows.survey import SurveyWorkflow
from tests.helpers import STAFF, Hold, survey_answers, timeline_rows
from tests.test_survey import _start_survey


@pytest.fixture
def hold() -> Hold:
    return Hold()


@pytest.fixture
def save_hold() -> Hold:
    return Hold()


@pytest_asyncio.fixture(loop_scope="session")
async def holding_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
    save_hold: Hold,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Worker]:
    class HeldTasks(TaskActivities):
        @activity.defn(name="close_case_tasks")
        async def close_case_tasks(self, request: CloseCaseTasksRequest) -> int:
            await hold.wait_if_held(request)
            return await super().close_case_tasks(request)

    class HeldRecords(RecordsActivities):
        @activity.defn(name="record_case")
        async def record_case(self, snapshot: CaseSnapshot) -> None:
            await save_hold.wait_if_held(snapshot)
            await super().record_case(snapshot)

    monkeypatch.setattr(promptly.worker, "TaskActivities", HeldTasks)
    monkeypatch.setattr(promptly.worker, "RecordsActivities", HeldRecords)
    async with create_worker(env.client, settings, pool=pool) as running:
        yield running
    hold.release.set()
    save_hold.release.set()


async def test_an_answer_while_the_survey_closes_is_refused(
    env: WorkflowEnvironment,
    holding_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
) -> None:
    hold.matches = lambda r: isinstance(r, CloseCaseTasksRequest) and r.outcome == "survey_closed"
    request, survey_id = await _start_survey(env, settings)
    survey = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    plan = await survey.query(SurveyWorkflow.status)
    # Past the close, in the background: once the held activity runs the server stops skipping.
    past_close = asyncio.create_task(
        env.sleep(plan.closes_at + timedelta(minutes=1) - await env.get_current_time())
    )
    await hold.reached()  # the close is inside close_case_tasks

    try:
        answered = await survey.start_update(
            SurveyWorkflow.answer,
            SurveyAnswer(nps=2, comment="late"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    finally:
        hold.release.set()  # the close goes on (before it, with the answer taken and in flight)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await answered.result()
    assert "answer refused: the survey has closed" in str(refused.value.cause)

    await past_close
    result = await survey.result()
    assert result.status is SurveyStatus.CLOSED
    assert result.answer is None and result.complaint_id is None
    assert await survey_answers(pool, request.appointment_case_id) == []


async def test_a_report_accepted_during_the_last_save_is_heard_before_the_survey_ends(
    env: WorkflowEnvironment,
    holding_worker: Worker,
    settings: Settings,
    pool: AsyncConnectionPool,
    save_hold: Hold,
) -> None:
    """The desk's `passed_on` (no state of the survey refuses it) lands while the run stores
    the closed survey: its own save waits for that one, and the run for it."""
    save_hold.matches = lambda r: isinstance(r, CaseSnapshot) and r.status == "Closed"
    _, survey_id = await _start_survey(env, settings)
    survey = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    plan = await survey.query(SurveyWorkflow.status)
    past_close = asyncio.create_task(
        env.sleep(plan.closes_at + timedelta(minutes=1) - await env.get_current_time())
    )
    await save_hold.reached()  # the closed survey is being stored

    try:
        reported = await survey.start_update(
            JournaledCase.passed_on,
            PassedOnInput(task_id=4242, actor=STAFF, note="told at the desk"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    finally:
        save_hold.release.set()
    await reported.result()  # heard, not "workflow completed" with the report in flight
    await past_close
    assert (await survey.result()).status is SurveyStatus.CLOSED
    stored = [row["detail"] for row in await timeline_rows(pool, survey_id)]
    assert "Passed on by hand (task 4242): told at the desk" in stored
