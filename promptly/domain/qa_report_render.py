"""The QA report's three formats: a text table (the weekly email), CSV in long format, and one
self-contained HTML page with inline SVG charts (drawn by promptly/domain/svg_charts.py)."""

from __future__ import annotations

import csv
import html
import io
from datetime import timedelta

from promptly.domain import promise_report
from promptly.domain.qa_report import Nps, QaReport, Rate, ReportFormat, Week
from promptly.domain.svg_charts import Series, nice_max, svg_chart

# How a provider's decision on a client's plea against a fee reads in the report.
PLEA_OUTCOMES = {"waive_fee": "fee waived", "fee_stands": "fee stands"}


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "–"
    minutes = round(value.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _title(report: QaReport) -> str:
    p = report.period
    return f"Promptly QA report {p.first.isoformat()} – {p.last.isoformat()} ({p.timezone})"


def _nps_text(nps: Nps) -> str:
    score = "–" if nps.score is None else f"{nps.score:+g}"
    return (
        f"{score} ({nps.responses} answers: {nps.promoters} promoters, "
        f"{nps.passives} passives, {nps.detractors} detractors)"
    )


def _lines(report: QaReport) -> list[tuple[str, str, str]]:
    """(section, label, value) rows shared by the table and the HTML."""
    rows: list[tuple[str, str, str]] = [
        ("Appointments", "Appointments in the period", str(report.appointments)),
        ("Appointments", "Confirmation rate", str(report.confirmation)),
        (
            "Appointments",
            "Median time to confirm (from booking)",
            format_duration(report.median_time_to_confirm),
        ),
        (
            "Appointments",
            "Reminders sent within 24–48h before the visit",
            str(report.reminders_in_window),
        ),
        ("Appointments", "Reminders that could not be sent", str(report.reminders_failed)),
        ("Phone follow-up", "Appointments followed up by phone", str(report.follow_up_cases)),
        ("Phone follow-up", "Call attempts", str(report.call_attempts)),
    ]
    rows += [
        ("Phone follow-up", f"Outcome: {outcome.replace('_', ' ')}", str(count))
        for outcome, count in report.call_outcomes.items()
    ]
    rows += [
        ("Phone follow-up", "Outcome not recorded", str(report.calls_without_outcome)),
        (
            "Phone follow-up",
            "Call tasks closed before a call (client confirmed or cancelled first)",
            str(report.calls_closed_by_case),
        ),
        ("Reaching clients", "Numbers that stopped our texts (STOP)", str(report.sms_opt_outs)),
        ("Attendance", "No-show rate", str(report.no_shows)),
        *(
            ("Attendance", f"Plea decided by {provider}: {PLEA_OUTCOMES[outcome]}", str(count))
            for (provider, outcome), count in report.plea_decisions.items()
        ),
        ("Attendance", "No-show fees waived", str(report.no_shows_waived)),
        ("Attendance", "Late cancellations and reschedules", str(report.late_cancellations)),
        ("Attendance", "Late-change fees waived", str(report.late_fees_waived)),
        ("Complaints", "Complaints filed", str(report.complaints)),
        (
            "Complaints",
            "Resolved within 48h (promise kept, of decided)",
            str(report.complaints_resolved_48h),
        ),
        (
            "Complaints",
            "48h resolution not decided yet (pending)",
            str(report.complaints_resolution_pending),
        ),
        ("Complaints", "Not resolved yet", str(report.complaints_unresolved)),
        ("Complaints", "SLA breached", str(report.complaints_sla_breached)),
        ("Complaints", "Follow-up feedback (NPS)", _nps_text(report.complaint_feedback)),
        ("Inquiries", "Inquiries received", str(report.inquiries.received)),
        ("Inquiries", "Answered by the answer deadline", str(report.inquiries.answered_on_time)),
        ("Inquiries", "Promoted to a complaint", str(report.inquiries.promoted)),
        ("Inquiries", "Not answered yet", str(report.inquiries.unanswered)),
        ("Inquiries", "Staff alerts while unanswered", str(report.inquiries.alerts)),
    ]
    if not report.escalations:
        rows.append(("Escalations", "Escalations", "0"))
    rows += [
        ("Escalations", f"{e.department} · level {e.level} ({e.tier})", str(e.count))
        for e in report.escalations
    ]
    rows += [
        ("Escalations", f"Root cause: {cause.replace('_', ' ')}", str(count))
        for cause, count in report.escalations_by_root_cause.items()
    ]
    rows.append(("Satisfaction", "NPS", _nps_text(report.nps)))
    return rows + promise_report.lines(report.promises)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:g}%"


