"""What a send's outcome says: the `Delivery` a workflow records as a timeline entry, whether
the message went out, failed, was cancelled by a change of the case, or was given up when its
budget ran out (with how long it was tried and what the provider said last)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from promptly.domain import metrics
    from promptly.domain.common import TimelineKind
    from promptly.domain.messages import SendMessageRequest, SendMessageResult


@dataclass(frozen=True)
class Delivery:
    """How one message went, as the timeline entry the workflow records."""

    sent: bool
    kind: TimelineKind
    detail: str
    data: dict[str, object] = field(default_factory=dict)
    # Cancelled by a change of the case (not a failure: nobody needs to send it by hand).
    cancelled: bool = False
    # Still failing when its budget ran out (not refused): the workflow gave it up.
    gave_up: bool = False


def _describe(message: SendMessageRequest) -> tuple[str, dict[str, object]]:
    to = f"{message.template} to {message.to.role.value} via {message.channel.value}"
    data: dict[str, object] = {
        "template": message.template,
        "channel": message.channel.value,
        "recipient": message.to.role.value,
    }
    return to, data


def _sent(message: SendMessageRequest, result: SendMessageResult) -> Delivery:
    _, data = _describe(message)
    # The channel actually used (an opted-out number's SMS goes by email) and whether it left.
    outcome = {"channel": result.channel.value, "outcome": result.outcome.value}
    return Delivery(
        True,
        TimelineKind.MESSAGE,
        f"{result.subject} ({message.to.role.value}, {result.channel.value}, "
        f"{result.outcome.value.replace('_', ' ')})",
        data | {"message_id": result.message_id, "provider_id": result.provider_id} | outcome,
    )


def _failed(message: SendMessageRequest, err: ActivityError, budget: timedelta) -> Delivery:
    to, data = _describe(message)
    if isinstance(err.cause, CancelledError):
        return Delivery(
            False,
            TimelineKind.DECISION,
            f"{to} cancelled: the case changed",
            data | {"outcome": "cancelled"},
            cancelled=True,
        )
    if _out_of_budget(err):
        # Not one failure but many: say how long it was tried, and what the provider said last.
        last = _last_answer(err)
        attempts = _attempts(last)
        reason = (
            f"gave up after {_span(budget)}"
            + (f" ({attempts} attempts)" if attempts else "")
            + f": {last.message if last is not None else err.cause or err}"
        )
        return Delivery(
            False,
            TimelineKind.MESSAGE_FAILED,
            f"{to} {reason}",
            data | {"reason": reason, "outcome": "failed"},
            gave_up=True,
        )
    reason = str(err.cause) if err.cause else str(err)
    return Delivery(
        False,
        TimelineKind.MESSAGE_FAILED,
        f"{to} failed: {reason}",
        data | {"reason": reason, "outcome": "failed"},
    )


def _out_of_budget(err: ActivityError) -> bool:
    """The send was still being retried when its budget (schedule-to-close) ran out."""
    cause = err.cause
    return err.retry_state is RetryState.TIMEOUT or (
        isinstance(cause, TimeoutError) and cause.type is TimeoutType.SCHEDULE_TO_CLOSE
    )


def _last_answer(err: ActivityError) -> ApplicationError | None:
    """The last attempt's error (a timeout carries it as its cause)."""
    cause = err.cause
    while isinstance(cause, TimeoutError):
        cause = cause.cause
    return cause if isinstance(cause, ApplicationError) else None


def _attempts(last: ApplicationError | None) -> int | None:
    """The attempt number the send activity puts in the details of a transient failure."""
    first = last.details[0] if last is not None and last.details else None
    return first if isinstance(first, int) and not isinstance(first, bool) else None


def _span(budget: timedelta) -> str:
    """`22h`, `1h 30 min`, `15 min`, `40 s` (to the nearest minute from a minute on)."""
    seconds = round(budget.total_seconds())
    if seconds >= 60:
        seconds = round(seconds / 60) * 60
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    if hours:
        return f"{hours}h {minutes} min" if minutes else f"{hours}h"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _count_given_up(message: SendMessageRequest, delivery: Delivery) -> None:
    """A message the workflow gave up (its budget spent) on the `promptly_messages` counter;
    the SDK records nothing while a history is replayed."""
    if delivery.gave_up:
        counter = workflow.metric_meter().create_counter(
            metrics.MESSAGES, metrics.HELP[metrics.MESSAGES]
        )
        labels = {"channel": message.channel.value, "template": message.template}
        counter.add(1, labels | {"outcome": "abandoned"})


async def _outcome(
    message: SendMessageRequest, handle: ActivityHandle[SendMessageResult], budget: timedelta
) -> Delivery:
    """How the send under `handle` ended, once it has."""
    try:
        return _sent(message, await handle)
    except ActivityError as err:
        delivery = _failed(message, err, budget)
        _count_given_up(message, delivery)
        return delivery
