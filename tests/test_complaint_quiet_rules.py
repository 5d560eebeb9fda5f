"""A complaint and the customer's quiet hours (21:00–08:00 on their clock), as pure rules: the
24h update comes before the night, news on a timer after it, nothing moves without them.

Times are written as the customer (Europe/Warsaw) reads them; 2 November 2026 is a Monday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from promptly.domain.calendar import HourRange
from promptly.domain.complaints import quiet_hours
from promptly.domain.complaints import rules as complaint_rules
from promptly.domain.complaints import sla as complaint_sla
from promptly.domain.complaints.models import (
    ComplaintCase,
    ComplaintPolicy,
    ComplaintRequest,
    ComplaintRoute,
    ComplaintRules,
    ComplaintStatus,
    Contact,
    EscalationTiers,
)
from promptly.domain.complaints.rules import ComplaintStep
from tests.complaint_helpers import complaint_payload

WARSAW = ZoneInfo("Europe/Warsaw")
H = timedelta(hours=1)
QUIET = HourRange(start_hour=21, end_hour=8)


def warsaw(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WARSAW)


def rules(quiet: HourRange | None = QUIET, **policy: object) -> ComplaintRules:
    return ComplaintRules(
        route=ComplaintRoute(
            department="care",
            department_name="Customer care",
            owner=Contact(name="Ewa", email="care@promptly.example"),
            manager=Contact(name="Piotr", email="manager@promptly.example"),
            tiers=EscalationTiers(),
            rule="*/*",
        ),
        policy=ComplaintPolicy.model_validate({"quiet_hours": quiet, **policy}),
    )


def case_at(filed: datetime, quiet: HourRange | None = QUIET, **policy: object) -> ComplaintCase:
    request = ComplaintRequest.model_validate(complaint_payload())
    return complaint_sla.new_complaint_case(request, filed, rules(quiet, **policy))


# --- the 24h update: before the night, never later ----------------------------------------


def test_an_update_due_at_night_goes_out_at_2045_the_evening_before() -> None:
    filed = warsaw(11, 2, 1, 22)
    acknowledged = complaint_rules.customer_update_attempted(case_at(filed), filed)
    assert acknowledged.update_due_at == warsaw(11, 2, 20, 45)  # not 01:22 on Tuesday
    assert complaint_rules.complaint_next_step(acknowledged) == (
        warsaw(11, 2, 20, 45),
        ComplaintStep.STATUS_UPDATE,
    )
    # The next period counts from when it went out: 20:45 again, a day later.
    updated = complaint_rules.customer_update_attempted(acknowledged, warsaw(11, 2, 20, 45))
    assert updated.update_due_at == warsaw(11, 3, 20, 45)


def test_an_update_due_by_day_goes_out_at_its_time() -> None:
    filed = warsaw(11, 2, 10, 5)
    acknowledged = complaint_rules.customer_update_attempted(case_at(filed), filed)
    assert acknowledged.update_due_at == warsaw(11, 3, 10, 5)


def test_an_update_due_just_before_the_night_leaves_the_margin() -> None:
    filed = warsaw(11, 2, 20, 50)
    acknowledged = complaint_rules.customer_update_attempted(case_at(filed), filed)
    assert acknowledged.update_due_at == warsaw(11, 3, 20, 45)


def test_a_resumed_period_also_ends_before_the_night() -> None:
    filed = warsaw(11, 2, 10)
    case = complaint_rules.customer_update_attempted(case_at(filed), filed)
    held = complaint_rules.hold_complaint(case, warsaw(11, 2, 12), "photos")
    assert held.update_left == 22 * H
    # Resumed at 05:00 on Wednesday: 22h later is 03:00 on Thursday, so 20:45 on Wednesday.
    resumed = complaint_rules.resume_complaint(held, warsaw(11, 4, 5))
    assert resumed.update_due_at == warsaw(11, 4, 20, 45)


def test_a_period_shorter_than_the_night_keeps_its_time() -> None:
    # Every 6h from 20:50: 02:50 is quiet, but 20:45 is already past, so the promise wins.
    filed = warsaw(11, 2, 20, 50)
    case = case_at(filed, update_every=6 * H)
    acknowledged = complaint_rules.customer_update_attempted(case, filed)
    assert acknowledged.update_due_at == warsaw(11, 3, 2, 50)


def test_the_rule_is_read_on_the_customers_clock() -> None:
    # 01:22 in Warsaw is 19:22 the evening before in New York: not quiet there.
    filed = warsaw(11, 2, 1, 22)
    case = case_at(filed)
    customer = case.request.customer.model_copy(update={"timezone": "America/New_York"})
    in_new_york = case.model_copy(
        update={"request": case.request.model_copy(update={"customer": customer})}
    )
    acknowledged = complaint_rules.customer_update_attempted(in_new_york, filed)
    assert acknowledged.update_due_at == filed + 24 * H


# --- news on a timer: after the night -------------------------------------------------------


def test_news_decided_at_night_waits_for_8_and_goes_before_what_is_due_then() -> None:
    filed = warsaw(11, 2, 1, 22)
    case = complaint_rules.customer_update_attempted(case_at(filed), warsaw(11, 2, 8))
    assert case.update_due_at == warsaw(11, 3, 8)
    escalated_at = warsaw(11, 3, 1, 22)  # the supervisor at 24h
    case = complaint_sla.escalate(case)
    at = quiet_hours.outside_quiet_hours(case, escalated_at)
    assert at == warsaw(11, 3, 8)
    waiting = quiet_hours.message_waits(case, "escalation", at, {"tier": "supervisor"})
    # 08:00: the update is due too; the escalation notice goes first and is that update.
    assert complaint_rules.complaint_next_step(waiting) == (
        warsaw(11, 3, 8),
        ComplaintStep.CUSTOMER_MESSAGE,
    )
    due, sent = quiet_hours.messages_due(waiting, warsaw(11, 3, 8))
    assert [(m.template, m.context) for m in due] == [("escalation", {"tier": "supervisor"})]
    assert sent.waiting_messages == []
    assert quiet_hours.outside_quiet_hours(case, warsaw(11, 3, 9)) == warsaw(11, 3, 9)


def test_a_change_drops_the_news_it_makes_moot() -> None:
    case = case_at(warsaw(11, 2, 1, 22))
    for template in ("escalation", "hold_ended", "complaint_closed"):
        case = quiet_hours.message_waits(case, template, warsaw(11, 2, 8), {})
    dropped, kept = quiet_hours.waiting_dropped(case, ("escalation",))
    assert [m.template for m in dropped] == ["escalation"]
    dropped, kept = quiet_hours.waiting_dropped(kept, None, keep=("complaint_closed",))
    assert [m.template for m in dropped] == ["hold_ended"]
    assert [m.template for m in kept.waiting_messages] == ["complaint_closed"]


def test_the_follow_up_after_a_close_at_night_goes_at_8() -> None:
    filed = warsaw(11, 2, 10)
    closed = complaint_rules.close_complaint(
        case_at(filed), warsaw(11, 3, 23), ComplaintStatus.CLOSED_UNCONFIRMED, "no answer"
    )
    assert complaint_rules.survey_at(closed) == warsaw(11, 4, 8)  # not 01:00


def test_the_follow_up_keeps_its_48h_even_when_that_is_at_night() -> None:
    case = case_at(warsaw(11, 2, 10), survey_after=48 * H)
    closed = complaint_rules.close_complaint(
        case, warsaw(11, 3, 23), ComplaintStatus.CLOSED, "resolved"
    )
    assert complaint_rules.survey_at(closed) == warsaw(11, 5, 23)


# --- without quiet hours: as before ----------------------------------------------------------


def test_without_quiet_hours_every_time_is_as_before() -> None:
    filed = warsaw(11, 2, 1, 22)
    case = case_at(filed, quiet=None)
    assert case.update_due_at == filed + 24 * H
    acknowledged = complaint_rules.customer_update_attempted(case, filed)
    assert acknowledged.update_due_at == filed + 24 * H
    assert quiet_hours.outside_quiet_hours(case, filed) == filed
    closed = complaint_rules.close_complaint(
        case, warsaw(11, 3, 23), ComplaintStatus.CLOSED, "resolved"
    )
    assert complaint_rules.survey_at(closed) == warsaw(11, 4, 1)


def test_a_case_recorded_before_quiet_hours_loads_without_them() -> None:
    recorded = rules(quiet=None).model_dump(mode="json")
    del recorded["policy"]["quiet_hours"]
    assert ComplaintRules.model_validate(recorded).policy.quiet_hours is None


def test_a_scaled_demo_drops_the_quiet_hours() -> None:
    assert complaint_sla.scaled_complaint_rules(rules(), 0.01).policy.quiet_hours is None
    assert complaint_sla.scaled_complaint_rules(rules(), 1).policy.quiet_hours == QUIET