def _week_cells(week: Week) -> list[str]:
    return [
        week.label,
        str(week.appointments),
        _percent(week.confirmation.percent),
        _percent(week.reminders_in_window.percent),
        _percent(week.no_shows.percent),
        _percent(week.complaints_resolved_48h.percent),
        "–" if week.nps.score is None else f"{week.nps.score:+g}",
    ]


WEEK_HEADERS = [
    "week",
    "appointments",
    "confirmed",
    "reminders in window",
    "no-shows",
    "complaints ≤48h",
    "NPS",
]


def render_table(report: QaReport) -> str:
    out = [_title(report), ""]
    lines = _lines(report)
    width = max(len(label) for _, label, _ in lines)
    section = ""
    for name, label, value in lines:
        if name != section:
            if section:
                out.append("")
            section = name
            out.append(name)
        out.append(f"  {label:<{width}}  {value}")
    out += ["", "Trend by week"]
    table = [WEEK_HEADERS, *(_week_cells(w) for w in report.weeks)]
    widths = [max(len(row[i]) for row in table) for i in range(len(WEEK_HEADERS))]
    for row in table:
        out.append("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(out) + "\n"


def _rate_row(metric: str, breakdown: str, rate: Rate) -> list[object]:
    return [metric, breakdown, "" if rate.percent is None else rate.percent, rate.count, rate.of]


def csv_rows(report: QaReport) -> list[list[object]]:
    """Long format: metric, breakdown, value, count, of (count/of only for rates)."""
    p = report.period
    ttc = report.median_time_to_confirm
    rows: list[list[object]] = [
        ["metric", "breakdown", "value", "count", "of"],
        ["period_from", "", p.first.isoformat(), "", ""],
        ["period_to", "", p.last.isoformat(), "", ""],
        ["timezone", "", p.timezone, "", ""],
        ["appointments", "", report.appointments, "", ""],
        _rate_row("confirmation_rate_pct", "", report.confirmation),
        [
            "median_time_to_confirm_hours",
            "",
            "" if ttc is None else round(ttc.total_seconds() / 3600, 2),
            "",
            "",
        ],
        _rate_row("reminders_in_window_pct", "", report.reminders_in_window),
        ["reminders_failed", "", report.reminders_failed, "", ""],
        ["follow_up_cases", "", report.follow_up_cases, "", ""],
        ["call_attempts", "", report.call_attempts, "", ""],
    ]
    rows += [["call_outcome", o, n, "", ""] for o, n in report.call_outcomes.items()]
    rows += [
        ["call_outcome", "not_recorded", report.calls_without_outcome, "", ""],
        ["call_tasks_closed_by_case", "", report.calls_closed_by_case, "", ""],
        ["sms_opt_outs", "", report.sms_opt_outs, "", ""],
        *(
            ["plea_decisions", f"{provider}/{outcome}", count, "", ""]
            for (provider, outcome), count in report.plea_decisions.items()
        ),
        _rate_row("no_show_rate_pct", "", report.no_shows),
        ["no_show_fees_waived", "", report.no_shows_waived, "", ""],
        _rate_row("late_cancellation_rate_pct", "", report.late_cancellations),
        ["late_fees_waived", "", report.late_fees_waived, "", ""],
        ["complaints", "", report.complaints, "", ""],
        _rate_row("complaints_resolved_48h_pct", "", report.complaints_resolved_48h),
        ["complaints_resolution_pending", "", report.complaints_resolution_pending, "", ""],
        ["complaints_unresolved", "", report.complaints_unresolved, "", ""],
        _rate_row("complaints_sla_breached_pct", "", report.complaints_sla_breached),
        [
            "complaint_feedback_nps",
            "",
            "" if report.complaint_feedback.score is None else report.complaint_feedback.score,
            "",
            report.complaint_feedback.responses,
        ],
        ["inquiries", "", report.inquiries.received, "", ""],
        _rate_row("inquiries_answered_on_time_pct", "", report.inquiries.answered_on_time),
        ["inquiries_promoted", "", report.inquiries.promoted, "", ""],
        ["inquiries_unanswered", "", report.inquiries.unanswered, "", ""],
        ["inquiry_alerts", "", report.inquiries.alerts, "", ""],
    ]
    rows += [
        ["escalations", f"{e.department}/level {e.level}", e.count, "", ""]
        for e in report.escalations
    ]
    rows += [
        ["escalations_by_root_cause", cause, count, "", ""]
        for cause, count in report.escalations_by_root_cause.items()
    ]
    nps = report.nps
    rows += [
        ["nps", "", "" if nps.score is None else nps.score, "", nps.responses],
        ["nps_promoters", "", nps.promoters, "", nps.responses],
        ["nps_passives", "", nps.passives, "", nps.responses],
        ["nps_detractors", "", nps.detractors, "", nps.responses],
    ]
    for w in report.weeks:
        rows += [
            ["week_appointments", w.label, w.appointments, "", ""],
            _rate_row("week_confirmation_rate_pct", w.label, w.confirmation),
            _rate_row("week_reminders_in_window_pct", w.label, w.reminders_in_window),
            _rate_row("week_no_show_rate_pct", w.label, w.no_shows),
            _rate_row("week_complaints_resolved_48h_pct", w.label, w.complaints_resolved_48h),
            ["week_nps", w.label, "" if w.nps.score is None else w.nps.score, "", w.nps.responses],
        ]
    return rows + promise_report.csv_rows(report.promises)


def render_csv(report: QaReport) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(csv_rows(report))
    return buffer.getvalue()


# --- HTML with inline SVG charts ----------------------------------------------------------------


def charts(report: QaReport) -> list[str]:
    labels = [w.label for w in report.weeks]
    weeks = report.weeks
    return [
        svg_chart(
            "Confirmation and reminders by week",
            labels,
            [
                Series("confirmed", [w.confirmation.percent for w in weeks], "#2563eb"),
                Series(
                    "reminders in 24–48h window",
                    [w.reminders_in_window.percent for w in weeks],
                    "#16a34a",
                ),
            ],
        ),
        svg_chart(
            "No-show rate by week",
            labels,
            [Series("no-shows", [w.no_shows.percent for w in weeks], "#dc2626")],
            kind="bar",
            y_max=nice_max(w.no_shows.percent for w in weeks),
        ),
        svg_chart(
            "Complaints resolved within 48h by week",
            labels,
            [
                Series(
                    "resolved ≤48h",
                    [w.complaints_resolved_48h.percent for w in weeks],
                    "#9333ea",
                )
            ],
            kind="bar",
        ),
        svg_chart(
            "NPS by week",
            labels,
            [Series("NPS", [w.nps.score for w in weeks], "#ea580c")],
            y_min=-100,
            y_max=100,
            unit="",
        ),
    ]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;margin:8px 0}
