"""An answer that arrives while the survey closes is refused, never taken and lost.

The close awaits its activities (the pass-it-on tasks closed, the last save); an answer
accepted then would run after the run returned: no answer stored, no complaint for a
detractor, and the client told "workflow completed". The close's `close_case_tasks` is held
here, so the answer lands exactly in that await.
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
from promptly.activities.tasks import TaskActivities
from promptly.config import Settings
from promptly.domain.surveys.models import SurveyAnswer, SurveyStatus, SurveyView
from promptly.domain.tasks import CloseCaseTasksRequest
from promptly.worker import create_worker
from promptly.workflows.survey import SurveyWorkflow
from tests.helpers import survey_answers
from tests.test_appointment_interleavings import Hold
from tests.test_survey import _start_survey


@pytest.fixture
def hold() -> Hold:
    return Hold()


@pytest_asyncio.fixture(loop_scope="session")
async def holding_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    hold: Hold,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Worker]:
    class HeldTasks(TaskActivities):
        @activity.defn(name="close_case_tasks")
        async def close_case_tasks(self, request: CloseCaseTasksRequest) -> int:
            await hold.wait_if_held(request)
            return await super().close_case_tasks(request)

    monkeypatch.setattr(promptly.worker, "TaskActivities", HeldTasks)
    async with create_worker(env.client, settings, pool=pool) as running:
        yield running
    hold.release.set()


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
