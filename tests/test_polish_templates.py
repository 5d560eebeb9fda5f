"""Polish recipients read Polish: no Polish template is the English text (the staff alert of an
unanswered inquiry was), and a client, in a message or on a link's page, is addressed as
"Państwo"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promptly.api.page_texts import TEXT as PAGE_TEXT
from promptly.domain.common import Channel, Locale
from promptly.domain.rendering import TEMPLATES, render

TEMPLATE_FILES = sorted(
    str(path.relative_to(TEMPLATES / "en")) for path in (TEMPLATES / "en").rglob("*.j2")
)


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_every_polish_template_is_not_the_english_text(name: str) -> None:
    polish = (TEMPLATES / "pl" / name).read_text(encoding="utf-8")
    assert polish != (TEMPLATES / "en" / name).read_text(encoding="utf-8"), name


@pytest.mark.parametrize("supervisor", [False, True])
def test_polish_inquiry_alert_is_in_polish(supervisor: bool) -> None:
    context = {
        "supervisor": supervisor,
        "reference": "Q-7",
        "answer_deadline": datetime(2026, 3, 3, 9, tzinfo=UTC),
        "customer_name": "Anna Nowak",
        "customer_id": "C-17",
        "received_at": datetime(2026, 3, 2, 9, tzinfo=UTC),
        "received_via": "email",
        "subject": "Godziny otwarcia",
        "question": "Czy pracują Państwo w soboty?",
    }
    message = render("inquiry_alert", Locale.PL, "Europe/Warsaw", context)
    assert message.subject.startswith("Zapytanie Q-7 bez odpowiedzi")
    assert "Numer sprawy:  Q-7" in message.body and "Klient:" in message.body
    assert "Inquiry" not in message.subject + message.body
    assert "wtorek, 3 marca 2026" in message.subject or supervisor


def _priced_visit(price: str) -> dict[str, object]:
    return {
        "case_id": "appointment-A-1",
        "reference": "A-1",
        "client_name": "Anna Nowak",
        "phone": "+48600100200",
        "service": "Fizjoterapia",
        "start": "2026-12-07T09:00:00+01:00",
        "location": "ul. Prosta 1",
        "provider_name": "Jan Kowalski",
        "instructions": "",
        "price": price,
        "prepayment_required": False,
        "links": {a: f"https://example.pl/c/{a}" for a in ("confirm", "cancel", "reschedule")},
    }


def test_a_polish_reader_sees_a_price_with_a_decimal_comma_and_the_currency_sign() -> None:
    """The case carries "120.50 PLN"; a Polish reader expects "120,50 zł" (the space before
    the currency a no-break one)."""
    confirmation = render("confirmation", Locale.PL, "Europe/Warsaw", _priced_visit("120.50 PLN"))
    assert "Cena:     120,50\u00a0zł\n" in confirmation.body
    assert "120.50" not in confirmation.body
    desk = render(
        "phone_confirmation",
        Locale.PL,
        "Europe/Warsaw",
        _priced_visit("1234.50 EUR"),
        Channel.PHONE,
    )
    assert "Cena: 1\u00a0234,50\u00a0€." in desk.body
    # English reads as before: the amount, then the currency's code.
    english = render("confirmation", Locale.EN, "Europe/Warsaw", _priced_visit("120.50 PLN"))
    assert "Price:    120.50 PLN\n" in english.body


# Written for colleagues (staff, a department, a provider), who may be addressed as "ty".
STAFF_TEMPLATES = {
    "complaint_alert",
    "complaint_assigned",
    "complaint_department",
    "inquiry_alert",
    "phone_confirmation",
    "provider_booking",
    "provider_cancellation",
    "provider_decision",
    "qa_report",
    "supervisor_alert",
}
# "ty" forms a client must not read beside the "Państwo" of the messages and link pages: the
# pronouns, verbs in the second person singular (present, and past as "odpowiedziałeś/aś") and
# the imperative.
INFORMAL = re.compile(
    r"\b(Tw[oó]j\w*|Ci|Cię|Ciebie|Tobie|Tobą|możesz|chcesz|Masz|jesteś|przyjdziesz|Spóźnisz"
    r"|wybierzesz|polecisz|oceniasz|\w+ł(?:e|a|by|aby)ś"
    r"|Wybierz|Oceń|Przełóż|napisz|odpisz|Potwierdź|Odwołaj|Zmień|Dodaj|Podaj|Daj|Otwórz"
    r"|Skontaktuj|Użyj|Spróbuj|Sprawdź|Kliknij|Zadzwoń)\b",
    re.IGNORECASE,
)
# The reply commands of the texts and SMS notices ("Potwierdź: odpisz TAK", "Odpisz STOP") are
# still imperative: they were left out of the messages' "Państwo" rewording.
REPLY_COMMANDS = re.compile(
    r"Potwierdź: odpisz TAK|Zmień/odwołaj:|odpisz (?:STOP|START)", re.IGNORECASE
)


@pytest.mark.parametrize(
    "name",
    [name for name in TEMPLATE_FILES if Path(name).stem not in STAFF_TEMPLATES],
)
def test_a_polish_client_is_not_addressed_as_ty(name: str) -> None:
    polish = (TEMPLATES / "pl" / name).read_text(encoding="utf-8")
    assert not INFORMAL.findall(REPLY_COMMANDS.sub("", polish)), name


def test_every_polish_link_page_text_addresses_the_reader_as_panstwo() -> None:
    """The pages behind a message's links (confirm, cancel, reschedule, running late, the
    survey, the complaint's follow-up, the provider's acknowledge, every problem page) speak as
    the messages do."""
    informal = {
        key: INFORMAL.findall(text)
        for key, text in PAGE_TEXT[Locale.PL].items()
        if INFORMAL.search(text)
    }
    assert informal == {}
    polish = PAGE_TEXT[Locale.PL]
    assert polish["survey.title"] == "Jak oceniają Państwo wizytę?"
    assert polish["survey.already"] == "Mamy już Państwa odpowiedź, dziękujemy"
    assert polish["cancel.intro"].endswith("Czy chcą Państwo odwołać tę wizytę?")


def test_every_polish_greeting_puts_the_comma_after_the_name() -> None:
    greetings = [
        line
        for path in sorted((TEMPLATES / "pl").rglob("*.j2"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("Dzień dobry")
    ]
    assert greetings and all(
        re.fullmatch(r"Dzień dobry( \{\{ \w+ \}\})?,", line) for line in greetings
    ), greetings


def test_the_polish_confirmation_reads_formal() -> None:
    body = render("confirmation", Locale.PL, "Europe/Warsaw", _priced_visit("120.50 PLN")).body
    assert body.startswith("Dzień dobry Anna Nowak,\n\nPaństwa wizyta została zarezerwowana:")
    assert "Nie mogą Państwo przyjść? Wizytę można odwołać: https://example.pl/c/cancel" in body


@pytest.mark.parametrize(
    ("channel", "latest", "target"),
    [
        (None, "najpóźniej w terminie: środa, 4 marca 2026, 10:00.", "wtorek, 3 marca 2026"),
        (Channel.SMS, "Odpowiemy najpozniej sr., 4 mar, 10:00.", "wt., 3 mar"),
    ],
)
def test_an_inquiry_acknowledgement_promises_the_answer_at_the_latest_time(
    channel: Channel | None, latest: str, target: str
) -> None:
    """The acknowledgement names the latest answer time (48h); a context made before it was
    part of the context (an acknowledgement retried across an upgrade) keeps its 24h."""
    context: dict[str, object] = {
        "reference": "Q-7",
        "customer_name": "Anna Nowak",
        "subject": "Godziny otwarcia",
        "by_phone": False,
        "answer_deadline": "2026-03-03T09:00:00+00:00",
    }
    new = {**context, "answer_latest": "2026-03-04T09:00:00+00:00"}
    told = render("inquiry_ack", Locale.PL, "Europe/Warsaw", new, channel).body
    assert latest in told and target not in told
    before = render("inquiry_ack", Locale.PL, "Europe/Warsaw", context, channel).body
    assert target in before
