"""Bad complaint input gets a clear error naming the field or the rule, and nothing starts
or changes: invalid requests never reach Temporal, refused updates never enter history."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import Settings
from promptly.domain import errors
from promptly.domain.common import TimelineKind
from promptly.domain.complaints.models import (
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    ProposeResolutionInput,
)
from promptly.services.cases import CaseExists
from promptly.services.complaints import file_complaint
from promptly.workflows.complaint import ComplaintWorkflow
from tests.complaint_helpers import AGENT, CUSTOMER, SUPERVISOR, complaint, complaint_payload
from tests.helpers import settled


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"severity": "urgent"}, "severity", "'low', 'normal', 'high' or 'critical'"),
        ({"description": "   "}, "description", "at least 1 character"),
        ({"description": ""}, "description", "at least 1 character"),
        ({"received_via": "fax"}, "received_via", "'email', 'phone', 'chat', 'portal'"),
        ({"category": ""}, "category", "at least 1 character"),
        ({"complaint_id": "no spaces please"}, "complaint_id", "should match pattern"),
        ({"priority": "high"}, "priority", "Extra inputs are not permitted"),
    ],
)
def test_invalid_complaint_names_the_field(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ComplaintRequest.model_validate(complaint_payload(**changes))
    problems = {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}
    assert field in problems, problems
    assert reason in problems[field]


def test_customer_without_an_address_for_their_channel_is_refused() -> None:
    payload = complaint_payload()
    payload["customer"] = {**payload["customer"], "email": None}
    with pytest.raises(ValidationError, match="email: required when preferred_channel is email"):
        ComplaintRequest.model_validate(payload)


async def test_cli_refuses_a_bad_file_and_starts_nothing(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    payload = complaint_payload(severity="urgent", description=" ")
    path = tmp_path / "complaint.json"
    path.write_text(json.dumps(payload))
    result = CliRunner().invoke(app, ["complaint", "file", str(path)])
    assert result.exit_code == 2
    assert "severity: Input should be 'low', 'normal', 'high' or 'critical'" in result.output
    assert "description: String should have at least 1 character" in result.output
    with pytest.raises(RPCError) as caught:
        await env.client.get_workflow_handle(f"complaint-{payload['complaint_id']}").describe()
    assert caught.value.status is RPCStatusCode.NOT_FOUND


async def _accepted_updates(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def _refused(
    handle: WorkflowHandle[ComplaintWorkflow, ComplaintView],
    call: Any,
    argument: Any,
    kind: str = errors.TRANSITION_REFUSED,
) -> str:
    """The refusal message; asserts that nothing entered the history."""
    before = await _accepted_updates(handle)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(call, argument)
    assert await _accepted_updates(handle) == before
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == kind
    return cause.message


async def test_verdict_before_any_proposal_and_close_by_the_customer_are_refused(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    before = await handle.query(ComplaintWorkflow.status)

    message = await _refused(
        handle,
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=True, actor=CUSTOMER),
    )
    assert message == "customer_verdict refused: no resolution has been proposed yet"
    message = await _refused(
        handle,
        ComplaintWorkflow.close,
        CloseComplaintInput(reason="never mind", actor=CUSTOMER),
        errors.ACTOR_REFUSED,  # who acts: the API's 403
    )
    assert message == "close refused: only staff (a supervisor) may close a complaint"
    await handle.execute_update(
        ComplaintWorkflow.hold, HoldInput(reason="Waiting for photos", actor=AGENT)
    )
    message = await _refused(handle, ComplaintWorkflow.hold, HoldInput(reason="again", actor=AGENT))
    assert message == "hold refused: the complaint is already on hold"

    after = await handle.query(ComplaintWorkflow.status)
    assert after.status is ComplaintStatus.ON_HOLD
    # Only the accepted hold is in the timeline (with the news of it to the customer).
    added = after.timeline[len(before.timeline) :]
    assert [e.detail for e in added if e.kind is TimelineKind.STATUS] == [
        "On hold, waiting on the customer: Waiting for photos; SLA clock paused until "
        f"{after.hold_until.isoformat() if after.hold_until else ''} at the latest"
    ]
    assert {e.kind for e in added} <= {TimelineKind.STATUS, TimelineKind.MESSAGE}
    # The hold's news out first: a close cancelling it as it completes stalls the
    # time-skipping server (ACTIVITY_UNKNOWN, tests/helpers.py `settled`).
    await settled(env.client, handle.id)
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="test over", actor=SUPERVISOR)
    )
    await handle.result()


async def _once_the_closing_message_is_recorded(
    handle: WorkflowHandle[ComplaintWorkflow, ComplaintView],
) -> ComplaintView:
    """The closing message goes beside the plan: its outcome reaches the timeline a moment
    after `close` returned."""
    async with asyncio.timeout(30):
        while True:
            view = await handle.query(ComplaintWorkflow.status)
            closed_at = max(e.at for e in view.timeline if e.kind is TimelineKind.STATUS)
            if any(e.kind is TimelineKind.MESSAGE and e.at >= closed_at for e in view.timeline):
                return view
            await asyncio.sleep(0.1)


async def test_propose_resolution_on_a_closed_complaint_is_refused_without_a_trace(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    await settled(env.client, handle.id)  # the filing's news out before the close (as above)
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Duplicate of K-1", actor=SUPERVISOR)
    )
    closed = await _once_the_closing_message_is_recorded(handle)

    message = await _refused(
        handle,
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A refund", actor=AGENT),
    )
    assert message == "propose_resolution refused: the complaint is already Closed"
    view = await handle.query(ComplaintWorkflow.status)
    assert view.status is ComplaintStatus.CLOSED and view.resolution is None
    assert view.timeline == closed.timeline
    final = await handle.result()
    assert final.close_reason == "Duplicate of K-1"


async def test_a_second_complaint_with_the_same_id_points_at_the_first(
    env: WorkflowEnvironment, worker: Worker, settings: Settings
) -> None:
    request = complaint()
    first = await file_complaint(env.client, request, settings)
    with pytest.raises(CaseExists) as caught:
        await file_complaint(env.client, request, settings)
    assert caught.value.workflow_id == first.id == f"complaint-{request.complaint_id}"
    await env.sleep(timedelta(minutes=1))  # let its first activities finish before ending it
    await first.terminate("test over")
