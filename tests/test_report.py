"""The QA report on a seeded data set with known answers, in all three formats.

The rows are written the way the workflows write them (`record_case`, `record_billing`,
`record_survey_answer`): cases, timeline entries with kind/detail/data, billing outcomes and
survey answers, in a database of their own so other tests' cases do not count.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import pytest_asyncio
from playwright.async_api import async_playwright
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.db.qa_facts import build_report
from promptly.domain.qa_report import (
    AppointmentFact,
    ComplaintFact,
    InquiryFigures,
    Nps,
    Period,
    QaReport,
    Rate,
    ReminderFact,
    ReportFacts,
    ReportFormat,
    SurveyFact,
    compute,
    previous_weeks,
)
from promptly.domain.qa_report_render import render, render_csv, render_html, render_table
from tests.browser import HEADLESS_FLAGS, chromium, keep_screenshot
from tests.conftest import migrated_database

TZ = ZoneInfo("Europe/Warsaw")
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 15), "Europe/Warsaw")  # ISO weeks 10 and 11


def local(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


# --- a small writer that stores rows like the workflows' activities do -------------------------


@dataclass
class Case:
    case_id: str
    kind: str
    status: str
    starts_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[datetime, str, str, dict[str, Any]]] = field(default_factory=list)
    billing: list[tuple[str, str, datetime]] = field(default_factory=list)
    # The promise ledger's rows, as the workflow left them: (promise, verdict).
    promises: list[tuple[str, str]] = field(default_factory=list)
    # The front desk's call tasks (`staff_tasks`): (due, outcome; None: still open).
    call_tasks: list[tuple[datetime, str | None]] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        assert self.starts_at is not None
        return self.starts_at

    def note(self, at: datetime, kind: str, detail: str, **data: Any) -> Case:
        self.events.append((at, kind, detail, data))
        return self


def store(conn: psycopg.Connection[Any], case: Case) -> None:
    business_id = case.case_id.split("-", 1)[1]
    conn.execute(
        """INSERT INTO cases (case_id, kind, business_id, status, client_id, provider_id,
                              starts_at, details)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            case.case_id,
            case.kind,
            business_id,
            case.status,
            "C-1",
            "P-1" if case.kind == "appointment" else None,
            case.starts_at,
            Jsonb(case.details),
        ),
    )
    for seq, (at, kind, detail, data) in enumerate(case.events):
        conn.execute(
            """INSERT INTO timeline_events (case_id, seq, at, kind, actor_kind, actor_id,
                                            detail, data)
               VALUES (%s, %s, %s, %s, 'system', 'promptly', %s, %s)""",
            (case.case_id, seq, at, kind, detail, Jsonb(data)),
        )
    for promise, verdict in case.promises:
        conn.execute(
            """INSERT INTO promises (case_id, promise, case_kind, business_id, client_id,
                                     verdict, promised_at, revision)
               VALUES (%s, %s, %s, %s, 'C-1', %s, %s, 1)""",
            (case.case_id, promise, case.kind, business_id, verdict, case.events[0][0]),
        )
    for n, (due, outcome) in enumerate(case.call_tasks, start=1):
        conn.execute(
            """INSERT INTO staff_tasks (idempotency_key, case_id, kind, assignee, title, due_at,
                                        status, outcome, closed_at)
               VALUES (%s, %s, 'call_client', 'front_desk', %s, %s, %s, %s, %s)""",
            (
                f"{case.case_id}/call/{n}",
                case.case_id,
                f"Call attempt {n}",
                due,
                "open" if outcome is None else "done",
                outcome,
                None if outcome is None else due,
            ),
        )
    for n, (outcome, reason, at) in enumerate(case.billing):
        conn.execute(
            """INSERT INTO billing_outcomes (idempotency_key, case_id, appointment_id, client_id,
                   outcome, decided_by_kind, decided_by_id, reason, decided_at)
               VALUES (%s, %s, %s, 'C-1', %s, 'system', 'promptly', %s, %s)""",
            (f"{case.case_id}/billing/{n}", case.case_id, business_id, outcome, reason, at),
        )


def appointment(number: int, start: datetime, status: str = "Completed") -> Case:
    case = Case(f"appointment-A-{number}", "appointment", status, start)
    booked = start - timedelta(days=5)
    case.note(booked, "status", "Booked Physio", status="Booked", start=start.isoformat())
    return case


