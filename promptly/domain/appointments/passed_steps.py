"""Until when each planned step of an appointment still makes sense.

A step is planned for a moment, and the planner runs it when that moment comes. When the
workflow comes to it late (the worker was down, a backlog), a step whose moment has passed is
not run: a reminder for a visit that has begun, a call asking the client to confirm a visit
already under way. These rules say until when each step makes sense; the workflow skips one
past that and writes why on the timeline (appointment_steps.py).

- The reminder: until its 24–48h window ends (`start - reminder_window_end`, 24h before the
  visit by default). The procedure sends it "never outside the 24–48h window", its send's
  budget already ends there, and its promise is due then: a reminder the case comes to later
  would be one the procedure never sends. After that the confirmation and the visit's links
  are what the client has.
- The confirmation message: until the visit starts (after it, nothing is left to confirm).
- A follow-up call attempt (the phone follow-up of a silent client): until the visit starts.
  The same step with no attempt left is no call but the verdict (the client is Unconfirmed,
  the supervisor told), due at the start at the latest: it applies late too.
- The survey, a workflow of its own: within 48h of the visit's end (`surveys/rules.py`,
  `survey_passed`).
- Everything else (the provider's notice and the acknowledgement alert, the no-show rule,
  closing a checked-in visit, the case's close) still applies late: it has no end.

No clock, no I/O: the caller passes `now`.
"""

from __future__ import annotations

from datetime import datetime

from promptly.domain.appointments import reminder_window
from promptly.domain.appointments.follow_up import follow_up_exhausted
from promptly.domain.appointments.models import AppointmentCase
from promptly.domain.appointments.rules import Step
from promptly.domain.readable_time import readable


def reminder_window_end(case: AppointmentCase) -> datetime:
    """The last moment of the reminder's 24–48h window (its promise is due then)."""
    return reminder_window.reminder_window_end(case.request.start, case.policy)


def step_ends_at(case: AppointmentCase, step: Step) -> datetime | None:
    """Until when `step` still makes sense for `case`; None: it applies however late."""
    if step is Step.REMINDER:
        return reminder_window_end(case)
    if step is Step.CONFIRMATION:
        return case.request.start
    if step is Step.FOLLOW_UP_CALL and not follow_up_exhausted(case):
        return case.request.start
    return None


def passed(case: AppointmentCase, step: Step, now: datetime) -> datetime | None:
    """The moment `step` stopped making sense, when `now` is past it; else None."""
    ends = step_ends_at(case, step)
    return ends if ends is not None and now > ends else None


_WHAT = {
    Step.REMINDER: "Reminder not sent",
    Step.CONFIRMATION: "Confirmation not sent",
    Step.FOLLOW_UP_CALL: "Follow-up call not made",
}


def skipped_note(case: AppointmentCase, step: Step, now: datetime, zone: str) -> str:
    """The timeline's line for a step skipped at `now` because its moment had passed, its
    times in `zone` (where staff read them: the office's)."""
    start = case.request.start
    if now >= start:
        why = f"the visit had begun ({readable(start, zone)})"
    else:
        why = f"its window had ended ({readable(step_ends_at(case, step), zone)})"
    what = _WHAT.get(step, f"{step.value.replace('_', ' ').capitalize()} skipped")
    return f"{what}: {why} when the case resumed at {readable(now, zone)}"
