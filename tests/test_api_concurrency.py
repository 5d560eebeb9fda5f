"""Two people changing one case at once lose no change: a case's GET and every update answer
carry an `ETag` (the view's `version`), and an update sent with `If-Match` is refused with 412
when the case changed since, the case untouched. Errors carry a `code` a program can switch on.

On the dev server with a worker and PostgreSQL, as an HTTP caller sees it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.testing import WorkflowEnvironment

from tests.api_support import BACKOFFICE_KEY, STAFF_KEY, eventually
from tests.helpers import appointment, settled

WARSAW = ZoneInfo("Europe/Warsaw")


def _start(days: int, hour: int = 10) -> datetime:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW)


async def _booked(api: httpx.AsyncClient, dev_env: WorkflowEnvironment) -> tuple[str, str]:
    """A booked visit, its messages sent (nothing changes it on its own for days): its path
    and its ETag."""
    body = appointment(_start(days=10)).model_dump(mode="json")
    booked = await api.post("/appointments", json=body, headers=BACKOFFICE_KEY)
    assert booked.status_code == 201, booked.text
    await settled(dev_env.client, booked.json()["workflow_id"])
    path = f"/appointments/{body['appointment_id']}"
    return path, await _etag(api, dev_env, path)


async def _etag(api: httpx.AsyncClient, dev_env: WorkflowEnvironment, path: str) -> str:
    """The case's ETag once what it started has finished (sends beside an update)."""
    await settled(dev_env.client, f"appointment-{path.rsplit('/', 1)[1]}")
    read = await eventually(api, path, lambda r: r.status_code == 200, STAFF_KEY)
    tag = read.headers["ETag"]
    assert tag == f'"{read.json()["version"]}"', "the ETag is the view's version, quoted"
    return tag


def _refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["reason"] and body["request_id"], body
    return body


