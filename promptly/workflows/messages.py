"""Sending a message from a workflow: one activity, its outcome a timeline entry.

Two ways, the same activity:
- `Sends.start(...)` runs the send beside the plan (DESIGN.md §3): it starts the activity
  (`workflow.start_activity_method`), keeps it under a group (the step or state it serves),
  and a small supervising task hands its one outcome to the workflow's callback when it ends.
  `Sends.cancel(groups)` cancels the sends a change makes moot and returns once the activity
  acknowledged, so nothing planned for the old state can still go out; `Sends.drain()` waits
  for every send before the workflow returns or continues as new.
  The complaint, inquiry and survey workflows use it through `case_sends.CaseSends`.
- `deliver(...)` awaits the send in place: the path of cases started before the patches
  `messages-beside-the-plan` (appointments) and `case-messages-beside-the-plan` (complaints,
  inquiries, surveys).

Beside the plan, an SMS that has not gone out after its fallback wait (a quarter of its
budget, at most 1h: domain/sms.py `email_fallback_after`) is cancelled and the same message
goes by email when the recipient has an address (patch `sms-falls-back-to-email`, docs/sms.md).

Either way a message that cannot go out is an outcome (`Delivery.sent` False), never an
exception: what to do about it (a flag, a front-desk task) is the workflow's decision.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType, ActivityHandle

from promptly.workflows.message_outcomes import (
    Delivery,
    _count_given_up,
    _describe,
    _failed,
    _outcome,
    _sent,
    _span,
)
from promptly.workflows.patches import SMS_FALLS_BACK_TO_EMAIL

with workflow.unsafe.imports_passed_through():
    from promptly.activities.messaging import MessagingActivities
    from promptly.domain import errors
    from promptly.domain.common import Channel, Person, RecipientRole
    from promptly.domain.messages import (
        AbandonMessageRequest,
        Recipient,
        SendMessageRequest,
        SendMessageResult,
    )
    from promptly.domain.sms import email_fallback_after


def message_retry(maximum_interval: timedelta) -> RetryPolicy:
    """How a send retries: transient channel failures back off up to `maximum_interval` while
    the send's budget lasts; a refusal for good (unknown template, invalid recipient, a
    delivery the provider rejected) is not retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=maximum_interval,
        non_retryable_error_types=[
            errors.INVALID_RECIPIENT,
            errors.UNKNOWN_TEMPLATE,
            errors.DELIVERY_REJECTED,
        ],
    )


MESSAGE_TIMEOUT = timedelta(seconds=30)
# Beside the plan: one attempt is short and heartbeats, so an attempt lost with its worker is
# retried within seconds; the budget (schedule_to_close) bounds all attempts together.
SEND_ATTEMPT_TIMEOUT = timedelta(seconds=20)
SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
LEDGER_TIMEOUT = timedelta(seconds=30)


def to_client(person: Person) -> Recipient:
    """The client (or complaining customer) as a recipient on their own terms."""
    return Recipient(
        role=RecipientRole.CLIENT,
        name=person.name,
        email=person.email,
        phone=person.phone,
        locale=person.locale,
        timezone=person.timezone,
    )


async def deliver(
    message: SendMessageRequest, *, budget: timedelta, retry: RetryPolicy
) -> Delivery:
    """Send `message`, retrying transient failures within `budget`; never raises for a
    message that could not go out (that is the caller's decision to handle)."""
    to, _ = _describe(message)
    try:
        result = await workflow.execute_activity_method(
            MessagingActivities.send_message,
            message,
            start_to_close_timeout=MESSAGE_TIMEOUT,
            schedule_to_close_timeout=budget,
            retry_policy=retry,
            summary=to,
        )
    except ActivityError as err:
        delivery = _failed(message, err, budget)
        _count_given_up(message, delivery)
        return delivery
    return _sent(message, result)


OnOutcome = Callable[[SendMessageRequest, Delivery], Awaitable[None]]


