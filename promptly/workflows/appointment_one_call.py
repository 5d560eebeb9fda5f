"""One call at a time for a phone client: while the front desk's call to read them the
confirmation is open, the reminder's call and the next follow-up attempt wait for it (each at
the latest until a bound, then it goes beside it); the desk's outcome for that call
(`read_out_closed`) lets them go, or makes them moot: a call that reached the client reminded
them, and any call that asked them to confirm was a follow-up attempt. A follow-up attempt due
while the reminder's call is open is that call. A call nobody answered is not followed at once
by another: the desk rings the client back at the next attempt's time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow

from promptly.workflows.appointment_sends import reminder_lateness
from promptly.workflows.appointment_state import (
    REMINDER_LATE_AFTER,
    VISIT_LINKS,
    WRONG_NUMBER_FLAG,
    count,
)
from promptly.workflows.appointment_steps import AppointmentSteps
from promptly.workflows.patches import (
    CALLS_RING_BACK_AFTER_NO_ANSWER,
    DELAY_JOINS_THE_OPEN_CALL,
    FOLLOW_UP_WAITS_FOR_CONFIRMATION_CALL,
    REMINDER_AFTER_WRONG_NUMBER_IN_WRITING,
    REMINDER_CALL_IS_THE_FOLLOW_UP_ATTEMPT,
    REMINDER_WAITS_FOR_CONFIRMATION_CALL,
)
from promptly.workflows.staff_tasks import add_to_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain import metrics, read_outs
    from promptly.domain.appointments import follow_up
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        AppointmentStatus,
    )
    from promptly.domain.common import SYSTEM, Channel, PromiseKind, TimelineKind
    from promptly.domain.read_outs import ReadOutClosedInput
    from promptly.domain.readable_time import readable


# A reminder waiting for the confirmation call goes at the latest this long before its window
# ends (in office hours), whether or not the desk recorded that call.
REMINDER_HOLD_MARGIN = timedelta(hours=2)


# How the provider's delay starts on the desk's open call: a newer estimate replaces it.
DELAY_LINE = "Also tell the client: the provider runs"


class AppointmentOneCall(AppointmentSteps):
    """What waits for a phone client's open confirmation call, and what its outcome decides."""

    def _reminder_waits_for_the_call(self) -> bool:
        """A phone client's reminder due while the desk's call to read them the confirmation
        is open waits for it: the desk calls the client once at a time. True while it waits;
        a hold that ran out lets the reminder go."""
        return self._waits_for_the_confirmation_call(
            "reminder_held_until",
            self._reminder_hold_bound(),
            REMINDER_WAITS_FOR_CONFIRMATION_CALL,
            waiting="Reminder",
            goes="the reminder is read out",
        )

    def _reminder_hold_bound(self) -> datetime | None:
        """The latest a reminder waiting for the desk's call goes: a call task in office
        hours, as the reminder's own (a reminder due at the last office hour before its window
        has none left to wait)."""
        return follow_up.last_business_time_before(
            self._reminder_window_end() - REMINDER_HOLD_MARGIN, self.case.policy
        )

    def _call_waits_for_the_confirmation_call(self) -> bool:
        """A phone client's follow-up call attempt due while the desk's call to read them the
        confirmation (which asks them to confirm) is open waits for it: the desk calls the
        client once at a time. True while it waits; a hold that ran out lets the attempt go."""
        case = self.case
        attempt = case.call_attempts + 1
        return self._waits_for_the_confirmation_call(
            "call_held_until",
            # The confirmation call, opened as the plan was made, is an attempt under way: the
            # attempt waits at the latest until one after that call would be due (none left
            # before the visit, or a call opened that long ago: no wait), then goes beside it.
            # An attempt's own task still open is superseded by the next one as usual.
            follow_up.next_call_after(case.planned_at, case.request.start, case.policy),
            FOLLOW_UP_WAITS_FOR_CONFIRMATION_CALL,
            waiting=f"Call attempt {attempt}",
            goes=f"call attempt {attempt} goes",
            may_wait=not case.awaiting_call_outcome,
        )

    def _waits_for_the_confirmation_call(
        self,
        held: Literal["reminder_held_until", "call_held_until"],
        hold_until: datetime | None,
        patch: str,
        *,
        waiting: str,
        goes: str,
        may_wait: bool = True,
    ) -> bool:
        """Whether what is due (`waiting`: the reminder or a call attempt) waits for the open
        confirmation call, the case's field `held` keeping how long. A hold that ran out lifts
        itself and lets it go (`goes`, noted); else it waits until `hold_until` while that is
        ahead, the client is a phone client and `may_wait`. Its patch is asked last, where
        the stored histories ask it."""
        case = self.case
        if getattr(case, held) is not None:
            self._update(**{held: None})
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                f"The confirmation call is still open: {goes} as a call of its own"
                if case.confirmation_call_open
                # It went unanswered: this is the call that rings the client back.
                else f"The client is called again: {goes}",
            )
            return False
        if not (
            case.confirmation_call_open
            and case.request.client.preferred_channel is Channel.PHONE
            and may_wait
            and hold_until is not None
            and workflow.now() < hold_until
            and workflow.patched(patch)
        ):
            return False
        self._update(**{held: hold_until})
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"{waiting} waits for the confirmation call still open (one call at a time), at "
            f"the latest until {readable(hold_until, self._office_timezone)}",
            held_until=hold_until.isoformat(),
        )
        return True

    def _start_reminder(self) -> None:
        planned = self.case.reminder_at or workflow.now()
        client = self.case.request.client
        # Not read out to a number known wrong: by email, else passed on by hand.
        in_writing = self._number_known_wrong(REMINDER_AFTER_WRONG_NUMBER_IN_WRITING)
        # A phone client's reminder is the desk's call, open once the send is out.
        phone = client.preferred_channel is Channel.PHONE and not in_writing
        self._update(reminder_sent=True, reminder_call_open=phone)

        def on_time() -> None:
            late = workflow.now() - planned > REMINDER_LATE_AFTER
            count(metrics.REMINDERS, outcome="late" if late else "on_time")
            reminder_lateness(workflow.now() - planned)

        def on_failed() -> None:  # no call opened
            count(metrics.REMINDERS, outcome="failed")
            self._update(reminder_call_open=False)

        self._start_to_client(
            "reminder",
            "reminder",
            budget=self._reminder_window_end() - workflow.now(),
            in_writing=in_writing,
            on_sent=on_time,
            on_failed=on_failed,
            link_actions=VISIT_LINKS,
        )

    def _reminder_call_is_the_attempt(self) -> bool:
        """A phone client's follow-up call attempt due while the desk's call to read them the
        reminder is open is that call: the reminder asks the client to confirm, as the attempt
        would, and a second call would repeat the ask. Counted as made now (the next one
        planned after it), no task of its own; a confirmation given on the call ends the
        calls. An attempt's own task still open is superseded by the next one as usual."""
        case = self.case
        if not (
            case.reminder_call_open
            and case.request.client.preferred_channel is Channel.PHONE
            and not case.awaiting_call_outcome
            and workflow.patched(REMINDER_CALL_IS_THE_FOLLOW_UP_ATTEMPT)
        ):
            return False
        attempt = case.call_attempts + 1
        counted = follow_up.after_call_attempt(case, workflow.now())
        self._update(
            call_attempts=counted.call_attempts,
            max_call_attempts=counted.max_call_attempts,
            next_call_at=counted.next_call_at,
            awaiting_call_outcome=False,
        )
        self._promises.met(PromiseKind.FOLLOW_UP, cause_if_late=case.follow_up_rule)
        count(metrics.CALL_ATTEMPTS)
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"Call attempt {attempt} of {counted.max_call_attempts} is the reminder's call "
            "still open, which asks the client to confirm (one call at a time): no call of "
            "its own",
            attempt=attempt,
        )
        return True

    def _reminder_call_closed(self, command: ReadOutClosedInput) -> None:
        """The desk recorded the reminder call's outcome: a follow-up attempt due from now on
        is a call of its own."""
        key = f"{self._workflow_id}/reminder/r{self.case.reschedules}"
        if command.message_key == key and self.case.reminder_call_open:
            self._update(reminder_call_open=False)
            if command.outcome is read_outs.ReadOutOutcome.NO_ANSWER:
                self._attempt_rings_back()

    def _attempt_rings_back(self) -> None:
        """The desk's call went unanswered just now: a follow-up attempt due sooner than the
        desk would ring the client back waits until then (`follow_up.attempt_rings_back`)."""
        case = self.case
        if case.status is not AppointmentStatus.BOOKED or case.call_held_until is not None:
            return
        rings_at = follow_up.attempt_rings_back(case, workflow.now())
        if rings_at is None or not workflow.patched(CALLS_RING_BACK_AFTER_NO_ANSWER):
            return
        self._update(call_held_until=rings_at)
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"The call was not answered: call attempt {case.call_attempts + 1} comes at the "
            f"next call to the client, {readable(rings_at, self._office_timezone)}, not at "
            "once (one call at a time)",
            held_until=rings_at.isoformat(),
        )

    def _confirmation_call_was_the_attempt(self, command: ReadOutClosedInput) -> None:
        """The confirmation call asked the client to confirm at the time of the attempt that
        waited for it: it was that attempt. The next one is planned after it as after any
        attempt (none left: the client is unconfirmed then); a confirmation given on the call
        follows this update and ends the calls."""
        case = self.case
        attempt = case.call_attempts + 1
        counted = follow_up.after_call_attempt(case, workflow.now())
        self._update(
            call_held_until=None,
            call_attempts=counted.call_attempts,
            max_call_attempts=counted.max_call_attempts,
            next_call_at=counted.next_call_at,
            awaiting_call_outcome=False,
        )
        self._promises.met(
            PromiseKind.FOLLOW_UP, actor=command.actor, cause_if_late=case.follow_up_rule
        )
        count(metrics.CALL_ATTEMPTS)
        self._note(
            TimelineKind.ACTION,
            command.actor,
            f"Call attempt {attempt}: {command.outcome.value} (the confirmation call)",
            outcome=command.outcome.value,
            attempt=attempt,
        )

    def _confirmation_call_closed(self, command: ReadOutClosedInput) -> bool:
        """The desk recorded the confirmation call's outcome: a call attempt waiting for it
        counts it as made; a reminder waiting for it is due now, unless the call reached the
        client, which reminded them of the visit. False if it was not that call (open)."""
        case = self.case
        key = f"{self._workflow_id}/confirmation/r{case.reschedules}"
        if command.message_key != key or not case.confirmation_call_open:
            return False
        self._update(confirmation_call_open=False)
        if case.call_held_until is not None:
            self._confirmation_call_was_the_attempt(command)
        elif command.outcome is read_outs.ReadOutOutcome.NO_ANSWER:
            self._attempt_rings_back()
        if case.reminder_held_until is None:
            # A reminder not due yet, but due before the desk would ring the client back.
            if command.outcome is read_outs.ReadOutOutcome.NO_ANSWER and self._reminder_pending():
                self._reminder_rings_back()
            return True
        if command.outcome in read_outs.REACHED:
            self._update(reminder_held_until=None, reminder_sent=True)
            self._promises.met(PromiseKind.REMINDER, actor=command.actor)
            self._note(
                TimelineKind.DECISION,
                command.actor,
                "The confirmation call reached the client and reminded them of the visit: "
                "no reminder call",
            )
            return True
        if command.outcome is read_outs.ReadOutOutcome.NO_ANSWER and self._reminder_rings_back():
            return True
        self._update(reminder_held_until=None)
        self._note(
            TimelineKind.DECISION,
            command.actor,
            f"The confirmation call ended {command.outcome.value}: the reminder is read out "
            "as a call of its own",
        )
        return True

    def _reminder_pending(self) -> bool:
        """A phone client's reminder is still to be read out (planned, not sent nor skipped)."""
        case = self.case
        return (
            case.reminder_at is not None
            and not case.reminder_sent
            and not case.reminder_skipped
            and case.request.client.preferred_channel is Channel.PHONE
        )

    def _reminder_rings_back(self) -> bool:
        """The confirmation call went unanswered while the reminder waited for it (or before
        it was due): the desk does not ring the client again at once. The reminder's call is
        due at the next follow-up attempt's time after it (`call_interval` later, in office
        hours), at the latest where its hold would end, never before it was planned; a
        follow-up attempt due then is that call (it asks the client to confirm). False: it
        stays where it was (no later time fits, or due later anyway)."""
        case = self.case
        now = workflow.now()
        due = max(now, case.reminder_at or now)
        rings_at = follow_up.after_unanswered_call(
            now, due, self._reminder_hold_bound(), case.request.start, case.policy
        )
        if rings_at <= due or not workflow.patched(CALLS_RING_BACK_AFTER_NO_ANSWER):
            return False
        self._update(reminder_held_until=rings_at)
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            "The confirmation call was not answered: the reminder is read out at the next "
            f"call to the client, {readable(rings_at, self._office_timezone)}, not at once "
            "(one call at a time)",
            held_until=rings_at.isoformat(),
        )
        return True

    def _open_call_key(self) -> str | None:
        """The task key of the desk's call still open to read this client the confirmation or
        the reminder, if any."""
        case = self.case
        if case.confirmation_call_open:
            return f"{self._workflow_id}/confirmation/r{case.reschedules}"
        if case.reminder_call_open:
            return f"{self._workflow_id}/reminder/r{case.reschedules}"
        return None

    async def _delay_on_the_open_call(self, minutes: int) -> bool:
        """A phone client the desk has a call open to (the confirmation's or the reminder's)
        hears the provider's delay on that call: a line added to its task, not a second call.
        False when no such call is open (or it closed as the line was added)."""
        case = self.case
        key = self._open_call_key()
        if (
            key is None
            or case.request.client.preferred_channel is not Channel.PHONE
            or WRONG_NUMBER_FLAG in case.needs_attention
            or not workflow.patched(DELAY_JOINS_THE_OPEN_CALL)
        ):
            return False
        client = case.request.client
        line = (
            f"{DELAY_LINE} {minutes} min late; the visit now starts at about "
            f"{readable(self._delayed_start(minutes), client.timezone)} (the client's time). "
            "Because of the delay they may reschedule or cancel free of charge, whatever the "
            "fee terms above say."
        )
        self._update(delay_on_call=key)
        # A newer estimate replaces the line of the last one: the desk reads one delay.
        if not await add_to_task(
            key, line, summary="call script: the provider's delay", replaces=DELAY_LINE
        ):
            if self.case.delay_on_call == key:
                self._update(delay_on_call=None)
            return False
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"The provider's delay ({minutes} min) is added to the desk's call still open "
            "to the client (one call at a time): no call of its own",
        )
        return True

    def _delay_call_closed(self, command: ReadOutClosedInput) -> None:
        """The desk recorded the call that carried the provider's delay: a call that reached
        the client told them; one that did not lets the delay notice go now, unless the visit
        has ended meanwhile (a cancellation that came in while the call was being recorded)."""
        case = self.case
        if case.delay_on_call is None or command.message_key != case.delay_on_call:
            return
        self._update(delay_on_call=None)
        if command.outcome in read_outs.REACHED or case.status in FINAL_APPOINTMENT_STATUSES:
            return
        self._delay_notice_after_the_call(
            in_writing=command.outcome is read_outs.ReadOutOutcome.WRONG_NUMBER
        )
