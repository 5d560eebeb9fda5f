"""The appointment's delays: the provider running late (the delay adds up, a change becomes
free, the client is told, or hears it on the desk's call still open to them) and the client
running late (the no-show moment moves, up to the limit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from promptly.workflows.appointment_fees import AppointmentFees

with workflow.unsafe.imports_passed_through():
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import ReportDelayInput
    from promptly.domain.common import SYSTEM, Actor, TimelineKind


class AppointmentDelays(AppointmentFees):
    """The provider's and the client's delays."""

    def _note_provider_delay(self, command: ReportDelayInput, actor: Actor) -> int:
        """The provider runs late: the delay adds up, a change becomes free; returns the total
        delay in minutes, which the notice to the client states."""
        minutes = self.case.delay_minutes + command.minutes
        self._update(delay_minutes=minutes, free_reschedule=True)
        self._note(
            TimelineKind.ACTION,
            actor,
            f"Provider delayed by {command.minutes} min: {command.reason}",
            change="provider_delay",  # a webhook event (promptly/domain/webhooks.py)
            minutes=command.minutes,
            new_estimate=self._delayed_start(minutes).isoformat(),
            no_show_at=appointment_rules.no_show_moment(self.case).isoformat(),
        )
        return minutes

    def _delayed_start(self, minutes: int) -> datetime:
        return self.case.request.start + timedelta(minutes=minutes)

    async def _report_provider_delay(self, command: ReportDelayInput, actor: Actor) -> None:
        minutes = self._note_provider_delay(command, actor)
        # A newer estimate supersedes the notice still on its way.
        await self._cancel_sends(["delay"])
        if await self._delay_on_the_open_call(minutes):
            return
        self._start_delay_notice(minutes, f"delay-{minutes}")

    async def _delay_on_the_open_call(self, minutes: int) -> bool:
        """True when the desk's call still open to the client carries the delay instead of a
        notice of its own (appointment_one_call.py)."""
        return False

    def _start_delay_notice(
        self, minutes: int, purpose: str, *, in_writing: bool | None = None
    ) -> None:
        """The client is told the provider runs `minutes` late, and may move or cancel."""
        self._start_to_client(
            "delay",
            "delay_notice",
            purpose=purpose,
            budget=timedelta(minutes=15),
            in_writing=in_writing,
            link_actions=["reschedule", "cancel"],
            extra={"estimate": self._delayed_start(minutes).isoformat(), "minutes": minutes},
        )

    def _delay_notice_after_the_call(self, *, in_writing: bool = False) -> None:
        """The call that carried the delay ended without telling the client: the notice goes
        as it would have when the delay was reported (in writing after a wrong number)."""
        minutes = self.case.delay_minutes
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            f"The call that carried the provider's delay did not tell the client: the delay "
            f"notice ({minutes} min) goes now",
        )
        if in_writing:
            self._start_delay_notice(minutes, f"delay-{minutes}/wrong-number", in_writing=True)
        else:
            self._start_delay_notice(minutes, f"delay-{minutes}")

    def _report_client_late(self, command: ReportDelayInput, actor: Actor) -> None:
        """The client runs late: the no-show moment moves (up to the limit); no fee rule does."""
        minutes = appointment_rules.client_late_minutes_after(self.case, command.minutes)
        self._update(client_late_minutes=minutes)
        self._note(
            TimelineKind.ACTION,
            actor,
            f"Client running {command.minutes} min late: {command.reason}",
            change="client_late",  # a webhook event (promptly/domain/webhooks.py)
            minutes=command.minutes,
            counted_minutes=minutes,
            no_show_at=appointment_rules.no_show_moment(self.case).isoformat(),
        )
