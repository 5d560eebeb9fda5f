"""A message read out by phone: the front desk's call outcome is its delivery receipt, and a
message that did not reach the client goes another way, as an undelivered SMS does
(`sms.needs_fallback`). Pure: services/delivery_receipts.py acts on what these say.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from promptly.domain.appointments import fees
from promptly.domain.appointments.models import AppointmentPolicy, Price
from promptly.domain.common import Actor, ActorInput, ActorKind, Channel, Locale, RecipientRole
from promptly.domain.readable_time import readable
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


# The read-outs by the names the desk knows them by: no template name in a task's text.
DESK_NAMES = {
    "phone_confirmation": "confirmation of the booking",
    "confirmation": "confirmation of the booking",
    "reminder": "reminder of the visit",
    "cancellation": "notice that the visit is cancelled",
    "delay_notice": "notice that the provider runs late",
    "no_show_notice": "notice of the missed visit",
    "fee_stands": "decision that the fee stands",
    "fee_waived": "decision to waive the fee",
    "reschedule_link": "link to choose a new time",
    "survey": "survey",
    "survey_reminder": "survey reminder",
    "status_update": "status update",
    "complaint_ack": "acknowledgement of the complaint",
    "complaint_note": "note on the complaint",
    "complaint_on_hold": "notice that the complaint is on hold",
    "hold_ended": "notice that the hold ended",
    "resolution_proposed": "proposed resolution of the complaint",
    "complaint_closed": "notice that the complaint is closed",
    "complaint_survey": "complaint survey",
    "escalation": "escalation notice",
    "inquiry_ack": "acknowledgement of the inquiry",
    "inquiry_answer": "answer to the inquiry",
    "reply_answer": "answer to the client's reply",
}


def desk_name(template: str) -> str:
    """`phone_confirmation` → "confirmation of the booking": a message as the desk names it."""
    return DESK_NAMES.get(template, template.replace("_", " "))


# Read-outs whose outcome the case itself waits for: a phone client's reminder does not open
# a second call while the confirmation's is open, nor a follow-up attempt while either is
# (workflows/appointment_one_call.py).
CASE_WAITS_FOR = frozenset({"phone_confirmation", "reminder"})


class ReadOutClosedInput(ActorInput):
    """The desk recorded how the call to read out the case's message `message_key` (its
    idempotency key) ended."""

    message_key: str
    outcome: ReadOutOutcome


# Who records a read-out's outcome with the case (`read_out_closed`): the desk completing
# its call task (staff), or a back-office key relaying it (system).
READ_OUT_RECORDERS = frozenset({ActorKind.STAFF, ActorKind.SYSTEM})


def read_out_closed_problem(case_id: str, command: ReadOutClosedInput) -> str | None:
    """Why `command` cannot be one of the case `case_id`'s read-outs (its messages' keys
    start with the case's id), or None."""
    if not command.message_key.startswith(f"{case_id}/"):
        return f"{command.message_key!r} is not a message of {case_id}"
    return None


def read_out_recorder_refusal(actor: Actor) -> str | None:
    """Why `actor` may not record a read-out's outcome with the case, or None."""
    if actor.kind in READ_OUT_RECORDERS:
        return None
    return (
        "read_out_closed refused: the desk (staff) or a back-office key records how a call "
        f"ended, not a {actor.kind.value} actor"
    )


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
    staff: whom to call, what and when, in English and office time, the zone named (the
    script in the details says the client's time)."""
    if template in DESK_SCRIPTS:
        title = render(template, Locale.EN, office_timezone, context, Channel.PHONE).subject
        return f"{title} ({office_timezone})"
    return f"Call {client_name or 'the client'} and read out: {subject}"


# The client's language, as the desk reads it on a call task.
LANGUAGES = {Locale.EN: "English", Locale.PL: "Polish"}


def visit_for_the_desk(start: datetime, client_timezone: str, office_timezone: str) -> str:
    """When the visit is, as a call task's details give it: in the client's time, the time
    the desk says on the phone, zone named; the office's time beside it when it differs."""
    client_time = readable(start, client_timezone)
    if client_timezone == office_timezone:
        return client_time
    return f"{client_time} (the client's time; {readable(start, office_timezone)} office time)"


def changing_now(
    start: datetime,
    now: datetime,
    policy: AppointmentPolicy,
    price: Price | None,
    client_timezone: str,
    office_timezone: str,
) -> str:
    """What the desk tells the client of cancelling or moving the visit on a call opened at
    `now`, as the client's read-out messages say it (fees.change_terms decides): late now and
    what it costs, else free until the line and charged after it, which stays true whenever
    the call is made."""
    cost = f" ({price.amount:.2f} {price.currency})" if price else ""
    if fees.is_late_change(start, now, policy):
        return (
            f" Cancelling or moving the visit now is late: it counts as held and is charged{cost}."
        )
    line = visit_for_the_desk(fees.charged_from(start, policy), client_timezone, office_timezone)
    return (
        f" Cancelling or moving the visit is free until {line}; from then on, it counts as held"
        f" and is charged{cost}."
    )


def client_language(locale: Locale) -> str:
    """`Client's language: Polish.`: which language to speak on the call."""
    return f"Client's language: {LANGUAGES.get(locale, locale.value)}."


def wrong_number_task(
    client_name: str, phone: str, email: str | None, failed: str, *, emailed: bool
) -> tuple[str, str]:
    """The title and details of the desk's task to find the right number of a client whose
    call reached a wrong number, whichever call it was: `failed` says what the call could
    not do; `emailed` whether the client was written to instead."""
    if emailed:
        then = f"The message went by email to {email}: ask the client for the right number."
    elif email is not None:  # nothing was sent, but the address helps
        then = f"Ask the client for the right number by email ({email})."
    else:
        then = "No email is on record: find the client's right number another way."
    title = f"Wrong number for {client_name or 'the client'}: {phone}"
    return title, f"{failed}: {phone} is a wrong number. {then}"


def client_channel(preferred: Channel, *, number_wrong: bool) -> Channel:
    """The channel of a message for the client: the one they prefer, except that a phone
    client whose number is known wrong (a call ended `wrong_number`, none reaching them since)
    is not read out to it: the message goes by email. Without an email on record the email
    channel refuses it, and the desk passes it on by hand (`pass_on_without_the_number`)."""
    return Channel.EMAIL if number_wrong and preferred is Channel.PHONE else preferred


def in_writing_note(what: str, phone: str | None, email: str | None) -> str:
    """The timeline's word for a message (`what`: "the reminder") not read out to a phone
    client's wrong number."""
    if email:
        return f"The number on file is wrong: {what} goes by email, not read out to {phone}"
    return (
        "The number on file is wrong and no email is on record: the front desk passes "
        f"{what} on once it has the right number"
    )


def pass_on_without_the_number(phone: str) -> str:
    """How the desk passes on a message it could not send to a client whose number on file
    (`phone`) is wrong: not by calling it."""
    return f"the number on file, {phone}, is wrong: pass it on once you have the right number"


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
