"""`read_out_closed` (the desk's record of how a call reading out a message ended) is judged
on arrival: the desk (staff) or a back-office key, one of the case's own messages, a case
that has not ended. A refused one writes nothing to the case's history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.domain import errors
from promptly.domain.appointments.models import CancelInput
from promptly.domain.common import SYSTEM
from promptly.domain.read_outs import ReadOutClosedInput, ReadOutOutcome
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow
from tests.helpers import CLIENT, PROVIDER, STAFF, appointment, end_workflows, settled


async def _accepted(handle: WorkflowHandle[Any, Any]) -> int:
    """How many updates the case's history took in (the case's own steps may write other
    events meanwhile: a refused update writes none of its own)."""
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum(e.event_type == accepted for e in (await handle.fetch_history()).events)


async def _refused(
    handle: WorkflowHandle[Any, Any], command: ReadOutClosedInput
) -> ApplicationError:
    """The refusal of `command`; the case's history took no update in (the test server still
    writes the workflow task that refused it)."""
    before = await _accepted(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(AppointmentWorkflow.read_out_closed, command)
    assert await _accepted(handle) == before
    assert isinstance(refused.value.cause, ApplicationError)
    return refused.value.cause


async def test_read_out_closed_is_judged_on_arrival(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    now = await env.get_current_time()
    request = appointment(now + timedelta(days=5), locale="en", timezone="UTC")
    handle = await book(env.client, request, settings, now)
    await settled(env.client, handle.id)
    own_key = f"{handle.id}/confirmation/r0"

    def read_out(key: str = own_key, **changes: object) -> ReadOutClosedInput:
        return ReadOutClosedInput(
            message_key=key, outcome=ReadOutOutcome.REACHED, actor=STAFF
        ).model_copy(update=changes)

    # The desk and a back-office key are heard while the case runs.
    await handle.execute_update(AppointmentWorkflow.read_out_closed, read_out())
    await handle.execute_update(AppointmentWorkflow.read_out_closed, read_out(actor=SYSTEM))
    await settled(env.client, handle.id)

    for who in (CLIENT, PROVIDER):
        refusal = await _refused(handle, read_out(actor=who))
        assert refusal.type == errors.ACTOR_REFUSED and who.kind.value in refusal.message
    for key in ("no-such-key", "appointment-someone-else/confirmation/r0"):
        refusal = await _refused(handle, read_out(key))
        assert refusal.type == errors.INVALID_FIELD and "message_key" in refusal.details
    await handle.execute_update(AppointmentWorkflow.cancel, CancelInput(reason="x", actor=CLIENT))
    await settled(env.client, handle.id)
    refusal = await _refused(handle, read_out())
    assert refusal.type == errors.TRANSITION_REFUSED
    assert "read_out_closed refused: the appointment is already Cancelled" in refusal.message
    await end_workflows(env, handle.id)
