"""What a client's reply means, over replies clients really send (PL and EN): a yes-word
followed by polite words confirms; a yes with anything else ("Tak, odwołuję") goes to a
person, who reads it."""

from __future__ import annotations

import pytest

from promptly.domain.common import Channel, Locale
from promptly.domain.rendering import render
from promptly.domain.reply_answers import (
    EMAIL_TEMPLATE,
    ReplyAnswer,
    answer_for,
    answer_text,
    reply_subject,
)
from promptly.domain.sms import (
    Encoding,
    ReplyIntent,
    first_reply_line,
    plain_no,
    reply_intent,
    segments,
)
from tests.message_contexts import every_line

CONFIRMING = [
    "TAK",
    "tak",
    "Tak.",
    "Tak!",
    "tak, będę",
    "Tak, bede",
    "TAK 👍",
    "TAK👍🏻",
    "👍",
    "TAK TAK",
    "Potwierdzam",
    "Potwierdzam wizytę",
    "potwierdzam, dziękuję",
    "Tak, będę. Dziękuję bardzo!",
    "Tak, do zobaczenia",
    "Ok, dzięki",
    "Jasne",
    "Tak :)",
    "tak 🙂",
    "\u200bTAK",
    "TAK\u00a0",
    "Yes",
    "yes please",
    "Ok",
    "Yes, see you then!",
    "Yes, I'll be there, thanks",
    "Yes, I’ll be there",
    "ok thanks",
]

TO_A_PERSON = [
    "Tak, odwołuję",
    "Tak, odwołaj proszę",
    "Tak, rezygnuję",
    "Tak zmiana",
    "tak przełóż",
    "tak ale nie mogę",
    "Tak, ale spóźnię się",
    "Tak, czy mogę przyjść z dzieckiem?",
    "ok wont make it",
    "ok sorry, sick",
    "ok, but cant come",
    "Yes but can’t come",
    "Yes but I can't make it",
    "yes cancel",
    "ok, cancel it",
    "yes, reschedule",
    "yes but not at 10",
    "ok ill",
    "NIE",
    "Nie przyjdę",
    "No",
    "Odwołuję",
    "Rezygnuję",
    "ANULUJ",
    "Takk",
    "ТАК",  # Cyrillic
    "Can I come at 11?",
    "",
]


@pytest.mark.parametrize("text", CONFIRMING)
def test_a_yes_with_polite_words_confirms(text: str) -> None:
    assert reply_intent(text) is ReplyIntent.CONFIRM


@pytest.mark.parametrize("text", TO_A_PERSON)
def test_a_yes_with_any_other_word_goes_to_a_person(text: str) -> None:
    assert reply_intent(text) is ReplyIntent.OTHER


@pytest.mark.parametrize(
    ("email", "intent"),
    [
        ("Tak, odwołuję\n\nW dniu pon., 30 lis 2026 Promptly napisał(a):\n> ...", "other"),
        ("Yes but can’t come\n\nOn Mon, Nov 30, 2026 Promptly wrote:\n> ...", "other"),
        ("Tak, będę. Dziękuję bardzo!\n\nW dniu pon. napisał(a):\n> ...", "confirm"),
    ],
)
def test_an_email_reply_is_read_by_its_first_line_with_the_same_words(
    email: str, intent: str
) -> None:
    assert reply_intent(first_reply_line(email)).value == intent


@pytest.mark.parametrize(
    ("locale", "label"), [(Locale.PL, "STOP = koniec SMS"), (Locale.EN, "STOP = no SMS")]
)
@pytest.mark.parametrize("template", ["confirmation", "reminder"])
def test_stop_beside_the_visit_link_says_it_stops_texts_not_the_visit(
    template: str, locale: Locale, label: str
) -> None:
    context = every_line(template, locale)
    body = render(template, locale, "Europe/Warsaw", context, Channel.SMS).body
    assert label in body, body
    assert "rezygnacja" not in body and "opt out" not in body


@pytest.mark.parametrize(
    ("text", "no"),
    [
        ("NIE", True),
        ("nie.", True),
        ("NIE, nie jestem zadowolona", True),
        ("No, not satisfied", True),
        ("No, I'm not happy", True),
        ("Nie wiem, zwrot jeszcze nie doszedł", False),
        ("Nie, wolę inny termin", False),
        ("No idea", False),
        ("TAK", False),
        ("", False),
    ],
)
def test_a_plain_no_answers_a_yes_no_question(text: str, no: bool) -> None:
    assert plain_no(text) is no


