"""`promptly status` says where an appointment's reminder stands: sent, due, or not sent (its
send failed, or the case came to it after its window, as after an outage)."""

from __future__ import annotations

from promptly.cli.appointments import _what_is_ahead
from promptly.domain.appointments.models import REMINDER_NOT_SENT_FLAG, AppointmentView
from promptly.domain.examples import APPOINTMENT_VIEW

ZONE = "Europe/Warsaw"


def _view(**changes: object) -> AppointmentView:
    return AppointmentView.model_validate({**APPOINTMENT_VIEW, **changes})


def test_a_reminder_ahead_is_shown_with_its_time() -> None:
    assert "reminder at " in _what_is_ahead(_view(), ZONE)


def test_a_reminder_the_case_flags_not_sent_is_not_shown_as_ahead() -> None:
    line = _what_is_ahead(_view(needs_attention=[REMINDER_NOT_SENT_FLAG]), ZONE)
    assert "reminder not sent" in line and "reminder at" not in line


def test_a_sent_reminder_is_shown_sent() -> None:
    assert "reminder sent" in _what_is_ahead(_view(reminder_sent=True), ZONE)
