"""What a client hears back at once when they answer by SMS: the text of the TwiML <Message>
the inbound webhook returns to Twilio. Short, in the client's language, GSM-7 letters like
every other SMS. Opt-out and opt-in words get none here (Twilio's own opt-out handling and
our notice answer them), nor does `R` (the reschedule link is the answer)."""

from __future__ import annotations

from enum import StrEnum

from promptly.domain.common import Locale
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


def answer_for(action: str) -> ReplyAnswer | None:
    """What a reply whose outcome was `action` is answered with (None: nothing)."""
    return ANSWER_OF_ACTION.get(action)


def answer_text(answer: ReplyAnswer, locale: Locale, when: str = "") -> str:
    """The answer in the client's language, in GSM-7 letters; `when` the visit's time, as
    the texts show it (rendering.when_short), for a confirmation."""
    if answer is ReplyAnswer.CONFIRMED and not when:
        text = TEXTS[locale][answer].partition(":")[0] + "."
    else:
        text = TEXTS[locale][answer].format(when=when)
    return to_gsm7(text)
