"""The complaint service levels as pure functions: business time, the SLA clock, routing,
escalation tiers, status updates, hold/resume, verdicts, and which update is allowed when.

2 November 2026 is a Monday; 11 November (a Wednesday) is a Polish public holiday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from promptly.domain import calendar
from promptly.domain.calendar import BusinessCalendar, HourRange
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints import rules as complaint_rules
from promptly.domain.complaints import sla as complaint_sla
from promptly.domain.complaints.models import (
    Assignee,
    ComplaintCase,
    ComplaintPolicy,
    ComplaintRequest,
    ComplaintRoute,
    ComplaintRules,
    ComplaintStatus,
    Contact,
    EscalationMatrix,
    EscalationTiers,
    Severity,
)
from promptly.domain.complaints.rules import ComplaintStep
from tests.complaint_helpers import complaint_payload, contact, matrix

WARSAW = ZoneInfo("Europe/Warsaw")
H = timedelta(hours=1)
STAFF = Actor(kind=ActorKind.STAFF, id="agent-7")
CLIENT = Actor(kind=ActorKind.CLIENT, id="C-17")
# Mon–Fri 09:00–17:00 Warsaw, Wednesday 11 November shut.
OFFICE = BusinessCalendar(
    timezone="Europe/Warsaw", hours=HourRange(start_hour=9, end_hour=17), holidays=["2026-11-11"]
)


def warsaw(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WARSAW)


def rules(
    tiers: EscalationTiers | None = None, office: BusinessCalendar | None = None
) -> ComplaintRules:
    return ComplaintRules(
        route=ComplaintRoute(
            department="care",
            department_name="Customer care",
            owner=Contact(name="Ewa", email="care@promptly.example"),
            manager=Contact(name="Piotr", email="manager@promptly.example"),
            tiers=tiers or EscalationTiers(),
            business_hours=office,
            rule="*/*",
        ),
        policy=ComplaintPolicy(),
    )


def case_at(
    filed: datetime, tiers: EscalationTiers | None = None, office: BusinessCalendar | None = None
) -> ComplaintCase:
    request = ComplaintRequest.model_validate(complaint_payload())
    return complaint_sla.new_complaint_case(request, filed, rules(tiers, office))


# --- business time ---------------------------------------------------------------------


def test_business_time_skips_nights_weekends_and_holidays() -> None:
    # Friday 15:00 → Monday 11:00: 2h on Friday + 2h on Monday.
    assert calendar.business_time_between(warsaw(11, 6, 15), warsaw(11, 9, 11), OFFICE) == 4 * H
    # Tuesday 16:00 → Thursday 10:00 over the Wednesday holiday: 1h + 1h.
    assert calendar.business_time_between(warsaw(11, 10, 16), warsaw(11, 12, 10), OFFICE) == 2 * H
    assert calendar.business_time_between(warsaw(11, 7, 10), warsaw(11, 8, 20), OFFICE) == 0 * H


def test_without_office_hours_business_time_is_elapsed_time() -> None:
    assert calendar.business_time_between(warsaw(11, 6, 15), warsaw(11, 9, 11), None) == 68 * H
    assert calendar.add_business_time(warsaw(11, 6, 15), 48 * H, None) == warsaw(11, 8, 15)


def test_adding_business_time_over_a_weekend_and_a_holiday() -> None:
    assert calendar.add_business_time(warsaw(11, 6, 15), 4 * H, OFFICE) == warsaw(11, 9, 11)
    # Tuesday 16:00 + 3h: 1h Tuesday, Wednesday shut, 2h Thursday.
    assert calendar.add_business_time(warsaw(11, 10, 16), 3 * H, OFFICE) == warsaw(11, 12, 11)
    # Filed on a Saturday: the clock starts on Monday at opening.
    assert calendar.add_business_time(warsaw(11, 7, 12), 1 * H, OFFICE) == warsaw(11, 9, 10)


def test_a_deadline_landing_on_closing_time_stays_there() -> None:
    assert calendar.add_business_time(warsaw(11, 2, 9), 8 * H, OFFICE) == warsaw(11, 2, 17)
    assert calendar.add_business_time(warsaw(11, 2, 9), 8 * H + timedelta(seconds=1), OFFICE) == (
        warsaw(11, 3, 9) + timedelta(seconds=1)
    )


def test_business_time_keeps_wall_clock_hours_across_the_dst_change() -> None:
    # Sunday 25 October 2026 clocks go back; Friday 16:00 + 2h office time = Monday 10:00.
    assert calendar.add_business_time(warsaw(10, 23, 16), 2 * H, OFFICE) == warsaw(10, 26, 10)
    assert calendar.business_time_between(warsaw(10, 23, 16), warsaw(10, 26, 10), OFFICE) == 2 * H


@pytest.mark.parametrize("hours", [0.5, 3, 8, 13, 40, 100])
def test_adding_then_measuring_business_time_gives_it_back(hours: float) -> None:
    start = warsaw(11, 6, 13, 20)
    end = calendar.add_business_time(start, hours * H, OFFICE)
    assert calendar.business_time_between(start, end, OFFICE) == hours * H


def test_an_office_open_until_midnight() -> None:
    late = BusinessCalendar(hours=HourRange(start_hour=20, end_hour=24), weekdays=[0])
    assert calendar.add_business_time(warsaw(11, 2, 23), 2 * H, late) == warsaw(11, 9, 21)


# --- the SLA clock ----------------------------------------------------------------------


def test_stopped_clock_has_no_deadline_and_keeps_its_elapsed_time() -> None:
    clock = complaint_sla.fresh_clock(warsaw(11, 2, 9))
    stopped = complaint_sla.stop_clock(clock, warsaw(11, 2, 19), None)
    assert stopped.active_before == 10 * H and stopped.running_since is None
    assert complaint_sla.clock_reaches(stopped, 48 * H, None) is None
    assert complaint_sla.clock_elapsed(stopped, warsaw(11, 5, 9), None) == 10 * H
    restarted = complaint_sla.start_clock(stopped, warsaw(11, 3, 9))
    assert complaint_sla.clock_reaches(restarted, 48 * H, None) == warsaw(11, 4, 23)


def test_office_clock_paused_over_a_weekend_loses_only_office_time() -> None:
    clock = complaint_sla.fresh_clock(warsaw(11, 6, 15))  # Friday 15:00
    stopped = complaint_sla.stop_clock(clock, warsaw(11, 6, 16), OFFICE)
    assert stopped.active_before == 1 * H
    resumed = complaint_sla.start_clock(stopped, warsaw(11, 9, 14))  # Monday 14:00
    assert complaint_sla.clock_reaches(resumed, 4 * H, OFFICE) == warsaw(11, 9, 17)


# --- routing ------------------------------------------------------------------------------


def _matrix() -> EscalationMatrix:
    fast = {"supervisor_after": "PT1H", "breach_after": "PT2H"}
    return EscalationMatrix.model_validate(
        matrix(
            departments={
                "care": {"name": "Care", "owner": contact("care"), "manager": contact("boss")},
                "billing": {
                    "name": "Billing",
                    "owner": contact("billing"),
                    "manager": contact("cfo"),
                },
            },
            tiers={"critical": {"supervisor_after": "PT4H", "breach_after": "PT8H"}},
            routes=[
                {"category": "billing", "department": "billing", "owner": contact("anna")},
                {"category": "billing", "severity": "critical", "department": "billing"},
                {"severity": "high", "department": "care", "tiers": fast},
                {"category": "*", "severity": "*", "department": "care"},
            ],
        )
    )


def test_the_most_specific_route_wins_category_first() -> None:
    table = _matrix()
    assert complaint_sla.route_complaint(table, " BILLING ", Severity.HIGH).rule == "billing/*"
    assert (
        complaint_sla.route_complaint(table, "billing", Severity.CRITICAL).rule
        == "billing/critical"
    )
    assert complaint_sla.route_complaint(table, "parking", Severity.HIGH).rule == "*/high"
    assert complaint_sla.route_complaint(table, "parking", Severity.LOW).rule == "*/*"


def test_route_owner_and_tiers_fall_back_to_department_severity_and_defaults() -> None:
    table = _matrix()
    billing = complaint_sla.route_complaint(table, "billing", Severity.LOW)
    assert billing.owner.name == "Anna" and billing.manager.name == "Cfo"
    assert billing.tiers == EscalationTiers()  # no tiers anywhere: 24h / 48h / 24h
    critical = complaint_sla.route_complaint(table, "billing", Severity.CRITICAL)
    assert critical.owner.name == "Billing"
    assert (critical.tiers.supervisor_after, critical.tiers.breach_after) == (4 * H, 8 * H)
    high = complaint_sla.route_complaint(table, "parking", Severity.HIGH)
    assert (high.tiers.supervisor_after, high.tiers.breach_after) == (1 * H, 2 * H)


def test_staff_read_a_complaint_in_its_departments_hours_else_the_office_zone() -> None:
    route = complaint_sla.route_complaint(_matrix(), "billing", Severity.LOW, "Europe/Warsaw")
    assert route.staff_timezone("America/New_York") == "Europe/Warsaw"
    kept_hours = rules(office=OFFICE.model_copy(update={"timezone": "Europe/London"})).route
    assert kept_hours.staff_timezone("America/New_York") == "Europe/London"
    # Filed before the route named the office's zone: as then, the customer's.
    assert rules().route.staff_timezone("America/New_York") == "America/New_York"


def test_time_scale_compresses_every_duration_and_drops_office_hours() -> None:
    scaled = complaint_sla.scaled_complaint_rules(rules(office=OFFICE), 0.01)
    assert scaled.route.tiers.breach_after == 48 * H * 0.01
    assert scaled.policy.verdict_within == 72 * H * 0.01
    assert scaled.route.business_hours is None
    assert complaint_sla.scaled_complaint_rules(rules(), 1) == rules()


# --- escalation -----------------------------------------------------------------------------


def test_a_new_complaint_is_due_in_48h_with_the_supervisor_at_24h() -> None:
    filed = warsaw(11, 2, 10)
    case = case_at(filed)
    assert complaint_sla.sla_deadline(case) == filed + 48 * H
    assert complaint_sla.next_escalation_at(case) == filed + 24 * H
    assert case.update_due_at == filed + 24 * H
    assert complaint_sla.point_of_contact(case).email == "care@promptly.example"


def test_escalation_ladder_supervisor_breach_then_every_new_timeline() -> None:
    filed = warsaw(11, 2, 10)
    case = case_at(filed)
    seen = []
    for _ in range(4):
        step = complaint_sla.next_escalation(case)
        at = complaint_sla.next_escalation_at(case)
        assert at is not None
        seen.append((at - filed, step.level, step.breach))
        case = complaint_sla.escalate(case)
    assert seen == [(24 * H, 1, False), (48 * H, 2, True), (72 * H, 3, True), (96 * H, 4, True)]
    assert case.sla_breached and complaint_sla.sla_deadline(case) == filed + 120 * H
    assert complaint_sla.point_of_contact(case).email == "manager@promptly.example"


def test_escalation_runs_on_office_time_when_it_is_stricter_than_the_calendar() -> None:
    # Monday 15:00, 4h / 8h office hours: Tuesday 11:00 and 15:00, both inside 24h / 48h.
    case = case_at(
        warsaw(11, 9, 15), EscalationTiers(supervisor_after=4 * H, breach_after=8 * H), OFFICE
    )
    assert complaint_sla.next_escalation_at(case) == warsaw(11, 10, 11)
    assert complaint_sla.sla_deadline(case) == warsaw(11, 10, 15)


def test_office_time_never_makes_the_sla_looser_than_48_calendar_hours() -> None:
    # Friday 15:00, 4h / 8h office hours would be Monday 11:00 / 15:00: the procedure's
    # 24h / 48h calendar ceiling comes first.
    tiers = EscalationTiers(supervisor_after=4 * H, breach_after=8 * H, extension=4 * H)
    case = case_at(warsaw(11, 6, 15), tiers, OFFICE)
    assert complaint_sla.next_escalation_at(case) == warsaw(11, 7, 15)
    assert complaint_sla.sla_deadline(case) == warsaw(11, 8, 15)
    breached = complaint_sla.escalate(complaint_sla.escalate(case))
    # The new timeline: 12 office hours in all (Tuesday 11:00) or 72 calendar hours.
    assert complaint_sla.sla_deadline(breached) == warsaw(11, 9, 15)
    # A case from an older history keeps the office-hours deadline.
    old = case.model_copy(update={"procedure_rules": False})
    assert complaint_sla.sla_deadline(old) == warsaw(11, 9, 15)


def test_a_customer_is_promised_the_wait_that_binds_office_hours_or_the_calendar_ceiling() -> None:
    tiers = EscalationTiers(supervisor_after=4 * H, breach_after=8 * H, extension=4 * H)

    def promised(case: ComplaintCase) -> tuple[timedelta, bool]:
        return complaint_sla.stated_wait(
            case, complaint_sla.sla_target(case), complaint_sla.sla_ceiling(case)
        )

    # Monday 15:00: 8 office hours end Tuesday 15:00, inside 48h: "8 office hours".
    assert promised(case_at(warsaw(11, 9, 15), tiers, OFFICE)) == (8 * H, True)
    # Friday 15:00: the 48h ceiling comes first: "48 hours", never "8 office hours".
    friday = case_at(warsaw(11, 6, 15), tiers, OFFICE)
    assert promised(friday) == (48 * H, False)
    supervisor = complaint_sla.stated_wait(
        friday, tiers.supervisor_after, complaint_sla.supervisor_ceiling(friday)
    )
    assert supervisor == (24 * H, False)
    # The shipped 24h / 48h on office hours: always the calendar's.
    assert promised(case_at(warsaw(11, 9, 9), office=OFFICE)) == (48 * H, False)
    assert promised(case_at(warsaw(11, 9, 9))) == (48 * H, False)  # no office hours


# --- what is due next ---------------------------------------------------------------------


def test_at_the_same_instant_the_escalation_goes_before_the_status_update() -> None:
    filed = warsaw(11, 2, 10)
    case = complaint_sla.escalate(case_at(filed))  # level 1: the breach is at 48h
    case = complaint_rules.customer_update_attempted(case, filed + 24 * H)  # next update at 48h
    assert complaint_rules.complaint_next_step(case) == (filed + 48 * H, ComplaintStep.ESCALATE)
    escalated = complaint_rules.customer_update_attempted(
        complaint_sla.escalate(case), filed + 48 * H
    )
    assert complaint_rules.complaint_next_step(escalated) == (
        filed + 72 * H,
        ComplaintStep.ESCALATE,
    )
    assert escalated.update_due_at == filed + 72 * H  # the escalation was the 48h update


def test_a_customer_visible_note_skips_the_update_it_replaces() -> None:
    filed = warsaw(11, 2, 10)
    case = complaint_sla.escalate(case_at(filed))
    noted = complaint_rules.customer_update_attempted(case, filed + 20 * H)
    assert complaint_rules.complaint_next_step(noted) == (
        filed + 44 * H,
        ComplaintStep.STATUS_UPDATE,
    )


def test_next_step_while_on_hold_awaiting_a_verdict_and_after_closing() -> None:
    filed = warsaw(11, 2, 10)
    older = case_at(filed).model_copy(update={"procedure_rules": False})
    held = complaint_rules.hold_complaint(older, filed + H, "photos")
    assert complaint_rules.complaint_next_step(held) == (None, ComplaintStep.AWAIT_RESUME)
    proposed = complaint_rules.propose_resolution(case_at(filed), filed + 5 * H, "refund")
    assert complaint_rules.complaint_next_step(proposed) == (
        filed + 77 * H,
        ComplaintStep.VERDICT_TIMEOUT,
    )
    closed = complaint_rules.close_complaint(proposed, filed + 6 * H, ComplaintStatus.CLOSED, "ok")
    assert complaint_rules.complaint_next_step(closed) == (filed + 8 * H, ComplaintStep.SURVEY)
    surveyed = closed.model_copy(update={"survey_sent": True})
    # The follow-up's feedback form stays answerable for 7 days; once answered, a day
    # after closing is enough.
    assert complaint_rules.complaint_next_step(surveyed) == (
        filed + 8 * H + 7 * 24 * H,
        ComplaintStep.FINISH,
    )
    answered = surveyed.model_copy(update={"feedback_score": 8})
    assert complaint_rules.complaint_next_step(answered) == (filed + 30 * H, ComplaintStep.FINISH)
    assert complaint_rules.feedback_refusal(answered) == (
        "feedback refused: we already have your answer, thank you"
    )
    assert complaint_rules.feedback_refusal(closed) == (
        "feedback refused: no follow-up has been sent for this complaint yet"
    )


def test_the_survey_is_never_later_than_48h_after_closing() -> None:
    filed = warsaw(11, 2, 10)
    case = case_at(filed).model_copy(
        update={"policy": ComplaintPolicy(survey_after=100 * H, keep_open_after_close=H)}
    )
    closed = complaint_rules.close_complaint(case, filed, ComplaintStatus.CLOSED, "ok")
    assert complaint_rules.survey_at(closed) == filed + 48 * H
    answered = closed.model_copy(update={"feedback_score": 10})
    assert complaint_rules.complaint_closes_at(answered) == filed + 48 * H


# --- hold, resume, propose, reopen, close -------------------------------------------------


def test_hold_for_30h_moves_every_deadline_by_30h() -> None:
    filed = warsaw(11, 2, 10)
    case = case_at(filed)
    held = complaint_rules.hold_complaint(case, filed + 10 * H, "invoice copy")
    assert held.status is ComplaintStatus.ON_HOLD and complaint_sla.sla_deadline(held) is None
    assert held.update_due_at is None and held.update_left == 14 * H
    resumed = complaint_rules.resume_complaint(held, filed + 40 * H)
    assert resumed.status is ComplaintStatus.OPEN and resumed.hold_reason is None
    assert complaint_sla.sla_deadline(resumed) == filed + 78 * H
    assert complaint_sla.next_escalation_at(resumed) == filed + 54 * H
    assert resumed.update_due_at == filed + 54 * H
    assert complaint_rules.time_on_hold(resumed, filed + 50 * H) == 30 * H


def test_time_on_hold_adds_up_over_several_holds() -> None:
    filed = warsaw(11, 2, 10)
    case = complaint_rules.resume_complaint(
        complaint_rules.hold_complaint(case_at(filed), filed, "a"), filed + 2 * H
    )
    case = complaint_rules.hold_complaint(case, filed + 5 * H, "b")
    assert complaint_rules.time_on_hold(case, filed + 8 * H) == 5 * H
    assert case.held_before == 2 * H and case.on_hold_since == filed + 5 * H


def test_proposing_from_hold_ends_the_hold_and_stops_the_clock() -> None:
    filed = warsaw(11, 2, 10)
    held = complaint_rules.hold_complaint(case_at(filed), filed + 1 * H, "photos")
    proposed = complaint_rules.propose_resolution(held, filed + 4 * H, "replacement")
    assert proposed.status is ComplaintStatus.RESOLUTION_PROPOSED
    assert proposed.held_before == 3 * H and proposed.on_hold_since is None
    assert proposed.verdict_deadline == filed + 76 * H
    assert complaint_sla.sla_deadline(proposed) is None


def test_reopening_goes_one_tier_up_on_a_fresh_clock() -> None:
    filed = warsaw(11, 2, 10)
    breached = complaint_sla.escalate(complaint_sla.escalate(case_at(filed)))
    proposed = complaint_rules.propose_resolution(breached, filed + 50 * H, "refund")
    reopened = complaint_rules.reopen_complaint(proposed, filed + 52 * H)
    assert reopened.status is ComplaintStatus.OPEN and reopened.reopened == 1
    assert reopened.escalation_level == 3 and reopened.breaches_in_round == 0
    assert complaint_sla.sla_deadline(reopened) == filed + 100 * H
    assert complaint_sla.next_escalation(reopened) == complaint_sla.Escalation(48 * H, 4, True)
    assert reopened.resolution is None and reopened.verdict_deadline is None


def test_first_reopen_from_level_0_skips_the_supervisor_tier() -> None:
    filed = warsaw(11, 2, 10)
    proposed = complaint_rules.propose_resolution(case_at(filed), filed + 5 * H, "refund")
    reopened = complaint_rules.reopen_complaint(proposed, filed + 6 * H)
    assert reopened.escalation_level == 1
    assert complaint_sla.next_escalation_at(reopened) == filed + 54 * H  # straight to the breach


def test_closing_stops_everything_and_ends_an_ongoing_hold() -> None:
    filed = warsaw(11, 2, 10)
    held = complaint_rules.hold_complaint(case_at(filed), filed + 1 * H, "photos")
    closed = complaint_rules.close_complaint(
        held, filed + 3 * H, ComplaintStatus.CLOSED, "duplicate"
    )
    assert closed.held_before == 2 * H and closed.on_hold_since is None
    assert closed.update_due_at is None and complaint_sla.sla_deadline(closed) is None
    with pytest.raises(ValueError, match="not a closing status"):
        complaint_rules.close_complaint(held, filed, ComplaintStatus.OPEN, "no")


def test_the_assignee_becomes_the_point_of_contact_until_the_manager_takes_over() -> None:
    case = case_at(warsaw(11, 2, 10))
    assigned = complaint_rules.assign_complaint(
        case, Assignee(id="a-1", name="Ola", email="ola@x.example")
    )
    assert complaint_sla.point_of_contact(assigned).name == "Ola"
    no_email = complaint_rules.assign_complaint(case, Assignee(id="a-2", name="Jan"))
    assert complaint_sla.point_of_contact(no_email).name == "Ewa"
    assert (
        complaint_sla.point_of_contact(
            complaint_sla.escalate(complaint_sla.escalate(assigned))
        ).name
        == "Piotr"
    )


# --- which update is allowed when -----------------------------------------------------------


def _in(status: ComplaintStatus) -> ComplaintCase:
    return case_at(warsaw(11, 2, 10)).model_copy(update={"status": status})


@pytest.mark.parametrize(
    ("update", "allowed"),
    [
        ("assign", {"Open", "OnHold", "ResolutionProposed"}),
        ("add_note", {"Open", "OnHold", "ResolutionProposed"}),
        ("hold", {"Open"}),
        ("resume", {"OnHold"}),
        ("propose_resolution", {"Open", "OnHold"}),
        ("customer_verdict", {"ResolutionProposed"}),
        ("close", {"Open", "OnHold", "ResolutionProposed"}),
    ],
)
def test_which_update_is_allowed_in_which_status(update: str, allowed: set[str]) -> None:
    for status in ComplaintStatus:
        refusal = complaint_rules.complaint_refusal(update, _in(status), STAFF)
        assert (refusal is None) == (status.value in allowed), (update, status, refusal)


def test_refusals_say_why() -> None:
    refusal = complaint_rules.complaint_refusal
    assert refusal("customer_verdict", _in(ComplaintStatus.OPEN), CLIENT) == (
        "customer_verdict refused: no resolution has been proposed yet"
    )
    assert refusal("propose_resolution", _in(ComplaintStatus.CLOSED), STAFF) == (
        "propose_resolution refused: the complaint is already Closed"
    )
    assert refusal("hold", _in(ComplaintStatus.ON_HOLD), STAFF) == (
        "hold refused: the complaint is already on hold"
    )
    assert refusal("resume", _in(ComplaintStatus.OPEN), STAFF) == (
        "resume refused: the complaint is Open, not on hold"
    )
    assert refusal("close", _in(ComplaintStatus.OPEN), CLIENT) == (
        "close refused: only staff (a supervisor) may close a complaint"
    )
    assert refusal("hold", _in(ComplaintStatus.RESOLUTION_PROPOSED), STAFF) == (
        "hold refused: the complaint is ResolutionProposed, expected one of Open"
    )
