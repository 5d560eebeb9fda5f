"""Sending a message from a workflow: one activity call, its outcome a timeline entry.

The appointment, complaint and survey workflows differ in idempotency keys, deadlines and
retry policies (their callers pass them) and record every outcome alike: what went out (the
subject, to whom, on which channel) or why it did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from promptly.activities.messaging import MessagingActivities
    from promptly.domain.models import (
        Person,
        Recipient,
        RecipientRole,
        SendMessageRequest,
        TimelineKind,
    )

MESSAGE_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Delivery:
    """How one message went, as the timeline entry the workflow records."""

    sent: bool
    kind: TimelineKind
    detail: str
    data: dict[str, object] = field(default_factory=dict)


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
    to = f"{message.template} to {message.to.role.value} via {message.channel.value}"
    data: dict[str, object] = {
        "template": message.template,
        "channel": message.channel.value,
        "recipient": message.to.role.value,
    }
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
        reason = str(err.cause) if err.cause else str(err)
        return Delivery(
            False, TimelineKind.MESSAGE_FAILED, f"{to} failed: {reason}", data | {"reason": reason}
        )
    # The channel actually used (an opted-out number's SMS goes by email) and whether it left.
    outcome = {"channel": result.channel.value, "outcome": result.outcome.value}
    return Delivery(
        True,
        TimelineKind.MESSAGE,
        f"{result.subject} ({message.to.role.value}, {result.channel.value}, "
        f"{result.outcome.value.replace('_', ' ')})",
        data | {"message_id": result.message_id, "provider_id": result.provider_id} | outcome,
    )
