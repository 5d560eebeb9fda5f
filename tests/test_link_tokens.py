"""Client link tokens as pure functions: compact tokens for text messages, a visit's links
spent once it moves, stored messages whose links are redacted and signed afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promptly.api.links import LINK_CASES
from promptly.domain import links
from promptly.domain.keys import LINKS, Keyring

KEYS = Keyring.of(LINKS, "link-secret-for-the-link-rule-tests-0123456789")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_compact_tokens_are_short_and_verify_like_full_ones() -> None:
    claims = links.LinkClaims(
        case_id="appointment-A-1001", action="confirm", expires_at=NOW + timedelta(days=14)
    )
    compact = links.sign_compact(KEYS, claims)
    full = links.sign(KEYS, claims)
    assert len(compact) <= 50 < len(full)
    assert links.verify(KEYS, compact, NOW) == links.verify(KEYS, full, NOW)
    with pytest.raises(links.InvalidLink, match="expired"):
        links.verify(KEYS, compact, NOW + timedelta(days=15))
    with pytest.raises(links.InvalidLink, match="not valid"):
        links.verify(Keyring.of(LINKS, "another-secret-" * 3), compact, NOW)
    forged = compact.replace("~c", "~x", 1)  # confirm → cancel
    with pytest.raises(links.InvalidLink, match="not valid"):
        links.verify(KEYS, forged, NOW)


def test_every_action_a_client_link_takes_has_a_compact_token() -> None:
    """docs/sms.md: SMS links are compact; an action without a letter would send the full
    token, a third of a two-segment text."""
    actions = {action for case in LINK_CASES.values() for action in case.actions}
    for action in actions:
        claims = links.LinkClaims(
            case_id="complaint-K-2026-000123", action=action, expires_at=NOW + timedelta(days=14)
        )
        compact = links.sign_compact(KEYS, claims)
        assert len(compact) <= 60, action
        assert links.verify(KEYS, compact, NOW) == claims


def test_a_visits_links_carry_its_moves_and_are_spent_by_the_next_even_back_to_the_time() -> None:
    start = NOW + timedelta(days=3)
    claims = links.LinkClaims(
        case_id="appointment-A-1001",
        action="cancel",
        expires_at=NOW + timedelta(days=14),
        for_start=start,
        moves=2,
    )
    for token in (links.sign_compact(KEYS, claims), links.sign(KEYS, claims)):
        read = links.verify(KEYS, token, NOW)
        assert read.moves == 2 and not read.superseded_by(start, 2)
        assert read.superseded_by(start, 3)  # moved away and back to the same time
        assert read.superseded_by(start + timedelta(hours=1), 2)
    # A link from before the count is judged by the start alone.
    older = links.verify(
        KEYS, links.sign_compact(KEYS, claims.model_copy(update={"moves": None})), NOW
    )
    assert older.moves is None and not older.superseded_by(start, 3)
    with pytest.raises(links.InvalidLink):  # a field more than any token has
        links.verify(KEYS, links.sign_compact(KEYS, claims).replace(".2~", ".2.9~"), NOW)


def test_a_stored_message_gets_fresh_links_for_the_same_actions() -> None:
    """What an undelivered SMS's email fallback does with the ledger's text (domain/links)."""
    sent = {
        "confirm": "https://p.example/c/old-confirm",
        "calendar": "https://p.example/c/old-cal/calendar.ics",
    }
    body = f"Reply YES or {sent['confirm']}. Calendar: {sent['calendar']} STOP to opt out"
    stored = links.redact(body, sent)
    assert "old-" not in stored
    assert links.redacted_actions(stored) == ["confirm", "calendar"]

    fresh = {"confirm": "https://p.example/c/new-confirm", "calendar": "https://p.example/c/new"}
    assert links.relink(stored, fresh) == (
        "Reply YES or https://p.example/c/new-confirm. "
        "Calendar: https://p.example/c/new/calendar.ics STOP to opt out"
    )
    # An action without a fresh link keeps its placeholder rather than a broken URL.
    assert links.relink(stored, {}) == stored


def test_a_visits_links_live_until_the_day_after_it_however_far_ahead_it_is() -> None:
    ttl = timedelta(days=14)
    far = NOW + timedelta(days=40)
    expires = links.links_expire_at(NOW, ttl, far)
    assert expires == far + links.AFTER_VISIT
    token = links.sign_compact(
        KEYS, links.LinkClaims(case_id="appointment-A-1", action="cancel", expires_at=expires)
    )
    links.verify(KEYS, token, NOW + timedelta(days=20))  # the client cancels on day 20
    links.verify(KEYS, token, far + timedelta(hours=2))  # "running late", the visit's outcome
    with pytest.raises(links.ExpiredLink) as expired:
        links.verify(KEYS, token, far + links.AFTER_VISIT)
    assert expired.value.claims.case_id == "appointment-A-1"  # authentic: whose link it was

    # ttl stays the floor: a visit tomorrow, a visit already over, a message about no visit.
    assert links.links_expire_at(NOW, ttl, NOW + timedelta(days=1)) == NOW + ttl
    assert links.links_expire_at(NOW, ttl, NOW - timedelta(days=3)) == NOW + ttl
    assert links.links_expire_at(NOW, ttl, None) == NOW + ttl


def test_a_stored_body_matches_the_message_with_its_links_in_place_only() -> None:
    """What the ledger keeps (`redact`) is matched against what a provider lists: the same
    text with each link whose token it names, nothing else."""
    urls = {
        "confirm": "https://promptly.test/c/AbC-12_x",
        "cancel": "https://promptly.test/c/Zz9.k~q",
    }
    live = f"Confirm: {urls['confirm']} or cancel: {urls['cancel']} (A-1001)."
    stored = links.redact(live, urls)
    assert links.unredacts_to(stored, live)
    assert not links.unredacts_to(stored, live.replace("Zz9.k~q", "Zz9.k~r"))  # another token
    assert not links.unredacts_to(stored, live.replace("A-1001", "A-1002"))  # another text
    assert not links.unredacts_to(stored, f"{urls['confirm']} {urls['cancel']}")
    assert links.unredacts_to("No links here.", "No links here.")