def reminder(case: Case, before: timedelta, *, failed: bool = False) -> None:
    assert case.starts_at is not None
    kind = "message_failed" if failed else "message"
    case.note(case.starts_at - before, kind, "Reminder", template="reminder", channel="email")


def seed_appointments() -> list[Case]:
    """40 appointments from 2 to 15 March 2026 (20 a week) and one outside the period."""
    week1 = [local(2 + i % 5, 9 + i // 5) for i in range(20)]  # Mon–Fri, 9:00–12:00
    week2 = [local(9 + i % 5, 9 + i // 5) for i in range(20)]
    cases = [appointment(i, start) for i, start in enumerate(week1 + week2)]

    # 30 confirmed (16 in week 1, 14 in week 2), i hours after booking: median 15.5h.
    confirmed = [*range(14), 16, 17, *range(20, 34)]  # 16 and 17 by phone, below
    for hours, index in enumerate(confirmed, start=1):
        case = cases[index]
        booked = case.events[0][0]
        case.note(
            booked + timedelta(hours=hours),
            "status",
            "Client confirmed",
            status="Confirmed",
            previous="Booked",
        )

    # Reminders: 0–33 48h ahead, 34 only 20h ahead (late), 35 failed, 36–39 booked late: none.
    for index in range(34):
        reminder(cases[index], timedelta(hours=48))
    reminder(cases[34], timedelta(hours=20))
    reminder(cases[35], timedelta(hours=30), failed=True)

    # 33 was rescheduled after its reminder, from 12 March 11:00 to 13 March 11:00, late
    # (fee waived); its new reminder went 42h ahead. Against the *current* start the first
    # reminder would be 72h ahead, outside the window: the report must use the start then.
    moved = cases[33]
    old_start, new_start = moved.starts_at, local(13, 11)
    assert old_start == local(12, 11)
    moved.starts_at = new_start
    moved.note(
        local(11, 12),
        "status",
        "Rescheduled",
        status="Booked",
        previous="Confirmed",
        start=new_start.isoformat(),
        previous_start=old_start.isoformat(),
    )
    moved.note(
        new_start - timedelta(hours=42), "message", "Reminder", template="reminder", channel="email"
    )
    moved.billing += [
        ("late_cancel", "late reschedule", local(11, 12)),
        ("waived", "flood", local(11, 13)),
        ("held", "done", new_start),
    ]

    # 3 no-shows of 40 (7.5%): 2 in week 1, 1 in week 2; one fee waived.
    for index in (3, 7, 25):
        cases[index].status = "NoShow"
        cases[index].billing.append(("no_show", "not checked in", cases[index].start))
    cases[7].billing.append(("waived", "force majeure", local(10, 12)))

    # 2 late cancellations, 2 free ones.
    for index in (10, 30):
        cases[index].status = "LateCancelled"
        cases[index].billing.append(("late_cancel", "ill", cases[index].start))
    for index in (11, 31):
        cases[index].status = "Cancelled"
        cases[index].billing.append(("cancelled_free", "plans", local(1, 9)))

    # Phone follow-ups: 10 call tasks on 6 cases, 9 outcomes recorded.
    calls: dict[int, list[str | None]] = {
        16: ["reached_confirmed"],
        17: ["no_answer", "reached_confirmed"],
        18: ["no_answer", "no_answer", "no_answer"],
        36: ["wrong_number"],
        37: ["reached_cancelled"],
        38: ["reached_rescheduled", None],
    }
    for index, outcomes in calls.items():
        case = cases[index]
        assert case.starts_at is not None
        for attempt, outcome in enumerate(outcomes, start=1):
            at = case.starts_at - timedelta(hours=24) + timedelta(hours=2 * attempt)
            case.note(
                at,
                "message",
                f"Call task {attempt}",
                template="call_task",
                channel="phone",
                attempt=attempt,
            )
            case.call_tasks.append((at, outcome))
            if outcome is not None:
                case.note(
                    at + timedelta(minutes=30),
                    "action",
                    f"Call: {outcome}",
                    outcome=outcome,
                    attempt=attempt,
                    note="",
                )

    # The reminder promise as the workflows judged it: kept in the window (33 for its new
    # time), broken late (34) or undelivered (35), not applicable when booked late (36–39).
    for index, case in enumerate(cases):
        verdict = "kept" if index <= 33 else "broken" if index <= 35 else "not_applicable"
        case.promises.append(("reminder_24_48h_before", verdict))
    # 3 no-shows: the rule applied (kept), one waived by the provider.
    for index in (3, 25):
        cases[index].promises.append(("no_show_rule", "kept"))
    cases[7].promises.append(("no_show_rule", "waived"))

    # Outside the period (Monday 16 March): does not count.
    outside = appointment(99, local(16, 10), "NoShow")
    outside.billing.append(("no_show", "not checked in", local(16, 10)))
    reminder(outside, timedelta(hours=48))
    outside.promises += [("reminder_24_48h_before", "kept"), ("no_show_rule", "broken")]
    return [*cases, outside]


def complaint(
    number: int, department: str, filed: datetime, status: str, breached: bool = False
) -> Case:
    case = Case(
        f"complaint-K-{number}",
        "complaint",
        status,
        details={
            "department": department,
            "severity": "normal",
            "sla_breached": breached,
            "escalation_level": 0,
        },
    )
    case.note(filed, "status", "Complaint received", status="Open", department=department)
    return case


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def seed_complaints() -> list[Case]:
    k1 = complaint(1, "billing", local(3, 9), "Closed")
    k1.note(local(3, 9) + h(20), "status", "Proposed", status="ResolutionProposed", previous="Open")
    k1.note(local(3, 9) + h(30), "status", "Closed", status="Closed", previous="ResolutionProposed")
    k2 = complaint(2, "billing", local(3, 10), "ResolutionProposed")
    k2.note(
        local(3, 10) + h(47), "status", "Proposed", status="ResolutionProposed", previous="Open"
    )
    k3 = complaint(3, "billing", local(4, 9), "ResolutionProposed", breached=True)
    k3.note(local(4, 9) + h(8), "decision", "supervisor", level=1, breach=False)
    k3.note(local(4, 9) + h(16), "decision", "breached", level=2, breach=True)
    k3.note(local(4, 9) + h(60), "status", "Proposed", status="ResolutionProposed", previous="Open")
    # Not satisfied with the first proposal: the standing resolution is the second, at 70h.
    k4 = complaint(4, "customer_care", local(4, 12), "ResolutionProposed")
    k4.note(
        local(4, 12) + h(10), "status", "Proposed", status="ResolutionProposed", previous="Open"
    )
    k4.note(
        local(4, 12) + h(30),
        "status",
        "Reopened",
        status="Open",
        previous="ResolutionProposed",
        level=1,
    )
    k4.note(
        local(4, 12) + h(70),
        "status",
        "Proposed again",
        status="ResolutionProposed",
        previous="Open",
    )
    k5 = complaint(5, "customer_care", local(5, 9), "Closed")
    k5.note(local(5, 9) + h(5), "status", "Closed by staff", status="Closed", previous="Open")
    k6 = complaint(6, "customer_care", local(5, 10), "Open", breached=True)
    k6.note(local(5, 10) + h(24), "decision", "supervisor", level=1, breach=False)
    k6.note(local(5, 10) + h(48), "decision", "breached", level=2, breach=True)
    k6.note(local(5, 10) + h(72), "decision", "breached again", level=3, breach=True)
    k7 = complaint(7, "customer_care", local(6, 9), "ClosedUnconfirmed")
    k7.note(local(6, 9) + h(30), "status", "Proposed", status="ResolutionProposed", previous="Open")
    k7.note(
        local(6, 9) + h(102),
        "status",
        "Closed unconfirmed",
        status="ClosedUnconfirmed",
        previous="ResolutionProposed",
    )
    k8 = complaint(8, "billing", local(14, 9), "ResolutionProposed")
    k8.note(
        local(14, 9) + h(48), "status", "Proposed", status="ResolutionProposed", previous="Open"
    )
    # Filed and escalated before the period: neither counts.
    k0 = complaint(0, "billing", local(20, 9, month=2), "Open", breached=True)
    k0.note(local(20, 9, month=2) + h(8), "decision", "supervisor", level=1, breach=False)
    # The resolution promise as the workflows decided it: broken at the 48h breach (3, 6; the
    # `SlaBreached` attribute), kept by the resolution that stood. 4 was reopened: its fresh
    # clock ran from the reopening (30h), so the resolution at 70h kept it. 0 is outside.
    verdicts = {1: "kept", 2: "kept", 3: "broken", 4: "kept", 5: "kept", 6: "broken"}
    verdicts |= {7: "kept", 8: "kept", 0: "broken"}
    cases = [k0, k1, k2, k3, k4, k5, k6, k7, k8]
    for number, case in enumerate(cases):
        case.promises.append(("complaint_resolved_within_48h", verdicts[number]))
        case.promises.append(("complaint_ack_at_once", "kept"))
    return cases


def inquiry(number: int, received: datetime, status: str) -> Case:
    case = Case(f"inquiry-Q-{number}", "inquiry", status)
    case.note(received, "status", "Inquiry received", status="Open")
    return case


def seed_inquiries() -> list[Case]:
    """4 received in the period: one answered in time, one late after an alert, one promoted,
    one still waiting after two alerts; one received before the period."""
    q1 = inquiry(1, local(3, 9), "Answered")
    q1.note(local(3, 14), "status", "Answered", status="Answered", previous="Open", on_time=True)
    q2 = inquiry(2, local(4, 9), "Answered")
    q2.note(local(5, 9), "decision", "Unanswered after 24h", alert="front desk")
    q2.note(local(5, 15), "status", "Answered", status="Answered", previous="Open", on_time=False)
    q3 = inquiry(3, local(5, 9), "Promoted")
    q3.note(local(5, 11), "status", "Promoted", status="Promoted", previous="Open")
    q4 = inquiry(4, local(12, 9), "Open")
    q4.note(local(13, 9), "decision", "Unanswered after 24h", alert="front desk")
    q4.note(local(14, 9), "decision", "Unanswered after 48h", alert="supervisor")
    q0 = inquiry(0, local(20, 9, month=2), "Answered")
    q0.note(local(20, 10, month=2), "status", "Answered", status="Answered", on_time=True)
    return [q0, q1, q2, q3, q4]


def seed_surveys(conn: psycopg.Connection[Any]) -> None:
    """20 answers: week 10 6/2/2 (NPS +40), week 11 4/2/4 (NPS 0); overall +20."""
    week1 = [10, 9, 9, 10, 9, 10, 8, 7, 3, 6]
    week2 = [9, 10, 9, 10, 8, 7, 0, 5, 6, 4]
    answers = [(local(3 + i % 5, 15), nps) for i, nps in enumerate(week1)]
    answers += [(local(9 + i % 5, 15), nps) for i, nps in enumerate(week2[:-1])]
    answers.append((local(15, 23, 30), week2[-1]))  # last evening of the period, local time
    answers.append((local(16, 0, 30), 0))  # 23:30 UTC on the 15th, but the 16th locally: out
    answers.append((local(1, 12), 0))  # before the period
    for n, (at, nps) in enumerate(answers):
        conn.execute(
            """INSERT INTO survey_responses (survey_id, case_id, client_id, nps, comment,
                                             answered_at)
               VALUES (%s, %s, 'C-1', %s, '', %s)""",
            (f"survey-{n}", f"appointment-A-{n}", nps, at),
        )


@pytest.fixture(scope="module")
def report_db(database_url: str) -> Iterator[str]:
    """A database of its own on the test server, migrated and seeded."""
    with migrated_database(database_url, "promptly_report") as url:
        with psycopg.connect(url) as conn:
            for case in [*seed_appointments(), *seed_complaints(), *seed_inquiries()]:
                store(conn, case)
            seed_surveys(conn)
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(report_db: str) -> QaReport:
    async with await psycopg.AsyncConnection.connect(report_db) as conn:
        return await build_report(conn, PERIOD)


# --- figures -------------------------------------------------------------------------------------


async def test_appointment_figures(seeded: QaReport) -> None:
    r = seeded
    assert r.appointments == 40
    assert r.confirmation == Rate(30, 40)
    assert r.confirmation.percent == 75.0
    assert r.median_time_to_confirm == timedelta(hours=15, minutes=30)
    # 37 reminders (33 was reminded twice); 35 in the window, one late, one failed.
    assert r.reminders_in_window == Rate(35, 37)
    assert r.reminders_in_window.percent == 94.6
    assert r.reminders_failed == 1
    assert r.no_shows == Rate(3, 40)
    assert r.no_shows.percent == 7.5
    assert r.no_shows_waived == 1
    assert r.late_cancellations == Rate(3, 40)
    assert r.late_fees_waived == 1


async def test_phone_follow_up_figures(seeded: QaReport) -> None:
    assert seeded.follow_up_cases == 6
    assert seeded.call_attempts == 10
    assert seeded.call_outcomes == {
        "reached_confirmed": 2,
        "reached_cancelled": 1,
        "reached_rescheduled": 1,
        "no_answer": 4,
        "wrong_number": 1,
    }
    assert seeded.calls_without_outcome == 1


async def test_complaint_and_escalation_figures(seeded: QaReport) -> None:
    r = seeded
    assert r.complaints == 8
    # From the ledger: 4, resolved 40h after its reopening, kept its fresh-clock promise.
    assert r.complaints_resolved_48h == Rate(6, 8)
    assert r.complaints_resolved_48h.percent == 75.0
    assert r.complaints_unresolved == 1
    assert r.complaints_sla_breached == Rate(2, 8)
    assert [(e.department, e.level, e.tier, e.count) for e in r.escalations] == [
        ("billing", 1, "supervisor", 1),
        ("billing", 2, "manager", 1),
        ("customer_care", 1, "supervisor", 2),
        ("customer_care", 2, "manager", 1),
        ("customer_care", 3, "manager", 1),
    ]


async def test_inquiry_figures(seeded: QaReport) -> None:
    assert seeded.inquiries == InquiryFigures(
        received=4, answered_on_time=Rate(1, 4), promoted=1, unanswered=1, alerts=3
    )


async def test_promise_figures_are_recomputed_from_the_ledger(seeded: QaReport) -> None:
    tallies = {t.promise: t for t in seeded.promises}
    assert list(tallies) == [
        "reminder_24_48h_before",
        "no_show_rule",
        "complaint_ack_at_once",
        "complaint_resolved_within_48h",
    ]
    reminder = tallies["reminder_24_48h_before"]
    assert (reminder.kept, reminder.broken, reminder.not_applicable) == (34, 2, 4)
    assert reminder.percent_kept == 94.4
    no_show = tallies["no_show_rule"]
    assert (no_show.kept, no_show.waived, no_show.broken) == (2, 1, 0)
    resolved = tallies["complaint_resolved_within_48h"]
    assert (resolved.kept, resolved.broken) == (6, 2)
    # The report's complaint figures are the ledger's verdicts, the SlaBreached attribute's.
    assert seeded.complaints_resolved_48h == Rate(resolved.kept, resolved.decided)
    assert seeded.complaints_sla_breached == Rate(resolved.broken, resolved.decided)
    text = render_table(seeded)
    assert "reminder 24 48h before" in text and "94.4% kept (34 of 36); 4 n/a" in text
    assert "no show rule" in text and "100% kept (2 of 2); 1 waived" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(seeded))))
    kept = {r["breakdown"]: r for r in rows if r["metric"] == "promise_kept_pct"}
    assert kept["complaint_resolved_within_48h"]["value"] == "75.0"


async def test_nps_and_weekly_trend(seeded: QaReport) -> None:
    assert seeded.nps == Nps(responses=20, promoters=10, passives=4, detractors=6)
    assert seeded.nps.score == 20.0
    w10, w11 = seeded.weeks
    assert (w10.label, w11.label) == ("2026-W10", "2026-W11")
    assert (w10.appointments, w11.appointments) == (20, 20)
    assert (w10.confirmation.percent, w11.confirmation.percent) == (80.0, 70.0)
    assert (w10.no_shows.percent, w11.no_shows.percent) == (10.0, 5.0)
    assert (w10.complaints_resolved_48h, w11.complaints_resolved_48h) == (Rate(5, 7), Rate(1, 1))
    assert (w10.nps.score, w11.nps.score) == (40.0, 0.0)
    assert w10.reminders_in_window == Rate(20, 20)
    assert w11.reminders_in_window == Rate(15, 17)


# --- formats -------------------------------------------------------------------------------------


def test_table_format(seeded: QaReport) -> None:
    text = render_table(seeded)
    assert text.startswith("Promptly QA report 2026-03-02 – 2026-03-15 (Europe/Warsaw)")
    lines = text.splitlines()

    def value(label: str) -> str:
        line = next(line for line in lines if line.strip().startswith(label))
        return line.strip()[len(label) :].strip()

    assert value("Appointments in the period") == "40"
    assert value("Confirmation rate") == "75% (30 of 40)"
    assert value("Median time to confirm (from booking)") == "15h 30m"
    assert value("Reminders sent within 24–48h before the visit") == "94.6% (35 of 37)"
    assert value("No-show rate") == "7.5% (3 of 40)"
    assert value("Late cancellations and reschedules") == "7.5% (3 of 40)"
    assert value("Outcome: no answer") == "4"
    assert value("Resolved within 48h (promise kept, of decided)") == "75% (6 of 8)"
    assert value("customer_care · level 1 (supervisor)") == "2"
    assert value("NPS") == "+20 (20 answers: 10 promoters, 4 passives, 6 detractors)"
    assert value("Inquiries received") == "4"
    assert value("Answered by the answer deadline") == "25% (1 of 4)"
    assert value("Staff alerts while unanswered") == "3"
    assert "  2026-W10            20        80%                 100%       10%" in text


def test_csv_format(seeded: QaReport) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(seeded))))
    by_key = {(row["metric"], row["breakdown"]): row for row in rows}
    assert by_key[("appointments", "")]["value"] == "40"
    assert by_key[("confirmation_rate_pct", "")] == {
        "metric": "confirmation_rate_pct",
        "breakdown": "",
        "value": "75.0",
        "count": "30",
        "of": "40",
    }
    assert by_key[("median_time_to_confirm_hours", "")]["value"] == "15.5"
    assert by_key[("reminders_in_window_pct", "")]["value"] == "94.6"
    assert by_key[("no_show_rate_pct", "")]["value"] == "7.5"
    assert by_key[("no_show_rate_pct", "")]["count"] == "3"
    assert by_key[("late_cancellation_rate_pct", "")]["value"] == "7.5"
    assert by_key[("call_outcome", "no_answer")]["value"] == "4"
    assert by_key[("call_outcome", "not_recorded")]["value"] == "1"
    assert by_key[("complaints_resolved_48h_pct", "")]["value"] == "75.0"
    assert by_key[("escalations", "customer_care/level 3")]["value"] == "1"
    assert by_key[("nps", "")]["value"] == "20.0"
    assert by_key[("nps_detractors", "")]["value"] == "6"
    assert by_key[("week_no_show_rate_pct", "2026-W10")]["value"] == "10.0"
    assert by_key[("week_nps", "2026-W11")]["value"] == "0.0"
    assert by_key[("inquiries_answered_on_time_pct", "")]["count"] == "1"
    assert by_key[("inquiries_promoted", "")]["value"] == "1"


