"""What one send attempt's outcome leaves behind, with no recipient data: its count on the
`promptly_messages` counter and, for an attempt that will be retried, one log line."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from promptly.activities.channels import TransientDeliveryError
from promptly.domain import metrics
from promptly.domain.messages import SendMessageRequest


def _transient_outcome(err: TransientDeliveryError) -> str:
    if err.credentials:
        return "credentials"
    return "throttled" if err.throttled else "retrying"


def _log_retry(request: SendMessageRequest, err: TransientDeliveryError, delay: timedelta) -> None:
    """One line per attempt that will be retried: the key and the provider's answer. Refused
    credentials are an ERROR (nothing goes out on the channel until someone fixes them); a
    busy or failing provider is only INFO (the retry is the remedy)."""
    attempt = activity.info().attempt
    if err.credentials:
        activity.logger.error(
            "%s: %s (attempt %d; retried in %s while its budget lasts)",
            request.idempotency_key,
            err,
            attempt,
            delay,
        )
        return
    unknown = "; the channel may have taken it" if err.maybe_taken else ""
    activity.logger.info(
        "%s: %s (attempt %d%s; retried in %s)",
        request.idempotency_key,
        err,
        attempt,
        unknown,
        delay,
    )


def _count(request: SendMessageRequest, outcome: str) -> None:
    """One message outcome on the `promptly_messages` counter (no recipient data)."""
    activity.metric_meter().create_counter(metrics.MESSAGES, metrics.HELP[metrics.MESSAGES]).add(
        1,
        {"channel": request.channel.value, "template": request.template, "outcome": outcome},
    )
