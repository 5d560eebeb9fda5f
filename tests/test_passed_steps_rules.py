"""Until when each planned step of an appointment still makes sense (passed_steps.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from promptly.domain.appointments import passed_steps
from promptly.domain.appointments.rules import Step, new_case, next_step
from promptly.domain.surveys.models import SurveyRequest
from promptly.domain.surveys.rules import new_survey, survey_passed, survey_skipped_note
from tests.test_policy import POLICY, request, warsaw

H = timedelta(hours=1)
ZONE = "Europe/Warsaw"
# Booked on Monday 09:00 for Friday 10:00: the reminder's window is Wed 10:00 – Thu 10:00.
BOOKED = warsaw(12, 7, 9)
START = warsaw(12, 11, 10)
CASE = new_case(request(START), BOOKED, POLICY)


@pytest.mark.parametrize(
    ("step", "ends"),
    [
        (Step.REMINDER, warsaw(12, 10, 10)),  # the 24–48h window's end: 24h before
        (Step.CONFIRMATION, START),
        (Step.FOLLOW_UP_CALL, START),
        (Step.PROVIDER_NOTICE, None),
        (Step.PROVIDER_ACK_ALERT, None),
        (Step.NO_SHOW, None),  # the no-show rule applies however late the case comes to it
        (Step.AUTO_COMPLETE, None),
        (Step.CLOSE, None),
    ],
)
def test_each_step_makes_sense_until(step: Step, ends: datetime | None) -> None:
    assert passed_steps.step_ends_at(CASE, step) == ends


def test_a_reminder_late_within_its_window_still_goes() -> None:
    assert passed_steps.passed(CASE, Step.REMINDER, warsaw(12, 10, 9, 59)) is None
    assert passed_steps.passed(CASE, Step.REMINDER, warsaw(12, 10, 10)) is None
    assert passed_steps.passed(CASE, Step.REMINDER, warsaw(12, 10, 10, 1)) == warsaw(12, 10, 10)


def test_a_call_or_a_confirmation_ends_when_the_visit_begins() -> None:
    for step in (Step.FOLLOW_UP_CALL, Step.CONFIRMATION):
        assert passed_steps.passed(CASE, step, START - timedelta(minutes=1)) is None
        assert passed_steps.passed(CASE, step, START + timedelta(seconds=1)) == START
    assert passed_steps.passed(CASE, Step.NO_SHOW, START + 48 * H) is None


def test_the_unconfirmed_verdict_applies_late_too() -> None:
    """The follow-up step with no attempt left is no call: due at the start at the latest,
    it says the client is unconfirmed and tells the supervisor however late it comes."""
    called = CASE.model_copy(update={"call_attempts": CASE.max_call_attempts})
    assert passed_steps.step_ends_at(called, Step.FOLLOW_UP_CALL) is None
    assert passed_steps.passed(called, Step.FOLLOW_UP_CALL, START + H) is None


def test_the_note_says_why_and_when_the_case_resumed() -> None:
    resumed = START + timedelta(minutes=5)
    assert passed_steps.skipped_note(CASE, Step.REMINDER, resumed, ZONE) == (
        "Reminder not sent: the visit had begun (2026-12-11 10:00 Europe/Warsaw) when the "
        "case resumed at 2026-12-11 10:05 Europe/Warsaw"
    )
    assert passed_steps.skipped_note(CASE, Step.REMINDER, warsaw(12, 10, 15), ZONE) == (
        "Reminder not sent: its window had ended (2026-12-10 10:00 Europe/Warsaw) when the "
        "case resumed at 2026-12-10 15:00 Europe/Warsaw"
    )
    assert passed_steps.skipped_note(CASE, Step.FOLLOW_UP_CALL, resumed, ZONE).startswith(
        "Follow-up call not made: the visit had begun"
    )


def test_a_skipped_reminder_is_not_planned_again() -> None:
    done = {"confirmation_attempted": True, "provider_notified": True, "ack_alert_sent": True}
    calls_done = {"next_call_at": None}
    assert next_step(CASE.model_copy(update=done | calls_done)).step is Step.REMINDER
    skipped = CASE.model_copy(update=done | calls_done | {"reminder_skipped": True})
    assert next_step(skipped).step is Step.NO_SHOW


def test_a_survey_goes_within_48h_of_the_visits_end_or_not_at_all() -> None:
    ended = warsaw(12, 11, 11)
    survey = new_survey(
        SurveyRequest(
            appointment_case_id="appointment-A-1",
            appointment_id="A-1",
            client=CASE.request.client,
            service="Physiotherapy consultation",
            visit_ended_at=ended,
        )
    )
    assert survey_passed(survey, ended + 48 * H) is None
    assert survey_passed(survey, ended + 49 * H) == ended + 48 * H
    assert survey_skipped_note(survey, ended + 49 * H) == (
        "Survey not sent: its 48h after the visit had ended (2026-12-13 11:00 Europe/Warsaw) "
        "when the case resumed at 2026-12-13 12:00 Europe/Warsaw"
    )
