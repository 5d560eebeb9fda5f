"""The complaint rules as the procedures write them, each on the time-skipping server with the
real activities: the 48 calendar-hour ceiling (DST and holiday weeks), bounded holds, every
escalation told to the customer, failed staff messages as tasks, and the root cause at close.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from promptly.config import Settings
from promptly.db.qa_facts import load_facts
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import (
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    HoldInput,
)
from promptly.domain.qa_report import Period, compute
from promptly.services.complaints import file_complaint
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.worker import create_worker
from promptly.workflows.complaint import ComplaintWorkflow
from tests.api_support import client_links, serving
from tests.complaint_helpers import (
    AGENT,
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
from tests.helpers import close_to, messages, tasks
from tests.sendgrid_fake import SendGridFake

H = timedelta(hours=1)
WARSAW = ZoneInfo("Europe/Warsaw")


def _office(holidays: list[str] | None = None) -> dict[str, Any]:
    return {
        "timezone": "Europe/Warsaw",
        "hours": {"start_hour": 9, "end_hour": 17},
        "weekdays": [0, 1, 2, 3, 4],
        "holidays": holidays or [],
    }


def _billing_matrix(office: dict[str, Any], tiers: dict[str, str] | None = None) -> dict[str, Any]:
    route: dict[str, Any] = {"category": "billing", "department": "billing"}
    if tiers:
        route["tiers"] = tiers
    return matrix(
        departments={
            "care": {"name": "Care", "owner": contact("care"), "manager": contact("boss")},
            "billing": {
                "name": "Billing",
                "owner": contact("billing"),
                "manager": contact("finance"),
                "business_hours": office,
            },
        },
        routes=[route, {"category": "*", "severity": "*", "department": "care"}],
    )


def _local(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (
            r["template"],
            r["recipient_role"],
            r["requested_at"].astimezone(WARSAW).strftime("%a %d %H:%M"),
        )
        for r in rows
    ]


def _autumn_dst_friday(after: datetime) -> datetime:
    """Friday 16:00 Warsaw before the last Sunday of October (clocks go back on Sunday)."""
    year = after.year
    while True:
        sunday = max(date(year, 10, d) for d in range(25, 32) if date(year, 10, d).weekday() == 6)
        friday = datetime.combine(sunday - timedelta(days=2), time(16), WARSAW)
        if friday > after + timedelta(days=1):
            return friday
        year += 1


def _christmas_wednesday(after: datetime) -> datetime:
    """Wednesday 16:00 Warsaw of Christmas week (the Wednesday on 20–26 December)."""
    year = after.year
    while True:
        wednesday = next(
            date(year, 12, d) for d in range(20, 27) if date(year, 12, d).weekday() == 2
        )
        moment = datetime.combine(wednesday, time(16), WARSAW)
        if moment > after + timedelta(days=1):
            return moment
        year += 1


# --- 48 calendar hours is a ceiling on every route ------------------------------------------


async def test_48_calendar_hours_is_a_ceiling_on_every_route_in_the_autumn_dst_week(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    # The shipped default: 24h supervisor / 48h breach, here on a business-hours department.
    settings.escalation_matrix = str(write_matrix(tmp_path, _billing_matrix(_office())))
    friday = _autumn_dst_friday(await env.get_current_time())
    async with create_worker(env.client, settings, pool=pool):
        await advance_to(env, friday)  # the worker already polling: filed on the dot
        request = complaint(category="billing")
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=1))
        view = await handle.query(ComplaintWorkflow.status)
        filed = view.filed_at
        assert close_to(filed, friday, timedelta(minutes=1)) and view.business_hours_only
        # 24 office hours would run to Wednesday: the calendar ceiling comes first.
        assert view.next_escalation_at == filed + 24 * H
        assert view.sla_deadline == filed + 48 * H  # real hours, across the DST change

        await advance_to(env, filed + 48 * H + timedelta(minutes=5))
        view = await handle.query(ComplaintWorkflow.status)
        assert view.sla_breached and view.escalation_level == 2
        await handle.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Invoice fixed", actor=SUPERVISOR)
        )
        await handle.result()
    rows = await messages(pool, request.workflow_id)
    day = friday.day
    # Sunday's 48h mark reads 15:00: the clocks went back an hour that night.
    assert _local(rows)[:6] == [
        ("complaint_ack", "client", f"Fri {day:02d} 16:00"),
        ("complaint_department", "department", f"Fri {day:02d} 16:00"),
        ("complaint_alert", "supervisor", f"Sat {day + 1:02d} 16:00"),
        ("escalation", "client", f"Sat {day + 1:02d} 16:00"),
        ("complaint_alert", "manager", f"Sun {day + 2:02d} 15:00"),
        ("escalation", "client", f"Sun {day + 2:02d} 15:00"),
    ]
    # The customer is promised the waits that apply: 48 and 24 real hours, not office hours.
    ack = next(r for r in rows if r["template"] == "complaint_ack")
    assert "Rozpatrzymy reklamację w ciągu 48 godz. i do tego" in ack["body"]
    supervisor = next(r for r in rows if r["template"] == "escalation")
    assert "nie została rozwiązana w wyznaczonym czasie (24 godziny)" in supervisor["body"]
    assert "pracy biura" not in ack["body"] + supervisor["body"]


async def test_48_calendar_hours_is_a_ceiling_on_every_route_in_the_christmas_holiday_week(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    wednesday = _christmas_wednesday(await env.get_current_time())
    holidays = [(wednesday.date() + timedelta(days=n)).isoformat() for n in (1, 2)]
    # A stricter department target (4h / 8h office hours) still may not run past 24h / 48h:
    # one office hour on Wednesday, then Thursday and Friday are holidays.
    stricter = {"supervisor_after": "PT4H", "breach_after": "PT8H", "extension": "PT4H"}
    content = _billing_matrix(_office(holidays), stricter)
    settings.escalation_matrix = str(write_matrix(tmp_path, content))
    async with create_worker(env.client, settings, pool=pool):
        await advance_to(env, wednesday)
        request = complaint(category="billing")
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=1))
        view = await handle.query(ComplaintWorkflow.status)
        filed = view.filed_at
        assert view.next_escalation_at == filed + 24 * H  # not Monday 12:00
        assert view.sla_deadline == filed + 48 * H  # not Monday 16:00
        await advance_to(env, filed + 48 * H + timedelta(minutes=5))
        await handle.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
        )
        final = await handle.result()
    assert final.sla_breached
    rows = await sent(pool, request.workflow_id)
    assert offsets(rows, filed)[2:6] == [
        ("complaint_alert", "supervisor", 24 * H),
        ("escalation", "client", minutes(awake(settings, filed + 24 * H) - filed)),
        ("complaint_alert", "manager", 48 * H),
        ("escalation", "client", minutes(awake(settings, filed + 48 * H) - filed)),
    ]
    breach = next(e for e in final.timeline if e.data.get("breach") is True)
    assert "1h of office hours (48h of calendar time)" in breach.detail


# --- holds are bounded -------------------------------------------------------------------------


async def test_a_hold_lasts_at_most_72h_then_the_clock_resumes_and_the_customer_is_told(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 2 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.hold, HoldInput(reason="Waiting for your invoice copy", actor=AGENT)
    )
    held_at = view.on_hold_since
    assert held_at is not None and view.hold_until == held_at + 72 * H
    assert view.next_status_update_at is None  # waiting for their own answer: no updates

    await advance_to(env, held_at + 72 * H + timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.status is ComplaintStatus.OPEN and view.hold_until is None
    assert abs(view.time_on_hold - 72 * H) < timedelta(seconds=1)
    assert view.sla_deadline and close_to(view.sla_deadline, filed + 48 * H + 72 * H)
    ended = next(e for e in view.timeline if e.detail.startswith("Hold ended on its own"))
    assert ended.actor.kind == "system"
    rows = await sent(pool, request.workflow_id)
    # The news of the hold as it starts, nothing during it, then the notice that it ended.
    assert [(t, role) for t, role, _ in rows[2:]] == [
        ("complaint_on_hold", "client"),
        ("hold_ended", "client"),
    ]
    assert close_to(rows[2][2], held_at)
    assert close_to(rows[3][2], awake(settings, held_at + 72 * H))
    on_hold, ended_notice = [m["body"] for m in (await messages(pool, request.workflow_id))[2:]]
    assert "(Waiting for your invoice copy)" in on_hold and "wznowimy rozpatrywanie" in on_hold
    assert "Waiting for your invoice copy" in ended_notice
    assert "care@promptly.example" in ended_notice
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Resolved", actor=SUPERVISOR)
    )
    await handle.result()


async def test_on_a_hold_not_for_their_answer_the_customer_still_hears_from_us_every_24h(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    await to_local_hour(env, 9)
    request = complaint()
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + 2 * H)
    view = await handle.execute_update(
        ComplaintWorkflow.hold,
        HoldInput(
            reason="Your insurer is sending us the policy",
            for_customer_answer=False,
            actor=AGENT,
        ),
    )
    # The period goes on, from the news of the hold the customer has just had.
    held_at = view.on_hold_since
    assert view.next_status_update_at and held_at
    assert close_to(view.next_status_update_at, update_due(settings, held_at))
    await advance_to(env, filed + 74 * H + timedelta(minutes=1))
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Resolved", actor=SUPERVISOR)
    )
    await handle.result()
    rows = await sent(pool, request.workflow_id)
    first = update_due(settings, held_at)
    second = update_due(settings, first)
    expected = [
        ("complaint_on_hold", held_at),
        ("status_update", first),
        ("status_update", second),
        # The hold ends when the next update falls due: its notice is that update.
        ("hold_ended", awake(settings, held_at + 72 * H)),
    ]
    assert [(t, role) for t, role, _ in rows[2:6]] == [(t, "client") for t, _ in expected]
    assert rows[6][0] == "complaint_closed"  # no second message at 74h
    assert all(close_to(at, due) for (_, _, at), (_, due) in zip(rows[2:6], expected, strict=True))


# --- every escalation is told; failing staff messages become tasks ----------------------------


async def test_every_escalation_is_told_and_failing_staff_messages_become_tasks(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    sendgrid: SendGridFake,
    tmp_path: Path,
) -> None:
    settings.sendgrid_api_key = SecretStr("SG.test")
    settings.sendgrid_host = sendgrid.url
    settings.supervisor_email = "bounce-supervisor@promptly.example"
    bouncing = {
        "care": {
            "name": "Customer care",
            "owner": {"name": "Care", "email": "bounce-care@promptly.example"},
            "manager": contact("boss"),
        }
    }
    settings.escalation_matrix = str(write_matrix(tmp_path, matrix(departments=bouncing)))
    # Filed at 09:00 on the customer's clock: the supervisor's tier at 09:00 is told at once.
    await to_local_hour(env, 9)
    async with create_worker(env.client, settings, pool=pool):
        request = complaint()
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=10))
        view = await handle.query(ComplaintWorkflow.status)
        filed = view.filed_at
        assert "complaint department to department not delivered" in view.needs_attention
        [notice_task] = await tasks(pool, request.workflow_id)
        assert notice_task["kind"] == "resend_staff_message"
        assert notice_task["assignee"] == "front_desk"
        assert "bounce-care@promptly.example" in notice_task["details"]

        await advance_to(env, filed + 24 * H + timedelta(minutes=10))
        view = await handle.query(ComplaintWorkflow.status)
        assert view.escalation_level == 1
        assert "complaint alert to supervisor not delivered" in view.needs_attention
        alert_task = (await tasks(pool, request.workflow_id))[1]
        assert alert_task["kind"] == "resend_staff_message"
        assert "could not be sent to supervisor" in alert_task["details"]
        assert alert_task["title"] == "Pass on by hand: complaint alert to supervisor"
        await handle.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Resolved", actor=SUPERVISOR)
        )
        await handle.result()

    # The customer heard of the supervisor tier, with the timeline and whom to talk to.
    [told] = [r for r in await messages(pool, request.workflow_id) if r["template"] == "escalation"]
    assert told["status"] == "sent"
    assert close_to(told["requested_at"], awake(settings, filed + 24 * H))
    assert "przełożony" in told["body"] and "bounce-care@promptly.example" in told["body"]
    assert any(
        "anna@example.com" in r.recipients and "przekazana wyżej" in str(r.body)
        for r in sendgrid.requests
    )


# --- root cause at close -----------------------------------------------------------------------


async def test_root_cause_at_close_comes_from_the_list_and_the_qa_report_counts_escalations(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    settings.complaint_root_causes = ["wrong_tariff_rs", "other"]
    async with create_worker(env.client, settings, pool=pool):
        request = complaint()
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=1))
        filed = (await handle.query(ComplaintWorkflow.status)).filed_at
        await advance_to(env, filed + 25 * H)  # the supervisor tier: one escalation
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                ComplaintWorkflow.close,
                CloseComplaintInput(reason="Fixed", actor=SUPERVISOR, root_cause="weather"),
            )
        assert "unknown root_cause 'weather' for close (known: wrong_tariff_rs, other)" in str(
            refused.value.cause
        )
        view = await handle.execute_update(
            ComplaintWorkflow.close,
            CloseComplaintInput(reason="Fixed", actor=SUPERVISOR, root_cause="Wrong_Tariff_RS"),
        )
        assert view.status is ComplaintStatus.CLOSED and view.root_cause == "wrong_tariff_rs"
        await handle.result()

    day = filed.astimezone(WARSAW).date()
    period = Period(day, day + timedelta(days=2), "Europe/Warsaw")
    async with pool.connection() as conn:
        facts = await load_facts(conn, period)
    report = compute(facts, period)
    assert report.escalations_by_root_cause["wrong_tariff_rs"] == 1
    mine = [e for e in facts.escalations if e.case_id == request.workflow_id]
    assert [(e.level, e.root_cause) for e in mine] == [(1, "wrong_tariff_rs")]


# --- feedback after closing is recorded ---------------------------------------------------------


async def _closed_past_its_follow_up(
    env: WorkflowEnvironment, settings: Settings, request: ComplaintRequest
) -> tuple[WorkflowHandle[ComplaintWorkflow, ComplaintView], datetime]:
    """Filed, closed an hour later, and a minute past its follow-up (2h after the close):
    the complaint's handle and when it was filed (09:00 on the customer's clock: the follow-up
    goes out at noon, not held for the end of the night)."""
    await to_local_hour(env, 9)
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    await advance_to(env, filed + H)
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Apologised", actor=SUPERVISOR)
    )
    await advance_to(env, filed + 3 * H + timedelta(minutes=1))
    return handle, filed


async def test_feedback_after_closing_is_recorded_through_the_follow_ups_signed_form(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    async with serving(env.client, settings, pool) as http:
        request = complaint()
        handle, filed = await _closed_past_its_follow_up(env, settings, request)
        tokens = await client_links(pool, settings, request.workflow_id, "complaint_survey")
        assert set(tokens) == {"complaint_feedback"}
        link = f"/c/{tokens['complaint_feedback']}"

        form = await http.get(link)
        assert form.status_code == 200 and "Jak oceniają Państwo obsługę reklamacji?" in form.text
        assert request.complaint_id in form.text
        answered = await http.post(link, data={"nps": "9", "comment": "Szybko i uprzejmie"})
        assert answered.status_code == 200 and "Dziękujemy za odpowiedź" in answered.text
        again = await http.get(link)
        assert "Mamy już Państwa odpowiedź" in again.text

        view = await handle.query(ComplaintWorkflow.status)
        assert view.feedback_score == 9
        entry = view.timeline[-1]
        assert entry.detail == "Follow-up answered: 9/10 (Szybko i uprzejmie)"
        assert entry.actor.kind == "client" and entry.actor.id == request.customer.id
        final = await handle.result()  # answered: ends a day after closing, as before
        assert final.feedback_score == 9

    day = filed.astimezone(WARSAW).date()
    period = Period(day, day + timedelta(days=1), "Europe/Warsaw")
    async with pool.connection() as conn:
        facts = await load_facts(conn, period)
    [mine] = [c for c in facts.complaints if c.case_id == request.workflow_id]
    assert mine.feedback_score == 9
    report = compute(facts, period)
    assert report.complaint_feedback.responses >= 1 and report.complaint_feedback.promoters >= 1


async def test_a_phone_customer_gives_the_follow_up_score_to_the_desk(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    customer = complaint_payload()["customer"] | {"preferred_channel": "phone", "locale": "en"}
    request = complaint(customer=customer)
    handle, _ = await _closed_past_its_follow_up(env, settings, request)
    [call] = [
        t
        for t in await tasks(pool, request.workflow_id)
        if t["kind"] == "call_client"
        and t["title"].endswith(f"How did we handle your complaint {request.complaint_id}?")
    ]
    assert "Just tell us the number" in call["details"] and "click" not in call["details"]

    desk = Actor(kind=ActorKind.STAFF, id="ola")
    told = TaskCompletion(outcome="reached", score=8, note="quick, but call me back sooner")
    done, view = await complete_task(env.client, pool, settings, call["id"], told, desk)
    assert (done.status, done.outcome, done.closed_by) == ("done", "reached", "staff:ola")
    assert view.feedback_score == 8
    entry = view.timeline[-1]
    assert entry.detail == (
        "Follow-up answered on the phone to ola: 8/10 (quick, but call me back sooner)"
    )
    assert entry.actor.kind == "client" and entry.actor.id == request.customer.id
    assert (await handle.result()).feedback_score == 8
