"""What an appointment tells its provider: the booking notice (a provider without email gets
it by the front desk's hand), news of the visit they did not make themselves (a cancellation,
an excuse waiting for their decision), and the notice made moot by their acknowledgement.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from promptly.workflows.appointment_sends import AppointmentSends
from promptly.workflows.appointment_state import PROVIDER_LINKS
from promptly.workflows.patches import ACKNOWLEDGED_NOTICE_MOOT, PROVIDER_WITHOUT_EMAIL_BY_HAND

with workflow.unsafe.imports_passed_through():
    from promptly.domain.common import SYSTEM, Actor, Channel, RecipientRole, TimelineKind
    from promptly.domain.messages import Recipient


# The flag of a booking notice the provider did not get.
PROVIDER_NOTICE_FLAG = "provider notice not sent"
# How long news for the provider (a cancellation, an excuse) may keep trying before the
# front desk is asked to pass it on, as the client's cancellation notice.
PROVIDER_NEWS_BUDGET = timedelta(hours=1)


class AppointmentProviderSends(AppointmentSends):
    """The provider's booking notice and news."""

    def _provider_to_notify(self) -> Recipient | None:
        """The provider is notified now: the recipient of their booking notice. A provider
        without email gets it too: the channel refuses it at once, so it becomes the front
        desk's task and the case's flag like any notice that could not go out. Cases from
        before that (and in line) only noted that staff would pass the booking on: None."""
        provider = self.case.request.provider
        self._update(provider_notified=True)
        if provider.email is None and not (
            self._current_rules and workflow.patched(PROVIDER_WITHOUT_EMAIL_BY_HAND)
        ):
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                "Provider has no email: acknowledgement expected through staff",
            )
            return None
        # The provider reads times where they work: their own zone, else the office's (cases
        # from before the patch wrote to them in the client's zone).
        where_they_work = provider.timezone or self._office_timezone
        return Recipient(
            role=RecipientRole.PROVIDER,
            name=provider.name,
            email=provider.email,
            timezone=where_they_work if self._current_rules else self.case.request.client.timezone,
        )

    def _start_provider_notice(self) -> None:
        to = self._provider_to_notify()
        if to is None:
            return
        self._start_send(
            "provider_booking",
            "provider_booking",
            to,
            Channel.EMAIL,
            budget=self.case.provider_ack_deadline - workflow.now(),
            if_failed=PROVIDER_NOTICE_FLAG,
            link_actions=PROVIDER_LINKS,
        )

    def _start_provider_news(self, template: str, extra: dict[str, object]) -> None:
        """News of the visit that the provider did not make themselves (a cancellation, an
        excuse waiting for their decision), by
        email in the provider's own time; one that cannot go out (no email) becomes the front
        desk's task to pass on, and the case's flag."""
        provider = self.case.request.provider
        self._start_send(
            template,
            template,
            Recipient(
                role=RecipientRole.PROVIDER,
                name=provider.name,
                email=provider.email,
                timezone=provider.timezone or self._office_timezone,
            ),
            Channel.EMAIL,
            budget=PROVIDER_NEWS_BUDGET,
            if_failed=f"{template.replace('_', ' ')} not sent",
            extra=extra,
        )

    async def _provider_notice_moot(self, actor: Actor) -> None:
        """The provider acknowledged: their booking notice still retrying, and a front-desk
        task to pass it on, no longer matter (and so its flag). Returns once neither can
        reach anyone."""
        tasks = self._by_hand.answering(PROVIDER_NOTICE_FLAG)
        in_flight = self._sends.in_flight("provider_booking")
        if not (tasks or in_flight) or not workflow.patched(ACKNOWLEDGED_NOTICE_MOOT):
            return
        await self._cancel_sends(["provider_booking"])
        for key in tasks.values():
            await self._close_task(key, "acknowledged", "the provider acknowledged", actor)
        for concern in self._by_hand.forget(tasks):
            self._unflag(concern)
