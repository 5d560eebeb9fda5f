"""A detractor's survey answer opens exactly one complaint for the client.

The complaint outlives its parent survey (parent close policy ABANDON). Temporal's
time-skipping test server stops skipping for good once a child closes after its parent, so
this module runs on a server of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain.complaints.models import ComplaintStatus, ComplaintView, ReceivedVia
from promptly.domain.surveys.models import SurveyAnswer, SurveyView
from promptly.services.setup import register_search_attributes
from promptly.worker import data_converter
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.survey import SurveyWorkflow
from tests.conftest import installed_binary
from tests.helpers import messages
from tests.test_survey import _start_survey


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=data_converter(),
    ) as environment:
        await register_search_attributes(environment.client, environment.client.namespace)
        yield environment


async def test_detractor_opens_one_complaint_for_the_client(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request, survey_id = await _start_survey(env, settings)
    survey = env.client.get_workflow_handle(survey_id, result_type=SurveyView)
    await env.sleep(timedelta(hours=3))

    view = await survey.execute_update(
        SurveyWorkflow.answer, SurveyAnswer(nps=2, comment="Waited an hour, nobody said why")
    )
    assert view.complaint_id == f"survey-{request.appointment_id}"
    with pytest.raises(WorkflowUpdateFailedError):
        await survey.execute_update(SurveyWorkflow.answer, SurveyAnswer(nps=1))

    complaint = env.client.get_workflow_handle(
        f"complaint-survey-{request.appointment_id}", result_type=ComplaintView
    )
    await env.sleep(timedelta(minutes=5))
    status = await complaint.query(ComplaintWorkflow.status)
    assert status.status is ComplaintStatus.OPEN
    assert status.received_via is ReceivedVia.SURVEY
    assert status.appointment_id == request.appointment_id
    ack = [m for m in await messages(pool, complaint.id) if m["template"] == "complaint_ack"]
    assert len(ack) == 1 and ack[0]["recipient_role"] == "client"
    assert (await survey.result()).complaint_id == view.complaint_id
