"""The QA report's reads from PostgreSQL: the system of record (`cases`, `timeline_events`,
`billing_outcomes`, `staff_tasks`, `survey_responses`, `promises`) turned into the report's
facts, read-only.

The figures and formats are pure (promptly/domain/qa_report.py). Both the weekly schedule's
activity and `promptly report` read through here.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from promptly.domain.demo import DEMO_CASE_ID_LIKE
from promptly.domain.promise_report import PromiseFact
from promptly.domain.qa_report import (
    CALL_OUTCOMES,
    AppointmentFact,
    ComplaintFact,
    EscalationFact,
    InquiryFact,
    Period,
    QaReport,
    ReminderFact,
    ReportFacts,
    SurveyFact,
    compute,
)

# Call attempts from the front desk's call tasks (`staff_tasks`, kind `call_client`): a task
# closed with a call's outcome was called; one still open or closed `no_outcome` has no
# outcome recorded; one the case closed itself (the client confirmed or cancelled first, a
# newer task superseded it) was no call to make. Billing: a waiver lifts the fee before it
# (the latest late-change or no-show fee written before the waiver), so each waiver counts
# against that fee alone.
_APPOINTMENTS_SQL = """
SELECT c.case_id, c.starts_at, c.status,
       ev.booked_at, ev.confirmed_at,
       coalesce(tk.call_attempts, 0) AS call_attempts,
       coalesce(tk.call_outcomes, '{}') AS call_outcomes,
       coalesce(tk.calls_closed_by_case, 0) AS calls_closed_by_case,
       coalesce(b.late_cancelled, false) AS late_cancelled,
       coalesce(b.late_fees_waived, 0) AS late_fees_waived,
       coalesce(b.no_show_fee_waived, false) AS no_show_fee_waived
  FROM cases c
  CROSS JOIN LATERAL (
      SELECT min(t.at) AS booked_at,
             min(t.at) FILTER (WHERE t.kind = 'status'
                                 AND t.data->>'status' = 'Confirmed') AS confirmed_at
        FROM timeline_events t
       WHERE t.case_id = c.case_id) ev
  LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE k.called OR NOT k.by_case)::int AS call_attempts,
             count(*) FILTER (WHERE k.by_case)::int AS calls_closed_by_case,
             coalesce(array_agg(s.outcome ORDER BY s.id) FILTER (WHERE k.called),
                      '{}') AS call_outcomes
        FROM staff_tasks s
        CROSS JOIN LATERAL (
            SELECT coalesce(s.outcome = ANY(%(call_outcomes)s), false) AS called,
                   s.status <> 'open' AND coalesce(s.outcome, '') NOT IN ('', 'no_outcome')
                       AND NOT s.outcome = ANY(%(call_outcomes)s) AS by_case) k
       WHERE s.case_id = c.case_id AND s.kind = 'call_client') tk ON true
  LEFT JOIN LATERAL (
      SELECT bool_or(o.outcome = 'late_cancel') AS late_cancelled,
             count(DISTINCT lifted.id) FILTER (WHERE lifted.outcome = 'late_cancel')::int
                 AS late_fees_waived,
             coalesce(bool_or(lifted.outcome = 'no_show'), false) AS no_show_fee_waived
        FROM billing_outcomes o
        LEFT JOIN LATERAL (
            SELECT f.id, f.outcome
              FROM billing_outcomes f
             WHERE f.case_id = o.case_id AND f.id < o.id
               AND f.outcome IN ('late_cancel', 'no_show')
             ORDER BY f.id DESC LIMIT 1) lifted ON o.outcome = 'waived'
       WHERE o.case_id = c.case_id) b ON true
 WHERE c.kind = 'appointment' AND c.starts_at >= %(start)s AND c.starts_at < %(end)s
   AND c.case_id NOT LIKE %(demo)s
 ORDER BY c.starts_at, c.case_id
