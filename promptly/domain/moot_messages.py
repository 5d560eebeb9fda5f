"""Whether a message that did not reach its client still matters. An undelivered SMS, or a
message the desk could not read out, is passed on another way (services/delivery_receipts.py)
only while the case still needs the client to hear it: a reminder of a visit since cancelled,
moved, begun or over, a complaint's update once it closed, an inquiry's acknowledgement once
it was answered are moot, and passing them on would tell the client something no longer true.
A visit's news that it is charged (its late cancellation, its no-show notice, a fee that
stands) is moot once its fee was waived: the waiver notice is the news. Pure: the service
reads the case's row (`cases.kind`, `status`, the stored view's `reschedules` and `billing`)
and asks here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from promptly.domain.appointments.models import AppointmentStatus, BillingOutcome
from promptly.domain.common import CaseKind
from promptly.domain.complaints.models import ComplaintStatus
from promptly.domain.inquiries.models import InquiryStatus
from promptly.domain.surveys.models import SurveyStatus


@dataclass(frozen=True)
class CaseNow:
    """What the case's row says now: its kind, status and (appointments) how often the visit
    moved and what it means for billing, None when the row does not say (a row written before
    read views, a visit not billed yet)."""

    kind: str
    status: str
    reschedules: int | None = None
    billing: str | None = None


@dataclass(frozen=True)
class Ending:
    """The statuses in which a kind of case no longer needs its client to hear its messages,
    and the messages that are news of that very end (still the client's to know)."""

    statuses: frozenset[str]
    news_of_the_end: frozenset[str]


ENDINGS: Mapping[str, Ending] = {
    # The visit as planned is over (or under way): its confirmation, reminder, delay notice and
    # reschedule link are moot; its cancellation (the client's and the provider's), no-show notice,
    # the provider's call to decide on an excuse and fee decisions are not.
    CaseKind.APPOINTMENT: Ending(
        frozenset(
            {
                AppointmentStatus.CANCELLED,
                AppointmentStatus.LATE_CANCELLED,
                AppointmentStatus.COMPLETED,
                AppointmentStatus.NO_SHOW,
                AppointmentStatus.CHECKED_IN,
            }
        ),
        frozenset(
            {
                "cancellation",
                "provider_cancellation",
                "no_show_notice",
                "provider_decision",
                "fee_stands",
                "fee_waived",
            }
        ),
    ),
    # What a close leaves in flight (workflows/complaint_messages.py reads it from here).
    CaseKind.COMPLAINT: Ending(
        frozenset({ComplaintStatus.CLOSED, ComplaintStatus.CLOSED_UNCONFIRMED}),
        frozenset({"complaint_closed", "complaint_note", "complaint_survey"}),
    ),
    # Answered or filed as a complaint: the acknowledgement is moot, the answer is the news.
    CaseKind.INQUIRY: Ending(
        frozenset({InquiryStatus.ANSWERED, InquiryStatus.PROMOTED}),
        frozenset({"inquiry_answer"}),
    ),
    # Answered (by link or to the desk) or closed unanswered: the survey no longer asks.
    CaseKind.SURVEY: Ending(frozenset({SurveyStatus.ANSWERED, SurveyStatus.CLOSED}), frozenset()),
}
# What a move of the visit leaves in flight (workflows/appointment_sends.py
# `_cancel_sends_for_the_old_visit` reads it from here): a fee waiver is news whatever the
# visit's time.
NEWS_AFTER_A_MOVE = frozenset({"fee_waived"})
# What a fee waiver leaves moot: each tells the client the visit is charged
# (workflows/appointment_fees.py closes their open read-outs with the waiver).
NEWS_OF_A_FEE = frozenset({"cancellation", "no_show_notice", "fee_stands"})

_ROUND = re.compile(r"r(\d+)")


def message_round(idempotency_key: str, case_id: str) -> int | None:
    """The visit's plan a message of an appointment was sent for: its key is
    `{case_id}/{purpose}/r{reschedules at the time}` (workflows/appointment_sends.py), with
    `/undelivered` and the like after it for a message passed on. None when the key carries
    no round (cases sending in line, other kinds, replies)."""
    prefix = f"{case_id}/"
    if not idempotency_key.startswith(prefix):
        return None
    _purpose, *rest = idempotency_key.removeprefix(prefix).split("/")
    for part in rest:
        if found := _ROUND.fullmatch(part):
            return int(found.group(1))
    return None


def moot_reason(case: CaseNow | None, template: str, sent_in_round: int | None) -> str | None:
    """Why the message `template` (sent for the visit's plan `sent_in_round`) no longer
    matters to its client; None while it does. A case the ledger cannot find (no row yet,
    or a kind without an ending) is taken to still need it: the client hears it again rather
    than not at all."""
    if case is None:
        return None
    ending = ENDINGS.get(case.kind)
    if ending is None:
        return None
    if (
        case.kind == CaseKind.APPOINTMENT
        and sent_in_round is not None
        and case.reschedules is not None
        and sent_in_round < case.reschedules
        and template not in NEWS_AFTER_A_MOVE
    ):
        return "the visit has moved since"
    if (
        case.kind == CaseKind.APPOINTMENT
        and case.billing == BillingOutcome.WAIVED
        and template in NEWS_OF_A_FEE
    ):
        return "the fee was waived since"
    if case.status in ending.statuses and template not in ending.news_of_the_end:
        return f"the {case.kind} is {case.status}"
    return None
