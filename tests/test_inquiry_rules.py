"""The inquiry rules (promptly/domain/inquiries/rules.py), pure: `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promptly.domain.common import flagged, unflagged
from promptly.domain.complaints.models import Severity
from promptly.domain.inquiries import rules as inquiries
from promptly.domain.inquiries.models import InquiryCase, InquiryPolicy, PromoteInquiryInput
from promptly.domain.inquiries.rules import InquiryStep
from tests.complaint_helpers import AGENT, CUSTOMER, inquiry

H = timedelta(hours=1)
RECEIVED = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def _case() -> InquiryCase:
    return inquiries.new_inquiry(inquiry(), RECEIVED, InquiryPolicy())


def test_unanswered_the_front_desk_hears_at_24h_and_the_supervisor_at_48h() -> None:
    case = _case()
    assert inquiries.inquiry_next_step(case) == (RECEIVED + 24 * H, InquiryStep.ALERT_STAFF)
    case = inquiries.alerted(case)
    assert inquiries.inquiry_next_step(case) == (RECEIVED + 48 * H, InquiryStep.ALERT_SUPERVISOR)
    assert inquiries.inquiry_next_step(inquiries.alerted(case)) is None


def test_an_answer_ends_the_alerts_and_says_whether_it_was_in_time() -> None:
    on_time = inquiries.answered(_case(), RECEIVED + 23 * H, "Yes")
    assert inquiries.answered_in_time(on_time)
    assert inquiries.inquiry_next_step(on_time) == (RECEIVED + 47 * H, InquiryStep.FINISH)
    assert not inquiries.answered_in_time(inquiries.answered(_case(), RECEIVED + 25 * H, "Yes"))


def test_only_staff_answer_or_promote_and_only_once() -> None:
    case = _case()
    assert inquiries.inquiry_refusal("answer", case, AGENT) is None
    assert inquiries.inquiry_refusal("answer", case, CUSTOMER) == (
        "answer refused: only staff may answer an inquiry"
    )
    answered = inquiries.answered(case, RECEIVED + H, "Yes")
    assert inquiries.inquiry_refusal("promote", answered, AGENT) == (
        "promote refused: the inquiry was already answered"
    )


def test_a_promoted_inquiry_becomes_a_complaint_with_the_same_reference() -> None:
    case = _case()
    command = PromoteInquiryInput(category="Billing", severity=Severity.HIGH, actor=AGENT)
    complaint = inquiries.complaint_from_inquiry(case, command)
    assert complaint.complaint_id == case.request.inquiry_id
    assert complaint.category == "billing" and complaint.severity is Severity.HIGH
    assert complaint.customer == case.request.customer
    assert complaint.description.startswith("Saturday opening hours: Are you open")
    assert complaint.promoted_by == AGENT
    assert complaint.request().model_dump() == complaint.model_dump(exclude={"promoted_by"})


def test_a_concern_is_listed_once_in_the_order_raised_and_goes_when_done() -> None:
    case = _case()
    once = flagged(case, "acknowledgement not sent")
    assert once.needs_attention == ["acknowledgement not sent"] and case.needs_attention == []
    assert flagged(once, "acknowledgement not sent") is once
    twice = flagged(once, "answer overdue")
    assert twice.needs_attention == ["acknowledgement not sent", "answer overdue"]
    # Done: the concern goes, the others stay in their order.
    assert unflagged(twice, "acknowledgement not sent").needs_attention == ["answer overdue"]
    assert unflagged(once, "answer overdue").needs_attention == ["acknowledgement not sent"]