"""

# Each reminder with the visit time in effect when it was sent: the start carried by the
# latest earlier booking or reschedule entry of the same case.
_REMINDERS_SQL = """
SELECT r.case_id, r.kind, r.at,
       (SELECT (s.data->>'start')::timestamptz
          FROM timeline_events s
         WHERE s.case_id = r.case_id AND s.seq < r.seq AND s.data ? 'start'
         ORDER BY s.seq DESC LIMIT 1) AS start_in_effect
  FROM timeline_events r
  JOIN cases c ON c.case_id = r.case_id
 WHERE c.kind = 'appointment' AND c.starts_at >= %(start)s AND c.starts_at < %(end)s
   AND c.case_id NOT LIKE %(demo)s
   AND r.kind IN ('message', 'message_failed') AND r.data->>'template' = 'reminder'
 ORDER BY r.case_id, r.seq
"""

# When a case (row `c`) was opened: its first timeline entry, as `f.opened_at`.
_OPENED = """
  CROSS JOIN LATERAL (SELECT min(t.at) AS opened_at
                        FROM timeline_events t WHERE t.case_id = c.case_id) f"""

# A complaint is resolved by its first resolution (proposed or closed) after its last
# reopening; a reopened complaint without a new resolution is unresolved.
_COMPLAINTS_SQL = f"""
SELECT c.case_id, coalesce(c.details->>'department', '') AS department,
       coalesce((c.details->>'sla_breached')::boolean, false) AS sla_breached,
       (c.details->>'feedback_score')::int AS feedback_score,
       f.opened_at AS filed_at,
       (SELECT min(t.at)
          FROM timeline_events t
         WHERE t.case_id = c.case_id AND t.kind = 'status'
           AND t.data->>'status' IN ('ResolutionProposed', 'Closed', 'ClosedUnconfirmed')
           AND t.seq > coalesce(
               (SELECT max(o.seq) FROM timeline_events o
                 WHERE o.case_id = c.case_id AND o.kind = 'status'
                   AND o.data->>'status' = 'Open'
                   AND o.data->>'previous' = 'ResolutionProposed'), -1)
       ) AS resolved_at
  FROM cases c{_OPENED}
 WHERE c.kind = 'complaint' AND f.opened_at >= %(start)s AND f.opened_at < %(end)s
   AND c.case_id NOT LIKE %(demo)s
 ORDER BY f.opened_at, c.case_id
"""

# Escalations: the SLA-clock tiers (decision entries) and reopenings one tier up (status).
_ESCALATIONS_SQL = """
SELECT t.case_id, coalesce(c.details->>'department', '') AS department,
       (t.data->>'level')::int AS level,
       coalesce((t.data->>'breach')::boolean, false) AS breach, t.at,
       c.details->>'root_cause' AS root_cause
  FROM timeline_events t
  JOIN cases c ON c.case_id = t.case_id
 WHERE c.kind = 'complaint' AND t.kind IN ('decision', 'status') AND t.data ? 'level'
   AND t.at >= %(start)s AND t.at < %(end)s AND c.case_id NOT LIKE %(demo)s
 ORDER BY t.at, t.case_id
"""

# Inquiries by when they were received (their first timeline entry), read from the status and
# alert entries their workflow wrote.
_INQUIRIES_SQL = f"""
SELECT c.case_id, f.opened_at AS received_at,
       (SELECT (t.data->>'on_time')::boolean FROM timeline_events t
         WHERE t.case_id = c.case_id AND t.kind = 'status' AND t.data->>'status' = 'Answered'
         ORDER BY t.seq LIMIT 1) AS answered_on_time,
       EXISTS (SELECT 1 FROM timeline_events t
                WHERE t.case_id = c.case_id AND t.kind = 'status'
                  AND t.data->>'status' = 'Promoted') AS promoted,
       (SELECT count(*) FROM timeline_events t
         WHERE t.case_id = c.case_id AND t.kind = 'decision' AND t.data ? 'alert')::int AS alerts
  FROM cases c{_OPENED}
 WHERE c.kind = 'inquiry' AND f.opened_at >= %(start)s AND f.opened_at < %(end)s
   AND c.case_id NOT LIKE %(demo)s
 ORDER BY f.opened_at, c.case_id
"""

# Numbers that opted out of our texts in the period, and have not opted in again since.
_SMS_OPT_OUTS_SQL = """
SELECT count(*)::int AS opted_out FROM sms_numbers
 WHERE opted_out AND opted_out_at >= %(start)s AND opted_out_at < %(end)s
