"""The reminder's 24–48h window has one home (domain/appointments/reminder_window.py): its
time per channel, its promise, the moment it is skipped and its send's budget all end it at
the same instant, 24 elapsed hours before the visit even across a DST change."""

from __future__ import annotations

from datetime import UTC, datetime

from promptly.domain import promises
from promptly.domain.appointments import passed_steps
from promptly.domain.appointments.follow_up import phone_reminder_time
from promptly.domain.appointments.reminder_window import (
    reminder_window_end,
    reminder_window_start,
)
from promptly.domain.appointments.rules import Step, new_case, reminder_time
from promptly.domain.common import PromiseKind
from tests.test_policy import POLICY, request, warsaw

# Summer time ends on Sunday 25 October 2026 at 03:00 CEST: a visit that Sunday at 10:00 CET
# (09:00 UTC) has its window from Friday 11:00 CEST to Saturday 11:00 CEST, not 10:00.
START = warsaw(10, 25, 10)
WINDOW_END = datetime(2026, 10, 24, 9, tzinfo=UTC)


def test_the_window_is_48h_to_24h_before_the_visit_in_elapsed_time() -> None:
    assert reminder_window_end(START, POLICY) == WINDOW_END
    assert reminder_window_start(warsaw(10, 20, 9), START, POLICY) == datetime(
        2026, 10, 23, 9, tzinfo=UTC
    )
    # Booked inside the window: it starts at the booking.
    assert reminder_window_start(warsaw(10, 23, 15), START, POLICY) == warsaw(10, 23, 15)


def test_every_rule_ends_the_reminders_window_at_the_same_moment() -> None:
    case = new_case(request(START), warsaw(10, 20, 9), POLICY)
    # A case whose start carries the zone itself (not the fixed offset of the wire).
    zoned = case.model_copy(update={"request": case.request.model_copy(update={"start": START})})
    assert passed_steps.reminder_window_end(zoned) == WINDOW_END
    assert promises.appointment_dues(zoned)[PromiseKind.REMINDER] == WINDOW_END
    assert passed_steps.passed(zoned, Step.REMINDER, WINDOW_END) is None
    # Booked a minute before the window ends an email or SMS client is still reminded; a
    # minute after it, neither channel reminds (the confirmation is the reminder).
    late = datetime(2026, 10, 24, 8, 59, tzinfo=UTC)
    assert reminder_time(late, START, "Europe/Warsaw", POLICY) == late
    after = datetime(2026, 10, 24, 9, 1, tzinfo=UTC)
    assert reminder_time(after, START, "Europe/Warsaw", POLICY) is None
    assert phone_reminder_time(after, START, POLICY) is None