def test_html_format(seeded: QaReport) -> None:
    page = render_html(seeded)
    assert page.startswith("<!DOCTYPE html>")
    assert "7.5% (3 of 40)" in page
    assert "94.6% (35 of 37)" in page
    # Self-contained: no scripts, stylesheets or images from elsewhere.
    for external in ("<script", "<link", "<img", "src=", "href=", "url("):
        assert external not in page
    svgs = [chunk.split("</svg>")[0] + "</svg>" for chunk in page.split("<svg")[1:]]
    assert len(svgs) == 4
    ns = {"s": "http://www.w3.org/2000/svg"}
    charts = [ET.fromstring("<svg" + svg) for svg in svgs]  # well-formed XML
    titles = [chart.findtext("s:title", namespaces=ns) for chart in charts]
    assert titles == [
        "Confirmation and reminders by week",
        "No-show rate by week",
        "Complaints resolved within 48h by week",
        "NPS by week",
    ]
    confirmation, no_shows, _, nps = charts
    assert len(confirmation.findall("s:polyline", ns)) == 2  # one line per series
    bars = [
        bar.findtext("s:title", namespaces=ns)
        for bar in no_shows.findall("s:rect[@class='bar']", ns)
    ]
    assert bars == ["no-shows 2026-W10: 10%", "no-shows 2026-W11: 5%"]
    points = [c.findtext("s:title", namespaces=ns) for c in nps.findall("s:circle", ns)]
    assert points == ["NPS 2026-W10: 40", "NPS 2026-W11: 0"]


