"""The survey rules (promptly/domain/surveys/rules.py), pure: the plan comes from the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from promptly.domain.surveys import rules as survey_rules
from promptly.domain.surveys.models import SurveyAnswer, SurveyCase, SurveyRequest, SurveyStatus
from tests.helpers import appointment

H = timedelta(hours=1)
WARSAW = ZoneInfo("Europe/Warsaw")


def _survey(visit_ended_at: datetime, **changes: object) -> SurveyCase:
    visit = appointment(visit_ended_at - H)
    request = SurveyRequest(
        appointment_case_id=visit.workflow_id,
        appointment_id=visit.appointment_id,
        client=visit.client,
        service=visit.service,
        visit_ended_at=visit_ended_at,
        **changes,
    )
    return survey_rules.new_survey(request)


def test_a_new_survey_is_scheduled_with_its_reminder_and_close_after_the_send() -> None:
    ended = datetime(2026, 12, 9, 10, 50, tzinfo=WARSAW)
    case = _survey(ended)
    assert case.status is SurveyStatus.SCHEDULED and case.answer is None
    assert case.send_at == ended + 2 * H
    assert case.reminder_at == case.send_at + 24 * H
    assert case.closes_at == case.send_at + timedelta(days=7)
    assert case.complaint_id is None and case.needs_attention == []


def test_the_survey_goes_out_within_48h_of_the_visit_in_elapsed_time() -> None:
    # The night clocks go back (25 October 2026 in Warsaw): 48 real hours, not wall-clock ones.
    ended = datetime(2026, 10, 24, 12, 0, tzinfo=WARSAW)
    case = _survey(ended, send_after=timedelta(days=5))
    assert case.send_at.astimezone(UTC) - ended.astimezone(UTC) == 48 * H
    assert case.send_at.hour == 11  # in the visit's zone: an hour earlier on the wall clock


def test_one_answer_until_the_survey_closes() -> None:
    case = _survey(datetime(2026, 12, 9, 10, 50, tzinfo=WARSAW))
    assert survey_rules.answer_refusal(case) is None
    answered = case.model_copy(
        update={"answer": SurveyAnswer(nps=9), "status": SurveyStatus.ANSWERED}
    )
    assert survey_rules.answer_refusal(answered) == (
        "answer refused: the survey is already answered"
    )
    closed = case.model_copy(update={"status": SurveyStatus.CLOSED})
    assert survey_rules.answer_refusal(closed) == "answer refused: the survey is closed"
