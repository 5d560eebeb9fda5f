"""The reminder's 24–48h window, in one place.

The procedure sends the reminder inside [start - `reminder_before`, start - `reminder_window_end`]
(48h to 24h before the visit by default), counted in elapsed time (`calendar.shift_elapsed`: a
DST change does not make it 23 or 25 hours), never before the booking. When in that window
it goes depends on the client's channel:

- email and SMS: `rules.reminder_time`, the first instant outside the client's quiet hours;
- phone (a front-desk call task): `follow_up.phone_reminder_time`, the first office-hours
  instant, or the last office quarter-hour before a window with none;

`rules.new_case` (`_follow_up_planned_ahead`) picks one of the two by the client's preferred
channel. The window's end is also the reminder's last moment elsewhere: its promise is due then
(`promises.appointment_dues`), a reminder the case comes to later is skipped
(`passed_steps.step_ends_at`), and its send is retried until then
(`AppointmentState._reminder_window_end`, the message's `reminder_by`).

No clock, no I/O.
"""

from __future__ import annotations

from datetime import datetime

from promptly.domain.appointments.models import AppointmentPolicy
from promptly.domain.calendar import shift_elapsed


def reminder_window_start(
    booked_at: datetime, start: datetime, policy: AppointmentPolicy
) -> datetime:
    """The window's first instant: `reminder_before` ahead of the visit, not before booking."""
    return max(shift_elapsed(start, -policy.reminder_before), booked_at)


def reminder_window_end(start: datetime, policy: AppointmentPolicy) -> datetime:
    """The window's last instant (`reminder_window_end` before the visit), in `start`'s zone."""
    return shift_elapsed(start, -policy.reminder_window_end)
