"""The QA report tells the manager what happened: fees waived against the fee they lifted,
call attempts the front desk really had, one definition of "resolved within 48h", the clients
our texts no longer reach.

Seeded like the workflows' activities write (tests/test_report.py's writer), read back through
`build_report`, and checked in the table and CSV the manager reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import psycopg
import pytest
import pytest_asyncio
from psycopg.types.json import Jsonb

from promptly.db.qa_facts import build_report
from promptly.domain.qa_report import QaReport, Rate
from promptly.domain.qa_report_render import render_csv, render_table
from tests.conftest import migrated_database
from tests.test_report import PERIOD, Case, appointment, complaint, h, local, store


def fees() -> list[Case]:
    # Rescheduled late (fee waived for a flood), then did not come: the no-show fee stands.
    moved = appointment(1, local(4, 10), "NoShow")
    moved.billing += [
        ("late_cancel", "late reschedule", local(3, 9)),
        ("waived", "flood", local(3, 10)),
        ("no_show", "not checked in", local(4, 10)),
    ]
    # A no-show whose own fee was waived.
    excused = appointment(2, local(5, 10), "NoShow")
    excused.billing += [
        ("no_show", "not checked in", local(5, 10)),
        ("waived", "force majeure", local(5, 12)),
    ]
    return [moved, excused]


def calls() -> list[Case]:
    """Four call tasks written on three visits; two closed by the client before any call."""
    cases = []
    plan: dict[int, list[str | None]] = {
        3: ["confirmed"],  # the client confirmed by email before the desk called
        4: ["cancelled"],  # the client cancelled first
        5: ["no_outcome", "reached_confirmed"],  # unrecorded first call, then reached
    }
    for number, outcomes in plan.items():
        case = appointment(number, local(10, 10))
        for attempt, outcome in enumerate(outcomes, start=1):
            at = local(9, 8 + attempt)
            case.note(at, "message", f"Call task {attempt}", template="call_task", attempt=attempt)
            case.call_tasks.append((at, outcome))
            if outcome == "reached_confirmed":
                case.note(at + h(0.5), "action", "Call", outcome=outcome, attempt=attempt)
        cases.append(case)
    return cases


def complaints() -> list[Case]:
    resolved = complaint(1, "billing", local(11, 9), "Closed")
    resolved.note(local(11, 9) + h(20), "status", "Closed", status="Closed", previous="Open")
    resolved.promises.append(("complaint_resolved_within_48h", "kept"))
    still_open = complaint(2, "billing", local(12, 9), "Open")
    still_open.promises.append(("complaint_resolved_within_48h", "pending"))
    return [resolved, still_open]


@pytest.fixture(scope="module")
def truth_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_report_truth") as url:
        with psycopg.connect(url) as conn:
            for case in [*fees(), *calls(), *complaints()]:
                store(conn, case)
            # STOP in the period (twice: one number later opted in again), and before it.
            for phone, out_at, still_out in (
                ("+48600000001", local(6, 9), True),
                ("+48600000002", local(7, 9), False),
                ("+48600000003", local(20, 9, month=2), True),
            ):
                conn.execute(
                    """INSERT INTO sms_numbers (phone, opted_out, opted_out_at)
                       VALUES (%s, %s, %s)""",
                    (phone, still_out, out_at),
                )
            # Providers' decisions on pleas: two in the period by P-1, one by P-2, one open,
            # one decided before the period.
            for n, (provider, outcome, closed_at) in enumerate(
                (
                    ("P-1", "waive_fee", local(5, 12)),
                    ("P-1", "fee_stands", local(9, 12)),
                    ("P-2", "waive_fee", local(10, 12)),
                    ("P-2", None, None),
                    ("P-2", "fee_stands", local(25, 12, month=2)),
                )
            ):
                conn.execute(
                    """INSERT INTO staff_tasks (idempotency_key, case_id, kind, assignee, title,
                                               due_at, data, status, outcome, closed_at)
                       VALUES (%s, %s, 'provider_decision', 'provider', 'Decide', %s,
                               %s, %s, %s, %s)""",
                    (
                        f"appointment-P{n}/plea",
                        f"appointment-P{n}",
                        local(12, 9),
                        Jsonb({"provider_id": provider}),
                        "open" if outcome is None else "done",
                        outcome,
                        closed_at,
                    ),
                )
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def report(truth_db: str) -> QaReport:
    async with await psycopg.AsyncConnection.connect(truth_db) as conn:
        return await build_report(conn, PERIOD)


def figure(report: QaReport, label: str) -> str:
    """The value the table shows beside `label`."""
    found = [
        line.strip()[len(label) :].strip()
        for line in render_table(report).splitlines()
        if line.strip().startswith(label + "  ")
    ]
    assert len(found) == 1, (label, found)
    return found[0]


def csv_value(report: QaReport, metric: str, breakdown: str = "") -> str:
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    found = [r for r in rows if r["metric"] == metric and r["breakdown"] == breakdown]
    assert len(found) == 1, (metric, breakdown)
    return found[0]["value"]


async def test_a_waiver_counts_against_the_fee_it_lifted(report: QaReport) -> None:
    # The late-change fee of 1 was waived, its later no-show fee charged: 1 no-show waived (2).
    assert figure(report, "No-show fees waived") == "1"
    assert figure(report, "Late-change fees waived") == "1"
    assert csv_value(report, "no_show_fees_waived") == "1"
    assert csv_value(report, "late_fees_waived") == "1"


async def test_call_tasks_closed_by_the_case_are_no_calls(report: QaReport) -> None:
    assert figure(report, "Appointments followed up by phone") == "1"
    assert figure(report, "Call attempts") == "2"
    assert figure(report, "Outcome: reached confirmed") == "1"
    assert figure(report, "Outcome not recorded") == "1"
    closed = "Call tasks closed before a call (client confirmed or cancelled first)"
    assert figure(report, closed) == "2"
    assert csv_value(report, "call_attempts") == "2"
    assert csv_value(report, "call_outcome", "not_recorded") == "1"
    assert csv_value(report, "call_tasks_closed_by_case") == "2"


async def test_resolved_within_48h_has_one_definition(report: QaReport) -> None:
    # Decided ones are the base in both sections; the open complaint is pending in both.
    assert report.complaints_resolved_48h == Rate(1, 1)
    assert figure(report, "Resolved within 48h (promise kept, of decided)") == "100% (1 of 1)"
    assert figure(report, "48h resolution not decided yet (pending)") == "1"
    assert figure(report, "complaint resolved within 48h") == "100% kept (1 of 1); 1 pending"
    assert csv_value(report, "complaints_resolved_48h_pct") == "100.0"
    assert csv_value(report, "complaints_resolution_pending") == "1"
    week = [w for w in report.weeks if w.complaints_resolved_48h.of]
    assert [w.complaints_resolved_48h for w in week] == [Rate(1, 1)]


async def test_numbers_that_stopped_our_texts_in_the_period_are_counted(report: QaReport) -> None:
    # One still out since the period's STOP; one opted in again; one stopped before it.
    assert figure(report, "Numbers that stopped our texts (STOP)") == "1"
    assert csv_value(report, "sms_opt_outs") == "1"


async def test_the_providers_decisions_on_pleas_are_counted_by_provider(report: QaReport) -> None:
    assert figure(report, "Plea decided by P-1: fee waived") == "1"
    assert figure(report, "Plea decided by P-1: fee stands") == "1"
    assert figure(report, "Plea decided by P-2: fee waived") == "1"
    assert report.plea_decisions == {
        ("P-1", "fee_stands"): 1,
        ("P-1", "waive_fee"): 1,
        ("P-2", "waive_fee"): 1,
    }
    assert csv_value(report, "plea_decisions", "P-2/waive_fee") == "1"
