"""Whole complaint lifecycles on the time-skipping server with the real activities.

Times are asserted on the message rows the activities wrote to PostgreSQL (`requested_at`
is when the workflow asked for the message, in Temporal's time).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from promptly.config import Settings
from promptly.domain.complaints.models import (
    AddNoteInput,
    Assignee,
    AssignInput,
    CloseComplaintInput,
    ComplaintStatus,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    NoteVisibility,
    ProposeResolutionInput,
    ResumeInput,
)
from promptly.domain.readable_time import readable
from promptly.services.complaints import file_complaint
from promptly.services.history import load_case
from promptly.services.history_models import Format
from promptly.services.history_render import render_case
from promptly.worker import create_worker, data_converter, workflow_runner
from promptly.workflows.complaint import MAX_TIMELINE, ComplaintWorkflow
from tests.complaint_helpers import (
    AGENT,
    CUSTOMER,
    SUPERVISOR,
    advance_to,
    awake,
    complaint,
    complaint_payload,
    contact,
    matrix,
    minutes,
    offsets,
    sent,
    to_local_hour,
    update_due,
    write_matrix,
)
from tests.helpers import close_to, message_of, messages, next_local, timeline_rows

H = timedelta(hours=1)
WARSAW = ZoneInfo("Europe/Warsaw")


async def replays(handle: WorkflowHandle[ComplaintWorkflow, ComplaintView]) -> None:
    """The finished history replays on the current code without non-determinism."""
    history = await handle.fetch_history()
    result = await Replayer(
        workflows=[ComplaintWorkflow],
        data_converter=data_converter(),
        workflow_runner=workflow_runner(),  # the worker's sandbox
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_resolved_in_10h_acknowledged_routed_confirmed_closed_and_surveyed(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)  # filed at 09:00 on the customer's clock
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    filed = view.filed_at
    assert view.status is ComplaintStatus.OPEN
    assert view.department == "customer_care" and view.escalation_level == 0
    assert view.sla_deadline == filed + 48 * H
    assert view.next_escalation_at == filed + 24 * H

    await advance_to(env, filed + 9 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A 50% refund and an apology.", actor=AGENT),
    )
    assert view.status is ComplaintStatus.RESOLUTION_PROPOSED
    assert view.sla_deadline is None  # the clock waits for the customer
    await advance_to(env, filed + 10 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=True, comment="Thanks", actor=CUSTOMER),
    )
    assert view.status is ComplaintStatus.CLOSED
    final = await handle.result()

    assert offsets(await sent(pool, request.workflow_id), filed) == [
        ("complaint_ack", "client", timedelta(0)),
        ("complaint_department", "department", timedelta(0)),
        ("resolution_proposed", "client", 9 * H),
        ("complaint_closed", "client", 10 * H),
        # 2h after closing is 21:00, in the customer's quiet hours: the next 08:00.
        ("complaint_survey", "client", minutes(awake(settings, filed + 12 * H) - filed)),
    ]
    assert final.escalation_level == 0 and not final.sla_breached
    assert final.survey_sent and final.closed_at and close_to(final.closed_at, filed + 10 * H)
    # A Polish customer reads the category and the department in Polish (the matrix's names);
    # the department's own notice keeps the ids staff route by.
    rows = {r["template"]: r["body"] for r in await messages(pool, request.workflow_id)}
    assert "Temat:              obsługa" in rows["complaint_ack"]
    assert "Zajmuje się:        Obsługa klienta" in rows["complaint_ack"]
    assert "Customer care" not in rows["complaint_ack"]
    stored = await timeline_rows(pool, request.workflow_id)
    assert [row["detail"] for row in stored] == [e.detail for e in final.timeline]
    # Whoever reads the history later finds the customer's own words in it.
    async with pool.connection() as conn:
        exported = await load_case(conn, request.workflow_id, "Europe/Warsaw")
    assert exported.entries[0].data["description"] == request.description
    assert f"> {request.description}" in render_case(exported, Format.MD)


async def test_silent_department_gets_supervisor_at_24h_and_breaches_at_exactly_48h(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at

    await advance_to(env, filed + 24 * H - timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.escalation_level == 0
    assert [t for t, _, _ in await sent(pool, request.workflow_id)] == [
        "complaint_ack",
        "complaint_department",
    ]

    await advance_to(env, filed + 48 * H - timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.escalation_level == 1 and not view.sla_breached
    assert view.status is ComplaintStatus.OPEN and view.sla_deadline == filed + 48 * H

    await advance_to(env, filed + 48 * H + timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.escalation_level == 2 and view.sla_breached
    # The customer was promised a new timeline and the manager as their contact.
    assert view.sla_deadline == filed + 72 * H
    assert view.contact.email == "care-manager@promptly.example"
    assert "sla breached" in view.needs_attention
    described = await handle.describe()
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes["ComplaintStatus"] == "Open"
    assert attributes["Department"] == "customer_care"
    assert attributes["SlaBreached"] is True and attributes["EscalationLevel"] == 2
    assert attributes["SlaDeadline"] == filed + 72 * H

    await handle.execute_update(
        ComplaintWorkflow.close,
        CloseComplaintInput(reason="Refund issued by the manager", actor=SUPERVISOR),
    )
    final = await handle.result()
    assert final.status is ComplaintStatus.CLOSED
    rows = await sent(pool, request.workflow_id)
    assert offsets(rows, filed)[:7] == [
        ("complaint_ack", "client", timedelta(0)),
        ("complaint_department", "department", timedelta(0)),
        ("complaint_alert", "supervisor", 24 * H),
        # The customer learns of the supervisor tier too; that notice is their 24h update.
        ("escalation", "client", minutes(awake(settings, filed + 24 * H) - filed)),
        ("complaint_alert", "manager", 48 * H),
        # The escalation notice is the customer's update at 48h (no second message then).
        ("escalation", "client", minutes(awake(settings, filed + 48 * H) - filed)),
        ("complaint_closed", "client", 48 * H + timedelta(minutes=1)),
    ]
    body = (await messages(pool, request.workflow_id))[5]["body"]
    assert "care-manager@promptly.example" in body
    assert [t for t, _, _ in rows[7:]] == ["complaint_survey"]


async def test_hold_for_30h_moves_every_deadline_by_30h_and_stops_the_updates(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at

    await advance_to(env, filed + 10 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.hold,
        HoldInput(reason="Waiting for the customer's invoice copy", actor=AGENT),
    )
    held_at = await env.get_current_time()
    assert view.status is ComplaintStatus.ON_HOLD and view.sla_deadline is None
    assert view.next_escalation_at is None and view.next_status_update_at is None
    # The customer hears what the case waits for, and until when at most (72h, in Warsaw).
    assert view.hold_until and close_to(view.hold_until, held_at + 72 * H)
    on_hold = (await message_of(pool, request.workflow_id, "complaint_on_hold"))["body"]
    assert (
        "do czasu otrzymania informacji od Państwa (Waiting for the customer's invoice" in on_hold
    )
    assert f"{view.hold_until.astimezone(WARSAW):%-d} grudnia" in on_hold
    assert f"{view.hold_until.astimezone(WARSAW):%H:%M}, wznowimy rozpatrywanie" in on_hold

    await advance_to(env, held_at + 30 * H)
    view = await handle.query(ComplaintWorkflow.status)
    assert view.on_hold_since and close_to(view.on_hold_since, held_at)
    assert view.time_on_hold == timedelta(0) and view.hold_reason
    view = await handle.execute_update(ComplaintWorkflow.resume, ResumeInput(actor=AGENT))
    shift = view.time_on_hold
    assert abs(shift - 30 * H) < timedelta(seconds=5) and view.status is ComplaintStatus.OPEN
    assert view.sla_deadline == filed + 48 * H + shift
    assert view.next_escalation_at == filed + 24 * H + shift
    assert view.next_status_update_at
    # The news of the hold was the last update: the next is 24h of running clock after it
    # (resumed at 01:00, that is 01:00 tomorrow: quiet, so 20:45 today).
    assert close_to(view.next_status_update_at, update_due(settings, held_at + shift))

    await advance_to(env, filed + 48 * H + shift + timedelta(minutes=1))
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Resolved", actor=SUPERVISOR)
    )
    final = await handle.result()
    assert final.time_on_hold == shift
    await replays(handle)
    rows = await sent(pool, request.workflow_id)
    # Nothing but the news of the hold went out while the case was on hold.
    during = [r[:2] for r in rows if held_at - timedelta(seconds=5) < r[2] < held_at + 30 * H]
    assert during == [("complaint_on_hold", "client")]
    moved = round(shift.total_seconds())
    assert offsets(rows, filed)[:7] == [
        ("complaint_ack", "client", timedelta(0)),
        ("complaint_department", "department", timedelta(0)),
        ("complaint_on_hold", "client", 10 * H),
        ("complaint_alert", "supervisor", 24 * H + timedelta(seconds=moved)),
        (
            "escalation",
            "client",
            minutes(awake(settings, filed + 24 * H + timedelta(seconds=moved)) - filed),
        ),
        ("complaint_alert", "manager", 48 * H + timedelta(seconds=moved)),
        (
            "escalation",
            "client",
            minutes(awake(settings, filed + 48 * H + timedelta(seconds=moved)) - filed),
        ),
    ]
    hold_entries = [e for e in final.timeline if e.data.get("status") in ("OnHold", "Open")]
    assert "Waiting for the customer's invoice copy" in hold_entries[1].detail
    assert hold_entries[2].detail.startswith("Resumed after 30h on hold")


async def test_unsatisfied_customer_reopens_at_the_next_tier_with_a_fresh_clock(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    # A customer abroad: staff still read the complaint's times in the office's zone, though
    # this department keeps no office hours of its own.
    new_york = "America/New_York"
    await to_local_hour(env, 10, new_york)
    request = complaint(customer=complaint_payload()["customer"] | {"timezone": new_york})
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at

    await advance_to(env, filed + 20 * H)
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A voucher for the next visit.", actor=AGENT),
    )
    await advance_to(env, filed + 22 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput(satisfied=False, comment="I want a refund", actor=CUSTOMER),
    )
    reopened_at = await env.get_current_time()
    assert view.status is ComplaintStatus.OPEN and view.reopened == 1
    assert view.escalation_level == 1 and not view.sla_breached
    assert view.sla_deadline and close_to(view.sla_deadline, reopened_at + 48 * H)
    assert view.next_escalation_at == view.sla_deadline  # level 1 already: next is the breach
    # The supervisor reads the new due time as staff read times: to the minute, zone named.
    alert = await message_of(pool, request.workflow_id, "complaint_alert")
    due = re.search(r"resolution due (\S+ \S+ \S+)", alert["body"])
    assert due, alert["body"]
    assert due.group(1) == readable(view.sla_deadline, "Europe/Warsaw")

    await advance_to(env, view.sla_deadline + timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.escalation_level == 2 and view.sla_breached
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    await handle.result()
    await replays(handle)
    rows = offsets(await sent(pool, request.workflow_id), filed)
    assert rows[:8] == [
        ("complaint_ack", "client", timedelta(0)),
        ("complaint_department", "department", timedelta(0)),
        ("resolution_proposed", "client", 20 * H),
        # Reopened one tier up: the supervisor hears at once, the customer gets a new timeline.
        ("complaint_alert", "supervisor", 22 * H),
        ("escalation", "client", 22 * H),
        (
            "status_update",
            "client",
            minutes(update_due(settings, filed + 22 * H, timezone=new_york) - filed),
        ),
        ("complaint_alert", "manager", 70 * H),
        ("escalation", "client", minutes(awake(settings, filed + 70 * H, new_york) - filed)),
    ]
    # No supervisor alert at 24h from filing: the first round's clock stopped at 20h.
    assert [r for r in rows if r[0] == "complaint_alert"][0][2] == 22 * H


async def test_critical_complaint_runs_on_the_4h_8h_tiers_of_the_matrix(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    critical = {"supervisor_after": "PT4H", "breach_after": "PT8H", "extension": "PT4H"}
    settings.escalation_matrix = str(write_matrix(tmp_path, matrix(tiers={"critical": critical})))
    await to_local_hour(env, 8)  # the 12h escalation is at 20:00, before the quiet hours
    async with create_worker(env.client, settings, pool=pool):
        request = complaint(severity="critical")
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=1))
        view = await handle.query(ComplaintWorkflow.status)
        filed = view.filed_at
        assert view.department == "care" and view.sla_deadline == filed + 8 * H

        await advance_to(env, filed + 12 * H + timedelta(minutes=1))
        view = await handle.query(ComplaintWorkflow.status)
        # 8h: breach (level 2), new timeline 12h; missed too: level 3.
        assert view.escalation_level == 3 and view.sla_deadline == filed + 16 * H
        await handle.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Fixed", actor=SUPERVISOR)
        )
        await handle.result()
    rows = await messages(pool, request.workflow_id)
    assert offsets([(r["template"], r["recipient_role"], r["requested_at"]) for r in rows], filed)[
        :9
    ] == [
        ("complaint_ack", "client", timedelta(0)),
        ("complaint_department", "department", timedelta(0)),
        ("complaint_alert", "supervisor", 4 * H),
        ("escalation", "client", minutes(awake(settings, filed + 4 * H) - filed)),
        ("complaint_alert", "manager", 8 * H),
        ("escalation", "client", minutes(awake(settings, filed + 8 * H) - filed)),
        ("complaint_alert", "manager", 12 * H),
        ("escalation", "client", minutes(awake(settings, filed + 12 * H) - filed)),
        ("complaint_closed", "client", 12 * H + timedelta(minutes=1)),
    ]
    assert "8 godz." in rows[0]["body"]  # the acknowledgement promises the critical timeline
    # The supervisor's tier came at 4h: the customer is told so, not the default 24h.
    assert "(4 godziny)" in rows[3]["body"] and "(24 godziny)" not in rows[3]["body"]


async def test_business_hours_department_breaches_by_48_calendar_hours_over_a_long_weekend(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    now = await env.get_current_time()
    friday = next_local(now, 4, 15, "Europe/Warsaw")  # Friday 15:00, two office hours left
    monday = friday.date() + timedelta(days=3)
    office = {
        "timezone": "Europe/Warsaw",
        "hours": {"start_hour": 9, "end_hour": 17},
        "weekdays": [0, 1, 2, 3, 4],
        "holidays": [monday.isoformat()],
    }
    billing = {
        "name": "Billing",
        "owner": contact("billing"),
        "manager": contact("finance"),
        "business_hours": office,
    }
    tiers = {"supervisor_after": "PT4H", "breach_after": "PT8H", "extension": "PT4H"}
    content = matrix(
        departments={
            "care": {"name": "Care", "owner": contact("care"), "manager": contact("boss")},
            "billing": billing,
        },
        routes=[
            {"category": "billing", "department": "billing", "tiers": tiers},
            {"category": "*", "severity": "*", "department": "care"},
        ],
    )
    settings.escalation_matrix = str(write_matrix(tmp_path, content))
    await advance_to(env, friday)
    async with create_worker(env.client, settings, pool=pool):
        request = complaint(category="Billing")
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=1))
        view = await handle.query(ComplaintWorkflow.status)
        filed = view.filed_at
        assert close_to(filed, friday) and view.business_hours_only
        # 4h / 8h office hours would be Tuesday 11:00 / 15:00 (Monday is a holiday): the
        # procedure's 24h / 48h calendar ceiling comes first.
        assert view.next_escalation_at == filed + 24 * H
        assert view.sla_deadline == filed + 48 * H

        await advance_to(env, filed + 48 * H + timedelta(minutes=5))
        view = await handle.query(ComplaintWorkflow.status)
        assert view.escalation_level == 2 and view.sla_breached
        # New timeline: 12 office hours (Wednesday 11:00) or 72 calendar hours, the earlier.
        assert view.sla_deadline == filed + 72 * H
        await handle.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Invoice fixed", actor=SUPERVISOR)
        )
        await handle.result()

    rows = await messages(pool, request.workflow_id)
    local = [
        (
            r["template"],
            r["recipient_role"],
            r["requested_at"].astimezone(WARSAW).strftime("%a %H:%M"),
        )
        for r in rows
    ]
    assert local[:7] == [
        ("complaint_ack", "client", "Fri 15:00"),
        ("complaint_department", "department", "Fri 15:00"),
        ("complaint_alert", "supervisor", "Sat 15:00"),
        ("escalation", "client", "Sat 15:00"),
        ("complaint_alert", "manager", "Sun 15:00"),
        ("escalation", "client", "Sun 15:00"),
        ("complaint_closed", "client", "Sun 15:05"),
    ]
    # 8 office hours would end on Tuesday: the customer is promised the 48 hours that apply.
    assert "w ciągu 48 godz. i" in rows[0]["body"] and "15:00" in rows[0]["body"]
    assert "pracy biura" not in rows[0]["body"]


async def test_assignment_and_a_customer_visible_note_move_the_next_status_update(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at

    await advance_to(env, filed + 2 * H)
    ola = Assignee(id="ola-1", name="Ola Wiśniewska", email="ola@promptly.example")
    view = await handle.execute_update(
        ComplaintWorkflow.assign, AssignInput(assignee=ola, actor=SUPERVISOR)
    )
    assert view.assignee == ola and view.contact.email == "ola@promptly.example"
    await advance_to(env, filed + 20 * H)
    await handle.execute_update(
        ComplaintWorkflow.add_note,
        AddNoteInput(text="Customer called, very upset.", actor=AGENT),
    )
    view = await handle.execute_update(
        ComplaintWorkflow.add_note,
        AddNoteInput(
            text="We are checking the receptionist's schedule for that day.",
            visibility=NoteVisibility.CUSTOMER,
            actor=AGENT,
        ),
    )
    # 24h after the note is 05:00, in the customer's quiet hours: 20:45 the evening before.
    noted_at = await env.get_current_time()
    assert view.next_status_update_at
    assert close_to(view.next_status_update_at, update_due(settings, noted_at))

    await advance_to(env, filed + 44 * H + timedelta(minutes=1))
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Apologised", actor=SUPERVISOR)
    )
    final = await handle.result()
    rows = await messages(pool, request.workflow_id)
    assert offsets([(r["template"], r["recipient_role"], r["requested_at"]) for r in rows], filed)[
        :6
    ] == [
        ("complaint_ack", "client", timedelta(0)),
        ("complaint_department", "department", timedelta(0)),
        ("complaint_assigned", "assignee", 2 * H),
        ("complaint_note", "client", 20 * H),
        ("complaint_alert", "supervisor", 24 * H),
        # The customer is told of the supervisor tier at 24h; that notice restarts the
        # 24h period the note at 20h had started, so no status update goes out after it.
        ("escalation", "client", minutes(awake(settings, filed + 24 * H) - filed)),
    ]
    assert "status_update" not in [r["template"] for r in rows]
    assert "schedule for that day" in rows[3]["body"] and "ola@promptly.example" in rows[3]["body"]
    notes = [e for e in final.timeline if e.data.get("visibility")]
    assert [(e.data["visibility"], e.actor) for e in notes] == [
        ("internal", AGENT),
        ("customer", AGENT),
    ]


async def test_no_verdict_within_72h_closes_as_resolved_unconfirmed(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)
    request = complaint(customer={**complaint().customer.model_dump(), "locale": "en"})
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 5 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="Your next visit is free.", actor=AGENT),
    )
    assert view.verdict_deadline and close_to(view.verdict_deadline, filed + 77 * H)

    final = await handle.result()
    assert final.status is ComplaintStatus.CLOSED_UNCONFIRMED
    assert final.closed_at and close_to(final.closed_at, filed + 77 * H)
    rows = await messages(pool, request.workflow_id)
    assert offsets([(r["template"], r["recipient_role"], r["requested_at"]) for r in rows], filed)[
        2:
    ] == [
        ("resolution_proposed", "client", 5 * H),
        ("complaint_closed", "client", minutes(awake(settings, filed + 77 * H) - filed)),
        ("complaint_survey", "client", minutes(awake(settings, filed + 79 * H) - filed)),
    ]
    assert "we consider your complaint" in rows[3]["body"]
    assert "Your next visit is free." in rows[2]["body"]


async def test_the_workflow_keeps_the_newest_entries_and_postgresql_keeps_them_all(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    for number in range(MAX_TIMELINE + 20):
        await handle.execute_update(
            ComplaintWorkflow.add_note, AddNoteInput(text=f"note {number}", actor=AGENT)
        )
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="done", actor=SUPERVISOR)
    )
    final = await handle.result()
    stored = await timeline_rows(pool, request.workflow_id)
    assert len(final.timeline) <= MAX_TIMELINE + 10
    assert final.timeline_omitted + len(final.timeline) == len(stored)
    assert [row["seq"] for row in stored] == list(range(len(stored)))
    assert [row["detail"] for row in stored[final.timeline_omitted :]] == [
        e.detail for e in final.timeline
    ]
    assert stored[3]["detail"] == "Internal note: note 0"