def test_cli_writes_each_format(
    report_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .data/env from a local `promptly dev`
    monkeypatch.setenv("PROMPTLY_DATABASE_URL", report_db)
    monkeypatch.setenv("PROMPTLY_OFFICE_TIMEZONE", "Europe/Warsaw")
    runner = CliRunner()
    args = ["report", "--from", "2026-03-02", "--to", "2026-03-15"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "No-show rate" in table.output and "7.5% (3 of 40)" in table.output
    as_csv = runner.invoke(app, [*args, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    assert "no_show_rate_pct,,7.5,3,40" in as_csv.output
    out = tmp_path / "qa.html"
    as_html = runner.invoke(app, [*args, "--format", "html", "--output", str(out)])
    assert as_html.exit_code == 0, as_html.output
    assert out.read_text().count("<svg") == 4
    backwards = runner.invoke(app, ["report", "--from", "2026-03-15", "--to", "2026-03-02"])
    assert backwards.exit_code == 2
    assert "before --from" in backwards.output


async def test_html_renders_its_charts_in_a_headless_browser(
    seeded: QaReport, tmp_path: Path
) -> None:
    page_file = tmp_path / "qa.html"
    page_file.write_text(render_html(seeded), encoding="utf-8")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium(), args=list(HEADLESS_FLAGS)
        )
        page = await browser.new_page(viewport={"width": 1240, "height": 1400})
        await page.goto(page_file.as_uri())
        charts = page.locator("svg.chart")
        assert await charts.count() == 4
        for index in range(4):  # laid out at full size, each with its drawn data
            chart = charts.nth(index)
            box = await chart.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 150
            drawn = await chart.locator("rect, polyline").count()
            assert drawn > 1, await chart.locator("title").inner_text()
        shot = tmp_path / "qa-report.png"
        await page.screenshot(path=shot, full_page=True)
        await browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep_screenshot(shot)


# --- pure pieces ---------------------------------------------------------------------------------


def test_period_bounds_are_local_midnights() -> None:
    p = Period(date(2026, 3, 28), date(2026, 3, 29), "Europe/Warsaw")  # DST starts on the 29th
    assert p.start.isoformat() == "2026-03-28T00:00:00+01:00"
    assert p.end.isoformat() == "2026-03-30T00:00:00+02:00"
    assert p.weeks() == [date(2026, 3, 23)]
    with pytest.raises(ValueError, match="before --from"):
        Period(date(2026, 3, 2), date(2026, 3, 1))


def test_empty_period_has_no_rates() -> None:
    report = compute(ReportFacts(), PERIOD)
    assert report.confirmation.percent is None
    assert report.nps.score is None
    assert report.median_time_to_confirm is None
    for fmt in ReportFormat:
        assert render(report, fmt)
    assert "Confirmation rate" in render_table(report)


def test_reminder_window_edges() -> None:
    start = local(10)
    facts = ReportFacts(
        appointments=[
            AppointmentFact(
                case_id="appointment-A-1",
                starts_at=start,
                status="Completed",
                booked_at=start - timedelta(days=7),
                reminders=(
                    ReminderFact(sent=True, lead=timedelta(hours=48)),
                    ReminderFact(sent=True, lead=timedelta(hours=24)),
                    ReminderFact(sent=True, lead=timedelta(hours=48, seconds=1)),
                    ReminderFact(sent=True, lead=timedelta(hours=23, minutes=59)),
                    ReminderFact(sent=True, lead=None),
                ),
            )
        ],
        complaints=[
            ComplaintFact("complaint-K-1", "billing", start, start + timedelta(hours=48)),
            ComplaintFact("complaint-K-2", "billing", start, start + timedelta(hours=49)),
        ],
        surveys=[SurveyFact(nps, start) for nps in (0, 6, 7, 8, 9, 10)],
    )
    report = compute(facts, PERIOD)
    assert report.reminders_in_window == Rate(2, 5)
    assert report.complaints_resolved_48h == Rate(1, 2)
    assert report.nps == Nps(6, 2, 2, 2)
    assert report.nps.score == 0.0


def test_previous_weeks_are_full_local_weeks() -> None:
    # Monday 07:00 in Warsaw is Monday 06:00 UTC: the week reported is the one just ended.
    monday = datetime(2026, 3, 16, 7, 0, tzinfo=TZ)
    assert previous_weeks(monday, "Europe/Warsaw") == Period(
        date(2026, 3, 9), date(2026, 3, 15), "Europe/Warsaw"
    )
    sunday_night = datetime(2026, 3, 15, 23, 30, tzinfo=ZoneInfo("UTC"))  # Monday 00:30 local
    assert previous_weeks(sunday_night, "Europe/Warsaw", weeks=2) == PERIOD
