"""What a client hears back when they answer: by SMS at once, the text of the TwiML <Message>
the inbound webhook returns to Twilio (short, in the client's language, GSM-7 letters like
every other SMS); by email, the `reply_answer` email (templates/{en,pl}/reply_answer.j2) with
the same meaning. `answer_for` decides for both. Opt-out and opt-in words get none here
(Twilio's own opt-out handling and our notice answer them), nor does `R` (the reschedule link
is the answer), nor a reply that was ignored."""

from __future__ import annotations

import re
from enum import StrEnum

from promptly.domain.common import Locale
from promptly.domain.messages import MESSAGE_ID
from promptly.domain.sms import to_gsm7


class ReplyAnswer(StrEnum):
    CONFIRMED = "confirmed"  # the visit is confirmed
    PASSED_ON = "passed_on"  # a person reads the reply (a front-desk task)
    SATISFIED = "satisfied"  # a complaint's resolution accepted: closed
    NOT_SATISFIED = "not_satisfied"  # not accepted: the complaint reopens


# The reply's outcome (services/inbound.py ReplyOutcome.action) → what the client is told.
ANSWER_OF_ACTION = {
    "confirmed": ReplyAnswer.CONFIRMED,
    "task": ReplyAnswer.PASSED_ON,
    "verdict_satisfied": ReplyAnswer.SATISFIED,
    "verdict_not_satisfied": ReplyAnswer.NOT_SATISFIED,
}

TEXTS: dict[Locale, dict[ReplyAnswer, str]] = {
    Locale.PL: {
        ReplyAnswer.CONFIRMED: "Dziękujemy, wizyta potwierdzona: {when}.",
        ReplyAnswer.PASSED_ON: "Dziękujemy, przekazaliśmy Twoją odpowiedź recepcji; oddzwonimy.",
        ReplyAnswer.SATISFIED: "Dziękujemy, reklamacja zamknięta jako rozwiązana.",
        ReplyAnswer.NOT_SATISFIED: "Dziękujemy, wracamy do Twojej reklamacji; odezwiemy się.",
    },
    Locale.EN: {
        ReplyAnswer.CONFIRMED: "Thank you, your visit is confirmed: {when}.",
        ReplyAnswer.PASSED_ON: "Thank you, we passed your reply to our front desk; we will "
        "call you back.",
        ReplyAnswer.SATISFIED: "Thank you, your complaint is closed as resolved.",
        ReplyAnswer.NOT_SATISFIED: "Thank you, we are reopening your complaint and will be in "
        "touch.",
    },
}


def answer_for(action: str, first_action: str | None = None) -> ReplyAnswer | None:
    """What a reply whose outcome was `action` is answered with, by SMS or by email (None:
    nothing). A delivery of a reply already acted on (`duplicate`) is answered as the first
    delivery was (`first_action`): the SMS webhook gives the same text again, the email's
    answer is sent once under the reply's id."""
    return ANSWER_OF_ACTION.get(first_action or action)


def answer_text(answer: ReplyAnswer, locale: Locale, when: str = "") -> str:
    """The answer in the client's language, in GSM-7 letters; `when` the visit's time, as
    the texts show it (rendering.when_short), for a confirmation."""
    if answer is ReplyAnswer.CONFIRMED and not when:
        text = TEXTS[locale][answer].partition(":")[0] + "."
    else:
        text = TEXTS[locale][answer].format(when=when)
    return to_gsm7(text)


# The email a client's email reply is answered with (templates/{en,pl}/reply_answer.j2).
EMAIL_TEMPLATE = "reply_answer"
# "Re: Re: AW: …" as mail programs prefix an answer's subject, in the languages we write.
_ANSWER_PREFIXES = re.compile(r"^\s*((re|odp|aw|fwd?)\s*:\s*)+", re.IGNORECASE)
SUBJECT_MAX = 150


_MESSAGE_ID = re.compile(MESSAGE_ID)


def message_id_of(reply_id: str) -> str | None:
    """The Message-ID an answer names as the email it answers (In-Reply-To), from the id the
    reply is filed under: its Message-ID header, or None for an email that had none (filed
    under a hash of its content) or one we would not repeat in a header."""
    return reply_id if _MESSAGE_ID.fullmatch(reply_id) else None


def reply_subject(subject: str) -> str:
    """The client's subject as our answer repeats it ("Re: " + this): without the answer
    prefixes the mail programs stacked, on one line (the template's first line is the
    subject), at most SUBJECT_MAX characters. Empty: the template's own subject."""
    line = " ".join(_ANSWER_PREFIXES.sub("", subject).split())
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1].rstrip() + "…"
