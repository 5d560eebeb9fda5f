"""Polish recipients read Polish: no Polish template is the English text (the staff alert of an
unanswered inquiry was)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promptly.domain.common import Locale
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
