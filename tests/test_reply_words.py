"""What a client's reply means, over replies clients really send (PL and EN): a yes-word
followed by polite words confirms; a yes with anything else ("Tak, odwołuję") goes to a
person, who reads it."""

from __future__ import annotations

import pytest

from promptly.domain.common import Channel, Locale
from promptly.domain.rendering import render
from promptly.domain.sms import ReplyIntent, first_reply_line, reply_intent
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
