"""The survey rules (promptly/domain/surveys/rules.py), pure: the plan comes from the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from promptly.domain.calendar import HourRange
from promptly.domain.surveys import rules as survey_rules
from promptly.domain.surveys.models import SurveyAnswer, SurveyCase, SurveyRequest, SurveyStatus
from tests.helpers import appointment

H = timedelta(hours=1)
WARSAW = ZoneInfo("Europe/Warsaw")


def _survey(visit_ended_at: datetime, **changes: object) -> SurveyCase:
    visit = appointment(visit_ended_at - H)
    request = SurveyRequest.model_validate(
        {
            "appointment_case_id": visit.workflow_id,
            "appointment_id": visit.appointment_id,
            "client": visit.client,
            "service": visit.service,
            "visit_ended_at": visit_ended_at,
        }
        | changes
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


QUIET = HourRange(start_hour=21, end_hour=8)


def test_a_survey_due_at_night_goes_when_the_clients_quiet_hours_end() -> None:
    # Auto-completed at 22:50 (the provider never pressed complete): due at 00:50.
    ended = datetime(2026, 12, 9, 22, 50, tzinfo=WARSAW)
    case = _survey(ended, quiet_hours=QUIET)
    assert case.send_at == datetime(2026, 12, 10, 8, 0, tzinfo=WARSAW)
    assert case.reminder_at == datetime(2026, 12, 11, 8, 0, tzinfo=WARSAW)
    assert case.closes_at == case.send_at + timedelta(days=7)


def test_quiet_hours_are_the_clients_and_never_push_the_survey_past_48h() -> None:
    ended = datetime(2026, 12, 9, 10, 50, tzinfo=WARSAW)  # 04:50 in New York
    visit = _survey(ended, quiet_hours=QUIET)
    client = visit.request.client.model_copy(update={"timezone": "America/New_York"})
    case = _survey(ended, quiet_hours=QUIET, client=client)
    assert case.send_at == datetime(2026, 12, 9, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    # Due at 21:00 two days after a 22:00 end: the morning would be past the 48h promise.
    evening = datetime(2026, 12, 9, 22, 0, tzinfo=WARSAW)
    late = _survey(evening, quiet_hours=QUIET, send_after=47 * H)
    assert late.send_at == evening + 48 * H


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
