"""One attempt of a send, as it meets the workflow's cancellation: the heartbeat that carries the
error count from attempt to attempt and lets a crash or a cancellation reach the attempt, the
check right before the provider call, and the provider's answer awaited to its end (the
message may already be out)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from temporalio import activity

from promptly.activities.channels import HEARTBEAT_EVERY


def previous_errors() -> int:
    """Channel errors of the earlier attempts, carried in the heartbeat details.

    A server that drops the details of a failed attempt (older than 1.16, or the
    time-skipping test server) leaves only the attempt number: every earlier attempt is then
    counted as an error, as if throttling were one.
    """
    info = activity.info()
    details = info.heartbeat_details
    if details and isinstance(details[0], int):
        return details[0]
    return max(info.attempt - 1, 0)


async def keep_heartbeating(errors_so_far: int) -> None:
    """Heartbeat for the whole attempt: a crash shows within the heartbeat timeout, and a
    cancellation requested by the workflow reaches the attempt."""
    while True:
        activity.heartbeat(errors_so_far)
        await asyncio.sleep(HEARTBEAT_EVERY)


async def not_cancelled(errors_so_far: int) -> None:
    """Right before the provider call: a send the workflow cancelled must not go out."""
    activity.heartbeat(errors_so_far)
    await asyncio.sleep(0)
    if activity.is_cancelled():
        raise asyncio.CancelledError("send cancelled before the provider call")


async def answered(provider_call: Awaitable[str]) -> str:
    """The provider's answer, awaited to its end even when the send is cancelled meanwhile.

    The request may already have reached the provider, and the message the client: stopping
    the wait would not stop the message, only leave the ledger `pending` and then `abandoned`
    for a message that went out. So the answer is recorded as it is."""
    call = asyncio.ensure_future(provider_call)
    while True:
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            if call.cancelled() or not activity.is_cancelled():
                raise
            activity.logger.info("send cancelled during the provider call: recording its answer")


def stop_if_cancelled() -> None:
    """After a provider's refusal: a cancelled send ends as cancelled (nothing went out, and
    nobody needs to pass on a message the case no longer wants)."""
    if activity.is_cancelled():
        raise asyncio.CancelledError("send cancelled while the provider refused it")
