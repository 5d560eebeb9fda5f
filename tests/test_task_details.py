"""What a line added to an open task's details leaves there (domain/tasks.py `details_with`)."""

from __future__ import annotations

from promptly.domain.tasks import details_with

DELAY = "Also tell the client: the provider runs"


def test_a_line_is_added_once_however_often_it_is_retried() -> None:
    assert details_with("", "Excuse: flu.") == "Excuse: flu."
    added = details_with("Call Anna.", "Excuse: flu.")
    assert added == "Call Anna.\nExcuse: flu."
    assert details_with(added, "Excuse: flu.") == added


def test_a_newer_estimate_replaces_the_line_of_the_last_one_only() -> None:
    script = f"Call Anna.\n{DELAY} 30 min late.\nAsk her to confirm."
    newer = details_with(script, f"{DELAY} 40 min late.", replaces=DELAY)
    assert newer == f"Call Anna.\nAsk her to confirm.\n{DELAY} 40 min late."
    # Retried: the same line stays, once.
    assert details_with(newer, f"{DELAY} 40 min late.", replaces=DELAY) == newer