async def test_an_update_decided_on_an_older_state_is_refused_with_412_and_changes_nothing(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    path, tag = await _booked(api, dev_env)

    moved = await api.post(
        f"{path}/reschedule",
        json={"new_start": _start(days=11).isoformat()},
        headers={**STAFF_KEY, "If-Match": tag},
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["ETag"] == f'"{moved.json()["version"]}"' != tag

    # Someone who read the case before the reschedule cancels it: refused, the case as it was.
    stale = await api.post(
        f"{path}/cancel", json={"reason": "client called"}, headers={**STAFF_KEY, "If-Match": tag}
    )
    body = _refused(stale, 412, "precondition_failed")
    assert "changed since" in body["reason"]
    now = (await api.get(path, headers=STAFF_KEY)).json()
    assert now["status"] == "Booked"
    assert datetime.fromisoformat(now["start"]) == _start(days=11)

    # Read again, decide again: accepted. `*` and no If-Match check nothing, as before.
    fresh = await _etag(api, dev_env, path)
    confirmed = await api.post(f"{path}/confirm", headers={**STAFF_KEY, "If-Match": fresh})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "Confirmed"
    anyway = await api.post(f"{path}/acknowledge", headers={**STAFF_KEY, "If-Match": "*"})
    assert anyway.status_code == 200, anyway.text
    unchecked = await api.post(
        f"{path}/reschedule", json={"new_start": _start(days=12).isoformat()}, headers=STAFF_KEY
    )
    assert unchecked.status_code == 200, unchecked.text

    # A weak tag or a list is bad input naming the header.
    for bad in (f"W/{fresh}", f"{fresh}, {tag}"):
        refused = await api.post(f"{path}/confirm", headers={**STAFF_KEY, "If-Match": bad})
        body = _refused(refused, 422, "invalid")
        assert [problem["field"] for problem in body["errors"]] == ["If-Match"]


async def test_two_changes_at_once_on_the_same_version_one_wins_the_other_is_412(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    path, tag = await _booked(api, dev_env)
    headers = {**STAFF_KEY, "If-Match": tag}
    answers = await asyncio.gather(
        api.post(f"{path}/reschedule", json={"new_start": _start(11).isoformat()}, headers=headers),
        api.post(f"{path}/reschedule", json={"new_start": _start(12).isoformat()}, headers=headers),
        api.post(f"{path}/cancel", json={"reason": "client called"}, headers=headers),
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 412, 412], [answer.text for answer in answers]
    [won] = [answer for answer in answers if answer.status_code == 200]
    for lost in (answer for answer in answers if answer.status_code == 412):
        assert lost.json()["code"] == "precondition_failed"
    now = (await api.get(path, headers=STAFF_KEY)).json()
    assert (now["status"], now["start"]) == (won.json()["status"], won.json()["start"])
    assert len([e for e in now["timeline"] if e["detail"].startswith("Rescheduled")]) <= 1


async def test_a_keyed_repeat_of_an_update_with_if_match_answers_its_first_answer(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """The version moved with the first request; its repeat is the same action, not a second
    one decided on an older state: the first answer again, with its ETag."""
    path, tag = await _booked(api, dev_env)
    headers = {**STAFF_KEY, "If-Match": tag, "Idempotency-Key": str(uuid.uuid4())}
    first = await api.post(f"{path}/cancel", json={"reason": "ill"}, headers=headers)
    assert first.status_code == 200, first.text
    again = await api.post(f"{path}/cancel", json={"reason": "ill"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]


async def test_errors_carry_a_code_a_program_can_switch_on(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    path, _ = await _booked(api, dev_env)
    current = (await api.get(path, headers=STAFF_KEY)).json()["start"]
    same = await api.post(f"{path}/reschedule", json={"new_start": current}, headers=STAFF_KEY)
    _refused(same, 409, "conflict.same_time")

    # A back-office key reporting a delay under its own name: a refusal of who acts, as any
    # role's, 403 (it was a 409).
    relayed = await api.post(
        f"{path}/report_delay", json={"minutes": 5, "reason": "-"}, headers=BACKOFFICE_KEY
    )
    _refused(relayed, 403, "forbidden")

    key = {**STAFF_KEY, "Idempotency-Key": str(uuid.uuid4())}
    cancelled = await api.post(f"{path}/cancel", json={"reason": "ill"}, headers=key)
    assert cancelled.status_code == 200, cancelled.text
    other = await api.post(f"{path}/cancel", json={"reason": "other"}, headers=key)
    _refused(other, 422, "idempotency_key_reused")
    again = await api.post(f"{path}/cancel", json={"reason": "twice"}, headers=STAFF_KEY)
    _refused(again, 409, "conflict.already_ended")

    _refused(await api.get("/appointments/NOPE-404", headers=STAFF_KEY), 404, "not_found")
    _refused(await api.get(path), 401, "unauthenticated")
    bad = await api.post(f"{path}/report_delay", json={"minutes": 0}, headers=STAFF_KEY)
    _refused(bad, 422, "invalid")

    schema = (await api.get("/openapi.json")).json()["components"]["schemas"]
    error = schema["ErrorBody"]
    assert "code" in error["required"]
    codes = schema[error["properties"]["code"]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert {"precondition_failed", "conflict.already_ended", "forbidden"} <= set(codes)


async def test_a_case_reset_after_an_update_with_if_match_replays_and_goes_on(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """An ops engineer resets a case in the Temporal UI (a new run replays the old events):
    the update decided on a version replays as it ran, though the run is another."""
    path, tag = await _booked(api, dev_env)
    confirmed = await api.post(f"{path}/confirm", json={}, headers={**STAFF_KEY, "If-Match": tag})
    assert confirmed.status_code == 200, confirmed.text
    workflow_id = f"appointment-{path.rsplit('/', 1)[1]}"
    await settled(dev_env.client, workflow_id)
    handle = dev_env.client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    [*_, last_task] = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    reset = await dev_env.client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=dev_env.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            reason="ops: reset after a worker fix",
            workflow_task_finish_event_id=last_task.event_id,
            request_id=str(uuid.uuid4()),
        )
    )
    new_run = dev_env.client.get_workflow_handle(workflow_id, run_id=reset.run_id)
    acknowledged = await api.post(f"{path}/acknowledge", json={}, headers=STAFF_KEY)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "Confirmed"
    failed = [
        e
        for e in (await new_run.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        # The reset's own marker, not a failure of the new run's code.
        and e.workflow_task_failed_event_attributes.cause
        != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    ]
    assert not failed, failed[0].workflow_task_failed_event_attributes.failure.message
    await new_run.terminate("test over")