"""

# The providers' decisions on clients' fee pleas, made in the period (their tasks' closing).
_PLEA_DECISIONS_SQL = """
SELECT coalesce(data->>'provider_id', '') AS provider, outcome, count(*)::int AS decided
  FROM staff_tasks
 WHERE kind = 'provider_decision' AND outcome IN ('waive_fee', 'fee_stands')
   AND closed_at >= %(start)s AND closed_at < %(end)s AND case_id NOT LIKE %(demo)s
 GROUP BY 1, 2
 ORDER BY 1, 2
"""

_SURVEYS_SQL = """
SELECT nps, answered_at FROM survey_responses
 WHERE answered_at >= %(start)s AND answered_at < %(end)s AND case_id NOT LIKE %(demo)s
 ORDER BY answered_at
"""


# The promise ledger's verdicts of the cases the report covers: appointments by their start,
# other cases by when they were opened (their first timeline entry).
_PROMISES_SQL = f"""
SELECT p.case_id, p.promise, p.verdict
  FROM promises p
  JOIN cases c ON c.case_id = p.case_id{_OPENED}
 WHERE coalesce(CASE WHEN c.kind = 'appointment' THEN c.starts_at END, f.opened_at)
       >= %(start)s
   AND coalesce(CASE WHEN c.kind = 'appointment' THEN c.starts_at END, f.opened_at)
       < %(end)s
   AND p.case_id NOT LIKE %(demo)s
 ORDER BY p.case_id, p.promise
"""


async def load_facts(conn: AsyncConnection[Any], period: Period) -> ReportFacts:
    """Read the facts of `period` from PostgreSQL (read-only)."""
    # Demo cases (`make demo`) are samples, not the service the report measures.
    bounds = {"start": period.start, "end": period.end, "demo": DEMO_CASE_ID_LIKE}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_REMINDERS_SQL, bounds)
        reminders: dict[str, list[ReminderFact]] = {}
        for row in await cur.fetchall():
            start = row["start_in_effect"]
            reminders.setdefault(row["case_id"], []).append(
                ReminderFact(
                    sent=row["kind"] == "message",
                    lead=start - row["at"] if start is not None else None,
                )
            )
        await cur.execute(_APPOINTMENTS_SQL, bounds | {"call_outcomes": list(CALL_OUTCOMES)})
        appointments = [
            AppointmentFact(
                case_id=row["case_id"],
                starts_at=row["starts_at"],
                status=row["status"],
                booked_at=row["booked_at"] or row["starts_at"],
                confirmed_at=row["confirmed_at"],
                reminders=tuple(reminders.get(row["case_id"], ())),
                call_attempts=row["call_attempts"],
                call_outcomes=tuple(row["call_outcomes"]),
                calls_closed_by_case=row["calls_closed_by_case"],
                late_cancelled=row["late_cancelled"],
                late_fees_waived=row["late_fees_waived"],
                no_show_fee_waived=row["no_show_fee_waived"],
            )
            for row in await cur.fetchall()
        ]
        await cur.execute(_COMPLAINTS_SQL, bounds)
        complaints = [ComplaintFact(**row) for row in await cur.fetchall()]
        await cur.execute(_ESCALATIONS_SQL, bounds)
        escalations = [EscalationFact(**row) for row in await cur.fetchall()]
        await cur.execute(_SURVEYS_SQL, bounds)
        surveys = [SurveyFact(**row) for row in await cur.fetchall()]
        await cur.execute(_PROMISES_SQL, bounds)
        promises = [PromiseFact(**row) for row in await cur.fetchall()]
        await cur.execute(_INQUIRIES_SQL, bounds)
        inquiries = [InquiryFact(**row) for row in await cur.fetchall()]
        await cur.execute(_SMS_OPT_OUTS_SQL, bounds)
        opted_out = await cur.fetchone()
        await cur.execute(_PLEA_DECISIONS_SQL, bounds)
        pleas = {(r["provider"], r["outcome"]): r["decided"] for r in await cur.fetchall()}
    return ReportFacts(
        appointments,
        complaints,
        escalations,
        surveys,
        promises,
        inquiries,
        sms_opt_outs=opted_out["opted_out"] if opted_out else 0,
        plea_decisions=pleas,
    )


async def build_report(conn: AsyncConnection[Any], period: Period) -> QaReport:
    return compute(await load_facts(conn, period), period)
