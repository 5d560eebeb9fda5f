"""Whether a message that did not reach its client still matters
(promptly/domain/moot_messages.py): the rule the delivery receipts and read-outs follow before
passing a message on another way."""

from __future__ import annotations

import pytest

from promptly.domain.appointments.models import AppointmentStatus
from promptly.domain.complaints.models import ComplaintStatus
from promptly.domain.inquiries.models import InquiryStatus
from promptly.domain.moot_messages import (
    ENDINGS,
    NEWS_AFTER_A_MOVE,
    CaseNow,
    message_round,
    moot_reason,
)
from promptly.domain.rendering import template_names
from promptly.domain.surveys.models import SurveyStatus

CASE = "appointment-A-1001"


@pytest.mark.parametrize(
    ("key", "round_"),
    [
        (f"{CASE}/reminder/r0", 0),
        (f"{CASE}/confirmation/r3", 3),
        (f"{CASE}/delay-20/r1", 1),
        # A message passed on keeps its round: the original's key plus its suffix.
        (f"{CASE}/reminder/r2/undelivered", 2),
        # Cases sending in line number each template's sends, not the visit's plans.
        (f"{CASE}/reminder/1", None),
        (f"{CASE}/alert/ack_missing/0", None),
        # Another case's key, a reply's, a complaint's: no round.
        ("appointment-A-1002/reminder/r0", None),
        ("reply/SM123/reschedule_link", None),
        ("complaint-C-1/status_update/2", None),
        # A purpose that looks like a round is the purpose.
        (f"{CASE}/r7", None),
    ],
)
def test_an_appointments_message_carries_the_plan_it_was_sent_for(
    key: str, round_: int | None
) -> None:
    assert message_round(key, CASE) == round_


def visit(status: str, reschedules: int | None = 0, billing: str | None = None) -> CaseNow:
    return CaseNow("appointment", status, reschedules, billing)


@pytest.mark.parametrize(
    ("case", "template", "sent_in_round", "moot"),
    [
        # The visit as planned still ahead: everything matters.
        (visit("Booked"), "confirmation", 0, None),
        (visit("Confirmed"), "reminder", 0, None),
        (visit("Unconfirmed"), "delay_notice", 0, None),
        # Cancelled, over or under way: the pre-visit messages are moot...
        (visit("Cancelled"), "confirmation", 0, "the appointment is Cancelled"),
        (visit("LateCancelled"), "reminder", 0, "the appointment is LateCancelled"),
        (visit("Completed"), "reminder", 0, "the appointment is Completed"),
        (visit("NoShow"), "confirmation", 0, "the appointment is NoShow"),
        (visit("CheckedIn"), "delay_notice", 0, "the appointment is CheckedIn"),
        (visit("Cancelled"), "reschedule_link", None, "the appointment is Cancelled"),
        # ... but the news of the end itself is not.
        (visit("Cancelled"), "cancellation", 0, None),
        (visit("LateCancelled"), "cancellation", 0, None),
        (visit("NoShow"), "no_show_notice", 0, None),
        (visit("NoShow"), "fee_waived", 0, None),
        (visit("LateCancelled"), "fee_stands", 0, None),
        # Waived: the news that the visit is charged is moot, the waiver is the news.
        (visit("LateCancelled", billing="waived"), "cancellation", 0, "the fee was waived since"),
        (visit("NoShow", billing="waived"), "no_show_notice", 0, "the fee was waived since"),
        (visit("NoShow", billing="waived"), "fee_stands", 0, "the fee was waived since"),
        (visit("NoShow", billing="waived"), "fee_waived", 0, None),
        (visit("LateCancelled", billing="late_cancel"), "cancellation", 0, None),
        (visit("NoShow", billing="no_show"), "no_show_notice", 0, None),
        # Moved: what was sent for the old time is moot, what is sent for the new one is not.
        (visit("Booked", 1), "reminder", 0, "the visit has moved since"),
        (visit("Booked", 2), "confirmation", 1, "the visit has moved since"),
        (visit("Booked", 1), "confirmation", 1, None),
        # A provider's cancellation followed by a new time: the cancellation is moot too.
        (visit("Booked", 1), "cancellation", 0, "the visit has moved since"),
        # A fee waiver is news whatever the time (a move does not cancel it either).
        (visit("Booked", 1), "fee_waived", 0, None),
        # A key without a round (sent in line), or a row without the count: the status alone.
        (visit("Booked", 3), "reminder", None, None),
        (visit("Booked", None), "reminder", 0, None),
        (visit("Cancelled", None), "reminder", 0, "the appointment is Cancelled"),
        # A newer round than the row knows (the row not yet stored): the current plan.
        (visit("Booked", 0), "confirmation", 1, None),
        # Complaints: closed, only the close and the staff's notes and survey are news.
        (CaseNow("complaint", "Open"), "status_update", None, None),
        (CaseNow("complaint", "ResolutionProposed"), "resolution_proposed", None, None),
        (CaseNow("complaint", "Closed"), "resolution_proposed", None, "the complaint is Closed"),
        (
            CaseNow("complaint", "ClosedUnconfirmed"),
            "status_update",
            None,
            "the complaint is ClosedUnconfirmed",
        ),
        (CaseNow("complaint", "Closed"), "complaint_closed", None, None),
        (CaseNow("complaint", "ClosedUnconfirmed"), "complaint_survey", None, None),
        (CaseNow("complaint", "Closed"), "complaint_note", None, None),
        # Inquiries: once answered or promoted the acknowledgement is moot, the answer is not.
        (CaseNow("inquiry", "Open"), "inquiry_ack", None, None),
        (CaseNow("inquiry", "Answered"), "inquiry_ack", None, "the inquiry is Answered"),
        (CaseNow("inquiry", "Promoted"), "inquiry_ack", None, "the inquiry is Promoted"),
        (CaseNow("inquiry", "Answered"), "inquiry_answer", None, None),
        # Surveys: answered or closed, the survey no longer asks.
        (CaseNow("survey", "Sent"), "survey_reminder", None, None),
        (CaseNow("survey", "Answered"), "survey", None, "the survey is Answered"),
        (CaseNow("survey", "Closed"), "survey_reminder", None, "the survey is Closed"),
        # No row for the case, or a kind without an ending: passed on, as before.
        (None, "reminder", 0, None),
        (CaseNow("report", "Done"), "qa_report", None, None),
    ],
)
def test_a_message_the_case_has_moved_past_is_moot(
    case: CaseNow | None, template: str, sent_in_round: int | None, moot: str | None
) -> None:
    assert moot_reason(case, template, sent_in_round) == moot


def test_the_endings_name_real_statuses_and_templates() -> None:
    """A renamed status or template would silently match nothing."""
    kinds = {
        "appointment": AppointmentStatus,
        "complaint": ComplaintStatus,
        "inquiry": InquiryStatus,
        "survey": SurveyStatus,
    }
    for kind, ending in ENDINGS.items():
        assert ending.statuses <= {status.value for status in kinds[kind]}
        assert ending.news_of_the_end <= set(template_names())
    assert set(NEWS_AFTER_A_MOVE) <= set(template_names())
