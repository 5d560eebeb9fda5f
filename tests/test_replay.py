"""Replay safety (STYLE.md §9): every stored history replays on the current workflow code.

The histories in tests/histories/ come from `tests/record_histories.py`. A change to a
workflow that running cases would replay differently (a new activity, a timer, a reordered
step) fails here; wrap it in `workflow.patched(...)` instead.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from temporalio import workflow

# The sandbox re-imports this module for the workflow class defined below.
with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.worker import Replayer
    from temporalio.workflow import NondeterminismError

    from promptly.domain.appointments.models import (
        AppointmentContinuation,
        AppointmentRequest,
        AppointmentView,
    )
    from promptly.worker import WORKFLOWS, data_converter, workflow_runner
    from promptly.workflows.appointment import AppointmentWorkflow
    from promptly.workflows.patches import (
        ACKNOWLEDGED_NOTICE_MOOT,
        BASELINE,
        BESIDE_THE_PLAN,
        CALLS_RING_BACK_AFTER_NO_ANSWER,
        CASE_SENDS_BESIDE,
        CONFIRMATION_CALL_WRONG_NUMBER_STOPS_CALLS,
        DECISION_MAKES_ITS_REQUEST_MOOT,
        DELAY_JOINS_THE_OPEN_CALL,
        EXCUSE_DECISION_CLOSES_TASK,
        FEE_PLEA_FOR_EVERY_FEE,
        FOLLOW_UP_WAITS_FOR_CONFIRMATION_CALL,
        HELD_ATTEMPT_LEAVES_NO_HOLD,
        HOLD_TELLS_CUSTOMER,
        LAST_CALL_CLOSED_WHEN_UNCONFIRMED,
        MOOT_TASKS_CLEAR_FLAGS,
        NEEDS_ATTENTION_ATTRIBUTE,
        NEWER_NEWS_REPLACES_WAITING,
        PHONE_AGREED_TIME_NOT_READ_OUT,
        PROVIDER_WITHOUT_EMAIL_BY_HAND,
        REMINDER_AFTER_WRONG_NUMBER_IN_WRITING,
        REMINDER_CALL_IS_THE_FOLLOW_UP_ATTEMPT,
        REMINDER_WAITS_FOR_CONFIRMATION_CALL,
        RESCHEDULE_NOTES_CALL_PLAN,
        SMS_FALLS_BACK_TO_EMAIL,
        since,
    )
    from tests.record_histories import HISTORIES, load

STORED = sorted(HISTORIES.glob("*.json"))

# Histories recorded after the `needs-attention-attribute` release, in the order recorded,
# each taking the path of the patches named (asked only on that path: no history recorded
# before it carries them; one recorded after it may pass that way on its own path).
PATCHED_PATHS = {
    "appointment_phone_client_called_once": {
        REMINDER_WAITS_FOR_CONFIRMATION_CALL,
        FOLLOW_UP_WAITS_FOR_CONFIRMATION_CALL,
    },
    "appointment_phone_time_agreed": {PHONE_AGREED_TIME_NOT_READ_OUT},
    "appointment_decision_request_moot": {DECISION_MAKES_ITS_REQUEST_MOOT},
    "complaint_news_replaced": {NEWER_NEWS_REPLACES_WAITING},
    # These two pass where `appointment_phone_client_called_once` does, the calls waiting for
    # the confirmation call, on the way to their own.
    "appointment_confirmation_call_wrong_number": {CONFIRMATION_CALL_WRONG_NUMBER_STOPS_CALLS},
    "appointment_reminder_call_was_the_attempt": {REMINDER_CALL_IS_THE_FOLLOW_UP_ATTEMPT},
    # The reminder after the confirmation call's wrong number goes by email.
    "appointment_reminder_after_wrong_number": {REMINDER_AFTER_WRONG_NUMBER_IN_WRITING},
    # A late cancellation's plea reaches the provider; a second one joins the decision.
    "appointment_late_cancel_pleaded": {FEE_PLEA_FOR_EVERY_FEE},
    # The confirmation SMS Twilio would not take goes by email after its wait.
    "appointment_sms_fell_back_to_email": {SMS_FALLS_BACK_TO_EMAIL},
    # The reminder rung back after the unanswered confirmation call, not read out at once.
    "appointment_confirmation_call_rung_back": {CALLS_RING_BACK_AFTER_NO_ANSWER},
    # An attempt held for the confirmation call goes with its hold cleared.
    "appointment_held_attempt_went": {HELD_ATTEMPT_LEAVES_NO_HOLD},
    # A delay added to the desk's confirmation call still open, not a call of its own.
    "appointment_delay_on_the_open_call": {DELAY_JOINS_THE_OPEN_CALL},
}
# An update decided on a version (`expected_version`) and one refused on it in its handler.
ON_VERSION = "appointment_confirmed_on_version"
RECORDED_LATER = {*PATCHED_PATHS, ON_VERSION}


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
        "inquiry_promoted",
        "complaint_from_inquiry",
        "complaint_resolved_beside",
        "complaint_breached_beside",
        "complaint_hold_expired_beside",
        "inquiry_answered_beside",
        "survey_answered_beside",
        # recorded with the promise ledger (patch `promise-ledger`)
        "appointment_completed_ledger",
        "appointment_no_show_ledger",
        "survey_answered_ledger",
        "complaint_breached_ledger",
        "inquiry_answered_ledger",
        # recorded with every patch of this release at once
        "appointment_completed_current",
        "survey_answered_current",
        "appointment_late_cancel_current",
        "complaint_breached_current",
        "complaint_resolved_current",
        "inquiry_answered_current",
        # recorded on the baseline (one marker for every earlier patch)
        "appointment_completed_baseline",
        "appointment_no_show_baseline",
        "appointment_late_cancel_baseline",
        "appointment_unanswered_call_baseline",
        "survey_answered_baseline",
        "complaint_breached_baseline",
        "complaint_resolved_baseline",
        "complaint_hold_expired_baseline",
        "complaint_reopened_baseline",
        "inquiry_answered_baseline",
        # recorded before only the provider (or staff) reported delays and lifted fees
        "appointment_delay_by_system",
        "appointment_waived_by_client",
        # an outage passed on by hand, before and after the patch `moot-tasks-clear-flags`
        "appointment_passed_on_by_hand",
        "appointment_passed_on_by_hand_before",
        # a provider without email, before and after `provider-without-email-by-hand`
        "appointment_provider_without_email",
        "appointment_provider_without_email_before",
        # the provider acknowledged while the task to tell him was open (`acknowledged-notice-moot`)
        "appointment_acknowledged_at_the_desk",
        # a reschedule that notes the calls planned for the new time (`reschedule-notes-call-plan`)
        "appointment_late_cancel_replanned",
        # a hold the customer is told of (`hold-tells-customer`)
        "complaint_hold_expired_told",
        # flags published as the NeedsAttention search attribute (`needs-attention-attribute`)
        "appointment_passed_on_by_hand_attention",
        "complaint_breached_attention",
        # the paths of the patches after it, and an update's version checked in its handler
        *RECORDED_LATER,
    }


def test_no_stored_history_carries_the_recording_machines_paths() -> None:
    """Failures are stored without their stack traces (`record_histories.without_stack_traces`):
    a trace names the paths of the checkout that recorded it."""
    trace = re.compile(r'"stackTrace": "[^"]')
    carrying = [path.name for path in STORED if trace.search(path.read_text())]
    assert carrying == []


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


def _patches(name: str) -> set[str]:
    history = load(HISTORIES / f"{name}.json")
    return {
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)[
            "id"
        ]
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
    }


@pytest.mark.parametrize("lifecycle", ["completed", "no_show", "late_cancel", "unanswered_call"])
def test_both_sides_of_the_messages_beside_the_plan_patch_are_stored(lifecycle: str) -> None:
    """`messages-beside-the-plan`: cases started before it await their messages in line and
    replay without the marker; cases started after it carry the marker (both replay above)."""
    assert BESIDE_THE_PLAN not in _patches(f"appointment_{lifecycle}")
    assert BESIDE_THE_PLAN in _patches(f"appointment_{lifecycle}_beside")
    summaries = _activity_summaries(f"appointment_{lifecycle}_beside")
    # Ended cases close their open staff tasks.
    assert "close open tasks: case_closed" in summaries


@pytest.mark.parametrize(
    "lifecycle",
    [
        "complaint_resolved",
        "complaint_breached",
        "complaint_hold_expired",
        "inquiry_answered",
        "survey_answered",
    ],
)
def test_both_sides_of_the_case_messages_beside_the_plan_patch_are_stored(lifecycle: str) -> None:
    """`case-messages-beside-the-plan`: complaints, inquiries and surveys started before it
    await their messages in line and replay without the marker; those started after it carry
    the marker and send beside the plan (both replay above)."""
    assert CASE_SENDS_BESIDE not in _patches(lifecycle)
    assert CASE_SENDS_BESIDE in _patches(f"{lifecycle}_beside")


def _updates_and_flags(name: str) -> tuple[list[str], list[str]]:
    """The updates a stored case took, and the flags its result ended with."""
    history = load(HISTORIES / f"{name}.json")
    updates = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    [completed] = [
        event.workflow_execution_completed_event_attributes
        for event in history.events
        if event.HasField("workflow_execution_completed_event_attributes")
    ]
    return updates, json.loads(completed.result.payloads[0].data)["needs_attention"]


def test_both_sides_of_the_moot_tasks_clear_flags_patch_are_stored() -> None:
    """`moot-tasks-clear-flags`: the same outage, passed on by hand, then confirmed by the
    client. Recorded before the patch, the confirmation's moot task left its flag on the
    cancelled case; after it, the flag went with the task. Both replay (above)."""
    before, after = "appointment_passed_on_by_hand_before", "appointment_passed_on_by_hand"
    assert MOOT_TASKS_CLEAR_FLAGS not in _patches(before)
    assert MOOT_TASKS_CLEAR_FLAGS in _patches(after)
    for name, flag_kept in ((before, True), (after, False)):
        updates, flags = _updates_and_flags(name)
        assert updates == ["passed_on", "confirm", "cancel"]
        assert ("confirmation not sent" in flags) is flag_kept
        assert "provider notice not sent" not in flags  # passed on by hand in both


def test_both_sides_of_the_provider_without_email_patch_are_stored() -> None:
    """`provider-without-email-by-hand`: before it, a provider without email was only a note
    and nobody was asked to tell them; after it, the notice is refused at once and the front
    desk gets the task (passed on here). Both replay (above)."""
    before, after = (
        "appointment_provider_without_email_before",
        "appointment_provider_without_email",
    )
    assert PROVIDER_WITHOUT_EMAIL_BY_HAND not in _patches(before)
    assert PROVIDER_WITHOUT_EMAIL_BY_HAND in _patches(after)
    task = "front-desk task: pass on the provider booking"
    assert task not in _activity_summaries(before)
    assert task in _activity_summaries(after)
    assert _updates_and_flags(before) == (["acknowledge", "confirm", "cancel"], [])
    assert _updates_and_flags(after) == (["passed_on", "acknowledge", "confirm", "cancel"], [])


def test_an_acknowledgement_closes_the_task_to_tell_the_provider() -> None:
    """`acknowledged-notice-moot`, asked only when the acknowledgement finds the provider's
    notice retrying or its task open: the cases stored before it never did (all replay)."""
    name = "appointment_acknowledged_at_the_desk"
    assert ACKNOWLEDGED_NOTICE_MOOT in _patches(name)
    assert "close task: acknowledged" in _activity_summaries(name)
    assert not [
        p for p in STORED if p.stem != name and ACKNOWLEDGED_NOTICE_MOOT in _patches(p.stem)
    ]


def _call_plans(name: str) -> list[str]:
    """The follow-up call plans in the timeline a stored case ended with."""
    history = load(HISTORIES / f"{name}.json")
    [completed] = [
        event.workflow_execution_completed_event_attributes
        for event in history.events
        if event.HasField("workflow_execution_completed_event_attributes")
    ]
    timeline = json.loads(completed.result.payloads[0].data)["timeline"]
    return [
        entry["detail"]
        for entry in timeline
        if entry["kind"] == "decision" and "follow-up call(s)" in entry["detail"]
    ]


def test_both_sides_of_the_reschedule_notes_call_plan_patch_are_stored() -> None:
    """`reschedule-notes-call-plan`: the same reschedule a week ahead. Recorded before the
    patch, the timeline kept only the booking's plan; after it, the move notes the new one.
    Both replay (above)."""
    before = ("appointment_late_cancel_baseline", "appointment_late_cancel_current")
    for name in before:
        assert RESCHEDULE_NOTES_CALL_PLAN not in _patches(name)
        assert len(_call_plans(name)) == 1
    after = "appointment_late_cancel_replanned"
    assert RESCHEDULE_NOTES_CALL_PLAN in _patches(after)
    booked, moved = _call_plans(after)
    assert booked != moved  # the calls move with the visit, a week later


def test_both_sides_of_the_hold_tells_customer_patch_are_stored() -> None:
    """`hold-tells-customer`: the same hold ending on its own after 72h. Recorded before the
    patch, the customer first heard of it when it ended; after it, at the hold. Both replay."""
    told = "complaint_on_hold to client via email"
    for name in ("complaint_hold_expired_beside", "complaint_hold_expired_baseline"):
        assert HOLD_TELLS_CUSTOMER not in _patches(name)
        assert told not in _activity_summaries(name)
    after = "complaint_hold_expired_told"
    assert HOLD_TELLS_CUSTOMER in _patches(after)
    summaries = _activity_summaries(after)
    assert told in summaries
    assert summaries.index(told) < summaries.index("hold_ended to client via email")


@pytest.mark.parametrize(
    ("decision", "outcome"), [("waived", "waive_fee"), ("fee_stands", "fee_stands")]
)
def test_both_sides_of_the_excuse_decision_closes_task_patch_are_stored(
    decision: str, outcome: str
) -> None:
    """`excuse-decision-closes-task`: the same excused no-show, decided with the update
    itself. Recorded before the patch, the provider's task stayed open; after it, the
    decision closes it. Both replay (above)."""
    before, after = f"appointment_excuse_{decision}_before", f"appointment_excuse_{decision}"
    assert EXCUSE_DECISION_CLOSES_TASK not in _patches(before)
    assert f"close task: {outcome}" not in _activity_summaries(before)
    assert EXCUSE_DECISION_CLOSES_TASK in _patches(after)
    assert f"close task: {outcome}" in _activity_summaries(after)


def test_both_sides_of_the_last_call_closed_when_unconfirmed_patch_are_stored() -> None:
    """`last-call-closed-when-unconfirmed`: the same silent client. Recorded before the
    patch, the last call's task stayed open when the client was found unconfirmed; after it,
    it closes as the earlier unanswered ones do. Both replay (above)."""
    before, after = "appointment_no_show", "appointment_no_show_last_call_closed"
    assert LAST_CALL_CLOSED_WHEN_UNCONFIRMED not in _patches(before)
    assert LAST_CALL_CLOSED_WHEN_UNCONFIRMED in _patches(after)
    unanswered = "close task: no_outcome"
    assert _activity_summaries(after).count(unanswered) == (
        _activity_summaries("appointment_no_show_beside").count(unanswered) + 1
    )


def _attention_upserts(name: str) -> list[list[str]]:
    """The values a stored case upserted into its NeedsAttention search attribute, in order."""
    history = load(HISTORIES / f"{name}.json")
    upserted = [
        event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for event in history.events
        if event.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    return [
        json.loads(fields["NeedsAttention"].data or b"[]")
        for fields in upserted
        if "NeedsAttention" in fields
    ]


def test_both_sides_of_the_needs_attention_attribute_patch_are_stored() -> None:
    """`needs-attention-attribute`: the same outage passed on by hand, the same breach.
    Recorded before the patch, the flags stayed out of visibility; after it, each save with
    other flags upserts them (a confirmation's flag goes with the client's confirmation).
    Both replay (above); no history recorded before it asks it."""
    pairs = (
        ("appointment_passed_on_by_hand", "appointment_passed_on_by_hand_attention"),
        ("complaint_breached_baseline", "complaint_breached_attention"),
    )
    for before, after in pairs:
        assert NEEDS_ATTENTION_ATTRIBUTE not in _patches(before)
        assert _attention_upserts(before) == []
        assert NEEDS_ATTENTION_ATTRIBUTE in _patches(after)
    appointment = _attention_upserts("appointment_passed_on_by_hand_attention")
    assert appointment[0] == ["confirmation not sent"]
    assert "confirmation not sent" not in appointment[-1]
    assert _attention_upserts("complaint_breached_attention") == [["sla breached"]]
    assert not [
        path.stem
        for path in STORED
        if not path.stem.endswith("_attention")
        and path.stem not in RECORDED_LATER
        and NEEDS_ATTENTION_ATTRIBUTE in _patches(path.stem)
    ]


def _timeline(name: str) -> list[str]:
    """The details of the timeline a stored case ended with."""
    history = load(HISTORIES / f"{name}.json")
    [completed] = [
        event.workflow_execution_completed_event_attributes
        for event in history.events
        if event.HasField("workflow_execution_completed_event_attributes")
    ]
    return [entry["detail"] for entry in json.loads(completed.result.payloads[0].data)["timeline"]]


@pytest.mark.parametrize(("name", "patches"), sorted(PATCHED_PATHS.items()))
def test_a_stored_history_takes_each_patched_path_of_the_release(
    name: str, patches: set[str]
) -> None:
    """Each patch asked only on its path is stored taking it (and replays, above); the
    histories recorded before it never asked it."""
    recorded = list(PATCHED_PATHS)
    after = set(recorded[recorded.index(name) + 1 :])
    assert patches <= _patches(name)
    for patch in patches:
        carrying = [p.stem for p in STORED if patch in _patches(p.stem) and p.stem not in after]
        assert carrying == [name], patch


def test_the_stored_patched_paths_are_what_the_client_and_the_desk_saw() -> None:
    called_once = _timeline("appointment_phone_client_called_once")
    assert any(d.startswith("Reminder waits for the confirmation call") for d in called_once)
    assert any(d.startswith("Call attempt 1 waits for the confirmation call") for d in called_once)
    assert "The new time was agreed on the call: no call to read it out again" in _timeline(
        "appointment_phone_time_agreed"
    )
    assert [d for d in _timeline("complaint_news_replaced") if "a newer one replaces it" in d]
    wrong_number = _timeline("appointment_confirmation_call_wrong_number")
    assert "Call attempt 1: wrong_number (the confirmation call)" in wrong_number
    assert "Wrong number: the client cannot be reached by phone" in wrong_number
    assert not [d for d in wrong_number if d.startswith("Call attempt 2")]
    reminder_call = _timeline("appointment_reminder_call_was_the_attempt")
    assert any(d.startswith("Call attempt 2 of 2 is the reminder's call") for d in reminder_call)
    assert "No confirmation after 2 call attempt(s)" in reminder_call
    in_writing = _timeline("appointment_reminder_after_wrong_number")
    assert "Call attempt 1: wrong_number (the confirmation call)" in in_writing
    assert (
        "The number on file is wrong: the reminder goes by email, not read out to +48600100200"
        in in_writing
    )
    reminders = [d for d in in_writing if d.startswith("Reminder: ")]
    assert len(reminders) == 1 and "(client, email," in reminders[0], reminders
    summaries = _activity_summaries("appointment_reminder_after_wrong_number")
    assert "reminder to client via email" in summaries
    assert "reminder to client via phone" not in summaries


def test_the_stored_calls_to_a_phone_client_come_one_at_a_time() -> None:
    rung_back = _timeline("appointment_confirmation_call_rung_back")
    assert any(
        d.startswith("The confirmation call was not answered: the reminder is read out at the next")
        for d in rung_back
    ), rung_back
    held = _timeline("appointment_held_attempt_went")
    assert "Call task for the front desk: attempt 1 of 2" in held
    assert "No confirmation after 2 call attempt(s)" not in held
    delayed = _timeline("appointment_delay_on_the_open_call")
    assert any(
        d.startswith("The provider's delay (30 min) is added to the desk's call") for d in delayed
    )
    summaries = _activity_summaries("appointment_delay_on_the_open_call")
    assert "call script: the provider's delay" in summaries
    assert not [s for s in summaries if s.startswith("delay_notice")], summaries


def test_an_update_decided_on_a_version_is_stored_beside_one_refused_in_its_handler() -> None:
    """Two updates admitted together on one `expected_version`: the first applied, the
    second refused in its handler (the check that runs again on replay, above)."""
    history = load(HISTORIES / f"{ON_VERSION}.json")
    accepted = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    versions = [
        json.loads(update.args.payloads[0].data).get("expected_version") for update in accepted
    ]
    decided_on = [version for version in versions if version is not None]
    assert len(decided_on) == 2 and len(set(decided_on)) == 1, versions
    outcomes = [
        event.workflow_execution_update_completed_event_attributes.outcome
        for event in history.events
        if event.HasField("workflow_execution_update_completed_event_attributes")
    ]
    refused = [o.failure.message for o in outcomes if o.HasField("failure")]
    assert len(refused) == 1 and f"changed since version {decided_on[0]}" in refused[0], refused


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


@pytest.mark.parametrize(
    ("name", "patches"),
    [
        (
            "appointment_completed_current",
            {
                "messages-beside-the-plan",
                "promise-ledger",
                "record-before-answer",
            },
        ),
        ("survey_answered_current", {"case-messages-beside-the-plan", "promise-ledger"}),
        (
            "complaint_resolved_current",
            {
                "case-messages-beside-the-plan",
                "promise-ledger",
                "record-before-answer",
            },
        ),
        (
            "inquiry_answered_current",
            {"case-messages-beside-the-plan", "promise-ledger"},
        ),
        (
            "complaint_reopened_current",
            {
                "case-messages-beside-the-plan",
                "promise-ledger",
                "record-before-answer",
                "complaint-moot-on-hold-and-reopen",
            },
        ),
    ],
)
def test_the_current_histories_carry_every_patch_of_the_release(
    name: str, patches: set[str]
) -> None:
    assert patches <= _patches(name)


BASELINE_HISTORIES = sorted(HISTORIES.glob("*_baseline.json"))


@pytest.mark.parametrize("path", BASELINE_HISTORIES, ids=[p.stem for p in BASELINE_HISTORIES])
def test_a_case_on_the_baseline_carries_one_marker_for_every_patch(path: Path) -> None:
    """The baseline folds the patches before it: a case started on it records its marker
    and no other (each folded patch would cost the marker and a TemporalChangeVersion
    upsert), and still runs every folded change: its messages beside the plan, its ledger."""
    assert _patches(path.stem) == {BASELINE}
    summaries = _activity_summaries(path.stem)
    # Ended cases close the staff tasks their messages left (beside the plan).
    assert any(
        summary.startswith(("close open tasks", "close message tasks")) for summary in summaries
    )
    # Promise rows ride on the record (the ledger's query reads them).
    history = load(path)
    records = [
        event.activity_task_scheduled_event_attributes.input
        for event in history.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == "record_case"
    ]
    assert any(b'"promises":[{' in payload.payloads[0].data for payload in records)


def test_the_same_visit_takes_fewer_commands_on_the_baseline() -> None:
    """On the baseline the client record is read locally in the booking's task, a message
    step is stored with its messages' outcome, and a completed visit notes its survey first,
    then writes its billing and starts the survey together: the same visit stores the case
    fewer times and takes fewer events than on the patches before it."""
    read = "client record: prepayment after a no-show"
    current = _activity_summaries("appointment_completed_current")
    baseline = _activity_summaries("appointment_completed_baseline")
    assert read in current and read not in baseline
    assert baseline.count("record case") < current.count("record case")
    events = {
        name: len(load(HISTORIES / f"appointment_completed_{name}.json").events)
        for name in ("current", "baseline")
    }
    assert events["baseline"] < events["current"]


def test_a_patch_newer_than_the_baseline_is_not_answered_by_it() -> None:
    with pytest.raises(ValueError, match="not folded"):
        since("a-patch-added-after-the-baseline")


def test_the_stored_fallback_emailed_the_sms_twilio_would_not_take() -> None:
    timeline = _timeline("appointment_sms_fell_back_to_email")
    [confirmation] = [d for d in timeline if "by email instead of SMS" in d]
    assert "(client, email, sent)" in confirmation
    assert confirmation.endswith("the SMS had not gone out after 1h")