@dataclass
class _InFlight:
    group: str
    handle: ActivityHandle[SendMessageResult]
    supervisor: asyncio.Task[None]
    settled: bool = False


class Sends:
    """The sends of one workflow run that have not ended, each under the group it serves.
    A workflow's messages all retry one way (`retry`, from `message_retry`)."""

    def __init__(self, retry: RetryPolicy) -> None:
        self._retry = retry
        self._in_flight: dict[str, _InFlight] = {}
        # Cancellations so far, and the count at which each group was last made moot: a send
        # whose failure is still being recorded when a change cancels its group has nothing
        # left to cancel, yet must not be handed on (`moot_since`).
        self.changes = 0
        self._moot_at: dict[str, int] = {}
        self._started_groups: set[str] = set()

    def start(
        self,
        message: SendMessageRequest,
        *,
        group: str,
        budget: timedelta,
        on_outcome: OnOutcome,
    ) -> None:
        """Start sending `message` (its idempotency key names it) and return at once.

        `on_outcome(message, delivery)` runs once when the send ended: sent, failed for
        good or out of budget, or cancelled by `cancel`. A key already in flight is ignored.
        """
        key = message.idempotency_key
        if key in self._in_flight:
            return
        self._started_groups.add(group)
        # A budget is how long a send is retried before the case hands it on (a flag, a task):
        # not the moment the message stops making sense. A send that starts with its budget
        # spent (the worker was down, a backlog) still gets one short try, a minute, so an
        # attempt (SEND_ATTEMPT_TIMEOUT) is not cut short and a message that went out is not
        # recorded as given up; then it is handed on as any send out of budget. A message
        # that must not go out at all once its moment passed (a reminder after its window, a
        # confirmation or a call after the visit began) never gets here: its step is skipped
        # first (domain/appointments/passed_steps.py).
        budget = max(budget, timedelta(minutes=1))
        deadline = workflow.now() + budget
        started = self.changes
        # An SMS that has not gone out after a while goes by email instead, where there is
        # an address (domain/sms.py `email_fallback_after`); asked only for such an SMS.
        wait = email_fallback_after(message.channel, message.template, message.to.email, budget)
        if wait is not None and not workflow.patched(SMS_FALLS_BACK_TO_EMAIL):
            wait = None
        handle = self._start_activity(message, budget)

        async def supervise() -> None:
            entry = self._in_flight[key]
            if wait is None:
                delivery = await _outcome(message, handle, budget)
            else:
                delivery = await self._sms_else_email(entry, message, wait, deadline, started)
            entry.settled = True
            try:
                if not delivery.sent:
                    # The ledger says why the message will never go out (not `pending`).
                    await self._abandon(key, delivery.detail, message.template)
                await on_outcome(message, delivery)
            finally:
                del self._in_flight[key]

        self._in_flight[key] = _InFlight(group, handle, asyncio.create_task(supervise()))

    def _start_activity(
        self, message: SendMessageRequest, budget: timedelta
    ) -> ActivityHandle[SendMessageResult]:
        to, _ = _describe(message)
        return workflow.start_activity_method(
            MessagingActivities.send_message,
            message,
            start_to_close_timeout=SEND_ATTEMPT_TIMEOUT,
            heartbeat_timeout=SEND_HEARTBEAT_TIMEOUT,
            schedule_to_close_timeout=budget,
            retry_policy=self._retry,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=to,
        )

    async def _abandon(
        self, key: str, reason: str, template: str, *, keep_last_answer: bool = False
    ) -> SendMessageResult | None:
        """Give the message up in the ledger; for an SMS given up for an email, the SMS if
        Twilio holds it after all (then no email goes)."""
        return await workflow.execute_activity_method(
            MessagingActivities.abandon_message,
            AbandonMessageRequest(
                idempotency_key=key, reason=reason, keep_last_answer=keep_last_answer
            ),
            start_to_close_timeout=LEDGER_TIMEOUT,
            summary=f"ledger: {template} not sent",
        )

    async def _sms_else_email(
        self,
        entry: _InFlight,
        sms: SendMessageRequest,
        wait: timedelta,
        deadline: datetime,
        started: int,
    ) -> Delivery:
        """The SMS's outcome if it ends within `wait`; else it is cancelled (an attempt under
        way with Twilio is waited for: an SMS Twilio took is recorded sent, and no email
        follows) and, unless a change made its group moot meanwhile, the same message goes by
        email under `<key>/email` for what is left of the budget. Never both."""
        budget = deadline - workflow.now()
        try:
            await workflow.wait_condition(entry.handle.done, timeout=wait)
            timed_out = False
        except builtins.TimeoutError:  # the wait for the SMS ran out
            timed_out = True
            entry.handle.cancel()
        delivery = await _outcome(sms, entry.handle, budget)
        if not (timed_out and delivery.cancelled) or self.moot_since(entry.group, started):
            return delivery
        why = f"the SMS had not gone out after {_span(wait)}"
        taken = await self._abandon(
            sms.idempotency_key,
            f"sent by email instead: {why}",
            sms.template,
            keep_last_answer=True,
        )
        if taken is not None:  # Twilio had it after all, though it never said so
            return _sent(sms, taken)
        if self.moot_since(entry.group, started):
            return delivery  # a change made it moot while the ledger was written
        email = sms.model_copy(
            update={"channel": Channel.EMAIL, "idempotency_key": f"{sms.idempotency_key}/email"}
        )
        left = max(deadline - workflow.now(), timedelta(minutes=1))
        entry.handle = self._start_activity(email, left)
        by_email = await _outcome(email, entry.handle, left)
        return replace(
            by_email,
            detail=f"{by_email.detail}; by email instead of SMS: {why}",
            data=by_email.data | {"instead_of": Channel.SMS.value, "fallback_reason": why},
        )

    def groups(self) -> set[str]:
        """The groups with a send that has not ended."""
        return {s.group for s in self._sends() if not s.settled}

    def in_flight(self, *groups: str) -> bool:
        return any(not s.settled and (not groups or s.group in groups) for s in self._sends())

    async def cancel(self, groups: Iterable[str] | None = None) -> int:
        """Make `groups` (every group started, when None) moot and cancel their unsettled
        sends; return once each activity acknowledged, so none of them reaches a channel
        afterwards. Returns how many."""
        wanted = self._started_groups.copy() if groups is None else set(groups)
        self.changes += 1
        for group in wanted:
            self._moot_at[group] = self.changes
        moot = [s for s in self._sends() if not s.settled and s.group in wanted]
        for send in moot:
            send.handle.cancel()
        for send in moot:
            # The handle resolves when the activity acknowledged the cancellation (or ended
            # first); its supervisor records that outcome.
            await workflow.wait_condition(lambda s=send: s.handle.done())  # type: ignore[misc]
        return len(moot)

    async def cancel_all_but(self, *keep: str) -> int:
        """`cancel` every group started but `keep`."""
        return await self.cancel(self._started_groups - set(keep))

    def moot_since(self, group: str, changes: int) -> bool:
        """A change made `group` moot after `changes` (the count when a send of it started)."""
        return self._moot_at.get(group, -1) > changes

    async def drain(self) -> None:
        """Wait until every send ended and its outcome was recorded."""
        await workflow.wait_condition(lambda: not self._in_flight)

    def idle(self) -> bool:
        """No send is in flight, nor its outcome still being recorded."""
        return not self._in_flight

    def _sends(self) -> list[_InFlight]:
        return list(self._in_flight.values())


# The outcome of a send (message_outcomes.py) is part of this module's public names too.
__all__ = [
    "LEDGER_TIMEOUT",
    "MESSAGE_TIMEOUT",
    "SEND_ATTEMPT_TIMEOUT",
    "SEND_HEARTBEAT_TIMEOUT",
    "Delivery",
    "OnOutcome",
    "Sends",
    "deliver",
    "message_retry",
    "to_client",
]