td,th{border-bottom:1px solid #e5e7eb;padding:4px 12px;text-align:left}
td.num,th.num{text-align:right}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#f9fafb;border:1px solid #e5e7eb}
.chart-title{font-size:13px;font-weight:600;fill:#111827}
.axis,.legend{font-size:11px;fill:#4b5563}.grid{stroke:#e5e7eb}
.note{color:#6b7280;font-size:12px}
"""


def render_html(report: QaReport) -> str:
    e = html.escape
    title = _title(report)
    body: list[str] = [f"<h1>{e(title)}</h1>", '<section class="charts">', *charts(report)]
    body.append("</section>")
    section = ""
    for name, label, value in _lines(report):
        if name != section:
            if section:
                body.append("</table>")
            section = name
            body.append(f"<h2>{e(name)}</h2><table>")
        body.append(f'<tr><td>{e(label)}</td><td class="num">{e(value)}</td></tr>')
    body.append("</table>")
    body.append("<h2>Trend by week</h2><table><tr>")
    body += [f'<th class="num">{e(h)}</th>' for h in WEEK_HEADERS]
    body.append("</tr>")
    for week in report.weeks:
        cells = "".join(f'<td class="num">{e(c)}</td>' for c in _week_cells(week))
        body.append(f"<tr>{cells}</tr>")
    body.append("</table>")
    body.append(
        '<p class="note">Appointments count by their start in the period; rates are of all '
        "appointments in the period. Reminders count when sent 24–48h before the visit time "
        "in effect then. Complaints resolved within 48h are those whose 48h resolution promise "
        "was kept, of those decided (kept or broken, as in Promises); pending ones are counted "
        "apart. Call attempts are the front desk's call tasks; tasks the case closed before a "
        "call (the client confirmed or cancelled first) are counted apart. "
        "Escalation level 1 is the supervisor, 2 and up the manager (SLA breached). NPS: "
        "promoters 9–10, passives 7–8, detractors 0–6.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


RENDERERS = {
    ReportFormat.TABLE: render_table,
    ReportFormat.CSV: render_csv,
    ReportFormat.HTML: render_html,
}


def render(report: QaReport, fmt: ReportFormat) -> str:
    return RENDERERS[fmt](report)
