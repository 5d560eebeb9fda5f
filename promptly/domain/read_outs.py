"""A message read out by phone: the front desk's call outcome is its delivery receipt, and a
message that did not reach the client goes another way, as an undelivered SMS does
(`sms.needs_fallback`). Pure: services/delivery_receipts.py acts on what these say.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.rendering import render
from promptly.domain.sms import DeliveryStatus


class ReadOutOutcome(StrEnum):
    """How the desk's call to read a message out ended (a `call_client` task's outcome)."""

    REACHED = "reached"
    # Reached, and the client confirmed the visit there and then (runs `confirm`).
    REACHED_CONFIRMED = "reached_confirmed"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"


REACHED = frozenset({ReadOutOutcome.REACHED, ReadOutOutcome.REACHED_CONFIRMED})
# Written for the desk to say, not for the client to read: never passed on as it stands. A
# client who missed the confirmation call is still unconfirmed, so the follow-up calls come.
DESK_SCRIPTS = frozenset({"phone_confirmation"})


class NotReached(NamedTuple):
    """What follows a message the desk could not read out to the client."""

    by_email: bool  # the message goes to the client's email instead
    check_number: bool  # the desk is asked to find the client's right number


def call_task_title(
    template: str, client_name: str, subject: str, context: dict[str, Any], office_timezone: str
) -> str:
    """The front desk's call task, in the staff's language (English) as every task title is:
    a message for the client is read out as they will hear it, its `subject` in their
    language. A desk script is the desk's own instruction, written in the client's language
    to be said to them (the task's details), so its title is its subject rendered for the
    staff: whom to call, what and when, in English and office time."""
    if template in DESK_SCRIPTS:
        return render(template, Locale.EN, office_timezone, context, Channel.PHONE).subject
    return f"Call {client_name or 'the client'} and read out: {subject}"


def receipt(outcome: ReadOutOutcome) -> DeliveryStatus:
    """The ledger's receipt for a message read out (or not), as an SMS receipt would say."""
    return DeliveryStatus.DELIVERED if outcome in REACHED else DeliveryStatus.UNDELIVERED


def missed(outcome: ReadOutOutcome, recipient_role: str) -> bool:
    """A message meant for the client that they did not hear: only then may more follow
    (and only then is the client looked up)."""
    return outcome not in REACHED and recipient_role == RecipientRole.CLIENT


def not_reached(
    outcome: ReadOutOutcome, template: str, recipient_role: str, email_known: bool
) -> NotReached | None:
    """None when nothing more is to be done: the client heard it, or it was not theirs."""
    if not missed(outcome, recipient_role):
        return None
    follow = NotReached(
        by_email=email_known and template not in DESK_SCRIPTS,
        check_number=outcome is ReadOutOutcome.WRONG_NUMBER,
    )
    return follow if any(follow) else None