def test_the_answer_a_client_reads_back_is_in_their_language_in_gsm7() -> None:
    pl = answer_text(ReplyAnswer.CONFIRMED, Locale.PL, "czw., 5 lis, 09:00")
    assert pl == "Dziekujemy, wizyta potwierdzona: czw., 5 lis, 09:00."
    assert segments(pl).encoding is Encoding.GSM7 and segments(pl).segments == 1
    for locale in Locale:
        for answer in ReplyAnswer:
            text = answer_text(answer, locale, "Thu, Nov 5, 09:00 (Buenos Aires)")
            assert segments(text).encoding is Encoding.GSM7 and segments(text).segments == 1


@pytest.mark.parametrize(
    ("action", "first_action", "answer"),
    [
        ("confirmed", None, ReplyAnswer.CONFIRMED),
        ("task", None, ReplyAnswer.PASSED_ON),
        ("verdict_satisfied", None, ReplyAnswer.SATISFIED),
        ("verdict_not_satisfied", None, ReplyAnswer.NOT_SATISFIED),
        ("reschedule_link", None, None),  # the link is the answer
        ("opted_out", None, None),  # Twilio's opt-out handling and our notice answer it
        ("opted_in", None, None),
        ("duplicate", "confirmed", ReplyAnswer.CONFIRMED),  # as the first delivery was
        ("duplicate", "reschedule_link", None),
    ],
)
def test_one_rule_says_what_a_reply_by_sms_or_email_is_answered_with(
    action: str, first_action: str | None, answer: ReplyAnswer | None
) -> None:
    assert answer_for(action, first_action) is answer


@pytest.mark.parametrize(
    ("subject", "ours"),
    [
        ("Re: Potwierdzenie wizyty A-1", "Potwierdzenie wizyty A-1"),
        ("RE: Odp: AW: Fwd: Your visit", "Your visit"),
        ("  Re:\r\nBcc: x@example.com\n Hello  ", "Bcc: x@example.com Hello"),  # one line
        ("", ""),
        ("Re: " + "x" * 400, "x" * 149 + "…"),
    ],
)
def test_the_email_answer_repeats_the_clients_subject_on_one_line(subject: str, ours: str) -> None:
    assert reply_subject(subject) == ours


VISIT = {
    "client_name": "Anna Nowak",
    "client_id": "C-17",
    "reference": "A-1001",
    "reply_subject": "Potwierdzenie wizyty",
    "start": "2026-12-07T09:00:00+01:00",
    "service": "Fizjoterapia",
    "location": "ul. Prosta 1",
}


@pytest.mark.parametrize(
    ("locale", "answer", "said"),
    [
        (
            Locale.PL,
            ReplyAnswer.CONFIRMED,
            "dziękujemy, wizyta została potwierdzona: poniedziałek, 7 grudnia 2026, 09:00, "
            "Fizjoterapia, ul. Prosta 1.",
        ),
        (
            Locale.EN,
            ReplyAnswer.CONFIRMED,
            "Thank you, your visit is confirmed: Monday, 7 December 2026, 09:00, Fizjoterapia, "
            "ul. Prosta 1.",
        ),
        (Locale.PL, ReplyAnswer.PASSED_ON, "przekazaliśmy Państwa odpowiedź recepcji"),
        (Locale.EN, ReplyAnswer.PASSED_ON, "we passed your reply to our front desk"),
        (Locale.PL, ReplyAnswer.SATISFIED, "reklamacja została zamknięta jako rozwiązana"),
        (Locale.EN, ReplyAnswer.NOT_SATISFIED, "we are reopening your complaint"),
    ],
)
def test_the_email_answer_says_what_the_sms_answer_says_in_the_clients_language(
    locale: Locale, answer: ReplyAnswer, said: str
) -> None:
    email = render(EMAIL_TEMPLATE, locale, "Europe/Warsaw", VISIT | {"answer": answer.value})
    assert email.subject == "Re: Potwierdzenie wizyty"
    assert said in email.body, email.body
    reference = "Numer referencyjny: A-1001" if locale is Locale.PL else "Reference: A-1001"
    assert reference in email.body


def test_an_email_answer_without_a_subject_or_a_known_time_has_its_own_subject() -> None:
    context = {"client_name": "Anna Nowak", "reply_subject": "", "reference": ""}
    context |= {"answer": ReplyAnswer.CONFIRMED.value}
    email = render(EMAIL_TEMPLATE, Locale.PL, "Europe/Warsaw", context)
    assert email.subject == "Otrzymaliśmy Państwa odpowiedź"
    assert email.body == "Dzień dobry Anna Nowak,\n\ndziękujemy, wizyta została potwierdzona.\n"
