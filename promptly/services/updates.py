"""Running an update on a case from the API or the CLI: bounded in time, idempotent by id,
its refusal a `ServiceError` (409 with the workflow's reason, 404 for a missing case)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from promptly.services.errors import ErrorCode, ServiceError, temporal_errors

QUERY_TIMEOUT = timedelta(seconds=10)


async def bounded_update(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    argument: BaseModel,
    timeout: timedelta,
    update_id: str | None = None,
) -> Any:
    """`execute_update` that gives up after `timeout` in all.

    The SDK repeats its long poll until the workflow accepts the update, so a per-call RPC
    timeout alone would wait forever on a workflow whose tasks keep failing. Giving up
    raises WorkflowUpdateRPCTimeoutOrCancelledError (504); the update may still apply.
    `update_id` (from an Idempotency-Key) makes a repeat the same update: Temporal applies
    it once in the run and answers its first outcome again.
    """
    async with asyncio.timeout(timeout.total_seconds()):
        return await handle.execute_update(update, argument, id=update_id, rpc_timeout=timeout)


async def run_update(
    handle: WorkflowHandle[Any, Any],
    noun: str,
    update: Any,
    argument: BaseModel,
    timeout: timedelta,
    update_id: str | None = None,
) -> Any:
    """Execute the update; a refusal is 409 with its reason, a missing case 404."""
    try:
        with temporal_errors(f"no such {noun} (workflow {handle.id})", keyed=update_id is not None):
            return await bounded_update(handle, update, argument, timeout, update_id)
    except ServiceError as err:
        if err.status != 404:
            raise
        try:
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            raise err from None
        state = description.status.name.lower() if description.status else "closed"
        raise ServiceError(
            409,
            f"the {noun}'s case is closed ({state}); nothing changed",
            code=ErrorCode.CASE_CLOSED,
        ) from None
