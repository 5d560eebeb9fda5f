"""Replay safety (STYLE.md §9): every stored history replays on the current workflow code.

The histories in tests/histories/ come from `tests/record_histories.py`. A change to a
workflow that running cases would replay differently (a new activity, a timer, a reordered
step) fails here; wrap it in `workflow.patched(...)` instead.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio import workflow

# The sandbox re-imports this module for the workflow class defined below.
with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.worker import Replayer
    from temporalio.workflow import NondeterminismError

    from promptly.domain.models import (
        AppointmentContinuation,
        AppointmentRequest,
        AppointmentView,
    )
    from promptly.worker import WORKFLOWS, data_converter, workflow_runner
    from promptly.workflows.appointment import AppointmentWorkflow
    from tests.record_histories import HISTORIES, load

STORED = sorted(HISTORIES.glob("*.json"))


def replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows) or WORKFLOWS,
        data_converter=data_converter(),
        workflow_runner=workflow_runner(),
    )


def test_the_representative_lifecycles_are_stored() -> None:
    assert {path.stem for path in STORED} >= {
        "appointment_completed",
        "appointment_no_show",
        "appointment_late_cancel",
        "appointment_unanswered_call",
        "survey_answered",
        "complaint_resolved",
        "complaint_breached",
        "complaint_hold_expired",
        "inquiry_answered",
    }


@pytest.mark.parametrize("path", STORED, ids=[path.stem for path in STORED])
async def test_stored_history_replays_on_the_current_code(path: Path) -> None:
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def _activity_summaries(name: str) -> list[str]:
    history = load(HISTORIES / f"{name}.json")
    return [
        data_converter().payload_converter.from_payload(event.user_metadata.summary, str)
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.user_metadata.HasField("summary")
    ]


def test_both_sides_of_the_superseded_call_task_patch_are_stored() -> None:
    """`close-superseded-call-task`: a case started before it left call task 2 open when
    call 3 came; one started after closes it. Both histories replay (above)."""
    before = _activity_summaries("appointment_no_show")
    assert "call attempt 3 of 3" in before
    assert not [summary for summary in before if "no_outcome" in summary]
    after = _activity_summaries("appointment_unanswered_call")
    assert after.index("close call task 2: no_outcome") < after.index("call attempt 3 of 3")


# A deliberately incompatible version of the appointment workflow, registered under the real
# workflow type name: it waits a minute before anything else, so its first command (a timer)
# is not the local activity the stored histories begin with.
@workflow.defn(name="AppointmentWorkflow")
class ChangedAppointmentWorkflow(AppointmentWorkflow):
    @workflow.run
    async def run(self, request: AppointmentRequest | AppointmentContinuation) -> AppointmentView:
        await workflow.sleep(timedelta(minutes=1))
        return await super().run(request)


async def test_a_changed_workflow_fails_replay_with_nondeterminism() -> None:
    history = load(HISTORIES / "appointment_completed.json")
    with pytest.raises(NondeterminismError):
        await replayer(ChangedAppointmentWorkflow).replay_workflow(history)
