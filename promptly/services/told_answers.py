"""A survey's one question answered on the phone: the desk read the survey (or a complaint's
follow-up) to a phone client and completes its call task with the score they gave
(staff_tasks.py). The answer is the client's, as by link; `taken_by` names who heard it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client

from promptly.domain.common import CaseKind
from promptly.domain.read_outs import ReadOutOutcome
from promptly.domain.surveys.models import SurveyAnswer
from promptly.services.updates import run_update
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.survey import SurveyWorkflow

# The cases whose one question a score answers (by workflow-id prefix): the update taking it.
SCORED_QUESTIONS: dict[str, tuple[str, Any]] = {
    f"{CaseKind.SURVEY.value}-": ("survey", SurveyWorkflow.answer),
    f"{CaseKind.COMPLAINT.value}-": ("complaint", ComplaintWorkflow.feedback),
}


def _question(case_id: str) -> tuple[str, Any] | None:
    """The case's scored question (its noun and update), if it asks one."""
    return next(
        (question for prefix, question in SCORED_QUESTIONS.items() if case_id.startswith(prefix)),
        None,
    )


def refusal(case_id: str, outcome: ReadOutOutcome) -> list[tuple[str, str]]:
    """Why a score cannot go with this call's completion (the 422's fields); [] if it can."""
    if outcome is not ReadOutOutcome.REACHED:
        return [("score", "only a client reached (outcome reached) can give one")]
    if _question(case_id) is None:
        return [("score", "only a survey or a complaint's follow-up asks for one")]
    return []


async def answer_told(
    client: Client,
    case_id: str,
    answer: SurveyAnswer,
    timeout: timedelta,
    update_id: str | None,
) -> Any:
    """Run the case's answer update with what the client told the desk (`refusal` first)."""
    question = _question(case_id)
    assert question is not None  # `refusal` said it asks one
    noun, update = question
    handle = client.get_workflow_handle(case_id)
    return await run_update(handle, noun, update, answer, timeout, update_id)
