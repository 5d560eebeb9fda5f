"""Outbound webhooks, the pure rules: retry backoff, the signature, which entries become
events and what they may say; and the settings that switch webhooks on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from promptly.config import Settings
from promptly.domain.common import (
    Actor,
    ActorKind,
    CaseKind,
    CaseSnapshot,
    TimelineEntry,
    TimelineKind,
)
from promptly.domain.webhooks import (
    WEBHOOK_MAX_ATTEMPTS,
    WebhookChange,
    sign,
    verify_signature,
    webhook_events,
    webhook_retry_at,
    webhook_retry_delay,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef"
CLIENT = Actor(kind=ActorKind.CLIENT, id="C-17")

# --- backoff ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (1, timedelta(seconds=30)),
        (2, timedelta(minutes=1)),
        (3, timedelta(minutes=2)),
        (4, timedelta(minutes=4)),
        (7, timedelta(minutes=32)),
        (8, timedelta(hours=1)),  # 64 minutes, capped
        (29, timedelta(hours=1)),
        (10_000, timedelta(hours=1)),
    ],
)
def test_retry_delay_doubles_from_30s_and_stops_at_an_hour(attempts: int, delay: timedelta) -> None:
    assert webhook_retry_delay(attempts) == delay


def test_a_failed_delivery_is_tried_again_after_the_backoff() -> None:
    created = NOW - timedelta(minutes=5)
    assert webhook_retry_at(1, created, NOW, 500) == NOW + timedelta(seconds=30)
    assert webhook_retry_at(3, created, NOW, None) == NOW + timedelta(minutes=2)  # no answer
    assert webhook_retry_at(2, created, NOW, 404) == NOW + timedelta(minutes=1)


def test_gone_gives_up_at_once() -> None:
    assert webhook_retry_at(1, NOW, NOW, 410) is None


def test_gives_up_24h_after_the_event_was_recorded() -> None:
    almost = NOW - timedelta(hours=24) + timedelta(seconds=1)
    assert webhook_retry_at(5, almost, NOW, 503) == NOW + timedelta(minutes=8)
    assert webhook_retry_at(5, NOW - timedelta(hours=24), NOW, 503) is None


def test_gives_up_after_the_last_attempt() -> None:
    created = NOW - timedelta(hours=1)
    assert webhook_retry_at(WEBHOOK_MAX_ATTEMPTS - 1, created, NOW, 500) is not None
    assert webhook_retry_at(WEBHOOK_MAX_ATTEMPTS, created, NOW, 500) is None


def test_the_schedule_of_retries_spans_about_a_day() -> None:
    waited = sum((webhook_retry_delay(n) for n in range(1, WEBHOOK_MAX_ATTEMPTS)), timedelta())
    assert timedelta(hours=23) < waited < timedelta(hours=25)


# --- signature -------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"id":"appointment-A-1/0"}'
    header = sign(SECRET, body, NOW)
    t = int(NOW.timestamp())
    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={expected}"


def test_signature_verifies_with_the_secret_only() -> None:
    body = b'{"id":"appointment-A-1/0"}'
    header = sign(SECRET, body, NOW)
    assert verify_signature(SECRET, header, body, NOW + timedelta(seconds=2))
    assert not verify_signature("another-secret-entirely", header, body, NOW)
    assert not verify_signature(SECRET, header, body + b" ", NOW)
    assert not verify_signature(SECRET, header.replace("t=", "t=1"), body, NOW)
    assert not verify_signature(SECRET, "v1=abc", body, NOW)
    assert not verify_signature(SECRET, "", body, NOW)


def test_an_old_signature_is_refused() -> None:
    body = b"{}"
    header = sign(SECRET, body, NOW)
    assert verify_signature(SECRET, header, body, NOW + timedelta(minutes=5))
    assert not verify_signature(SECRET, header, body, NOW + timedelta(minutes=5, seconds=1))


# --- events ----------------------------------------------------------------------------------


def _snapshot(kind: CaseKind, entries: list[TimelineEntry], first_seq: int = 0) -> CaseSnapshot:
    return CaseSnapshot(
        case_id=f"{kind.value}-A-1",
        kind=kind,
        business_id="A-1",
        status="Confirmed",
        client_id="C-17",
        first_seq=first_seq,
        entries=entries,
    )


def _entry(kind: TimelineKind, detail: str, **data: object) -> TimelineEntry:
    return TimelineEntry(at=NOW, kind=kind, actor=CLIENT, detail=detail, data=data)


def test_only_status_entries_become_events_numbered_by_their_position() -> None:
    snapshot = _snapshot(
        CaseKind.APPOINTMENT,
        [
            _entry(TimelineKind.MESSAGE, "Confirmation sent", template="confirmation"),
            _entry(TimelineKind.STATUS, "Client confirmed", status="Confirmed", previous="Booked"),
            _entry(TimelineKind.ACTION, "Provider acknowledged"),
        ],
        first_seq=4,
    )
    [(seq, event)] = webhook_events(snapshot)
    assert seq == 5
    assert event.model_dump(mode="json") == {
        "id": "appointment-A-1/5",
        "type": "appointment.status_changed",
        "change": "status",
        "case_id": "appointment-A-1",
        "business_id": "A-1",
        "kind": "appointment",
        "status": "Confirmed",
        "previous": "Booked",
        "at": "2026-11-20T09:00:00Z",
        "actor": {"kind": "client", "id": "C-17"},
        "start": None,
        "previous_start": None,
        "minutes": None,
        "expected_start": None,
        "no_show_at": None,
    }


def test_the_first_status_has_no_previous_and_each_kind_its_type() -> None:
    for kind, event_type in (
        (CaseKind.APPOINTMENT, "appointment.status_changed"),
        (CaseKind.COMPLAINT, "complaint.status_changed"),
        (CaseKind.SURVEY, "survey.status_changed"),
        (CaseKind.INQUIRY, "inquiry.status_changed"),
    ):
        [(_, event)] = webhook_events(
            _snapshot(kind, [_entry(TimelineKind.STATUS, "Opened", status="Open")])
        )
        assert event.type == event_type and event.previous is None


def test_events_carry_no_free_text_from_the_entry() -> None:
    snapshot = _snapshot(
        CaseKind.APPOINTMENT,
        [
            _entry(
                TimelineKind.STATUS,
                "Cancelled by Anna Nowak (anna@example.com, +48600100200)",
                status="Cancelled",
                previous="Confirmed",
                reason="Anna Nowak is ill, call +48600100200",
            )
        ],
    )
    [(_, event)] = webhook_events(snapshot)
    body = event.model_dump_json()
    for secret in ("Anna", "Nowak", "anna@example.com", "+48600100200", "ill"):
        assert secret not in body
    assert set(json.loads(body)) == {
        "id",
        "type",
        "change",
        "case_id",
        "business_id",
        "kind",
        "status",
        "previous",
        "at",
        "actor",
        "start",
        "previous_start",
        "minutes",
        "expected_start",
        "no_show_at",
    }


def _appointment(entries: list[TimelineEntry], status: str, start: datetime) -> CaseSnapshot:
    return CaseSnapshot(
        case_id="appointment-A-1",
        kind=CaseKind.APPOINTMENT,
        business_id="A-1",
        status=status,
        client_id="C-17",
        starts_at=start,
        first_seq=3,
        entries=entries,
    )


def test_a_reschedule_says_so_with_the_new_and_the_old_start() -> None:
    old, new = NOW + timedelta(days=2), NOW + timedelta(days=3)
    snapshot = _appointment(
        [
            _entry(
                TimelineKind.STATUS,
                f"Rescheduled from {old.isoformat()} to {new.isoformat()}",
                status="Booked",
                previous="Confirmed",
                start=new.isoformat(),
                previous_start=old.isoformat(),
            ),
            _entry(TimelineKind.STATUS, "Client confirmed", status="Confirmed", previous="Booked"),
        ],
        status="Confirmed",
        start=new,
    )
    [(_, moved), (_, confirmed)] = webhook_events(snapshot)
    assert json.loads(moved.model_dump_json()) | {"at": None} == {
        "id": "appointment-A-1/3",
        "type": "appointment.status_changed",
        "change": "rescheduled",
        "case_id": "appointment-A-1",
        "business_id": "A-1",
        "kind": "appointment",
        "status": "Booked",
        "previous": "Confirmed",
        "at": None,
        "actor": {"kind": "client", "id": "C-17"},
        "start": "2026-11-23T09:00:00Z",
        "previous_start": "2026-11-22T09:00:00Z",
        "minutes": None,
        "expected_start": None,
        "no_show_at": None,
    }
    assert (confirmed.change, confirmed.start) == (WebhookChange.STATUS, new)


def test_a_delay_is_an_event_with_its_minutes_and_the_new_no_show_time() -> None:
    start = NOW + timedelta(hours=1)
    snapshot = _appointment(
        [
            _entry(
                TimelineKind.ACTION,
                "Provider delayed by 20 min: Dr Kowalski's previous patient",
                change="provider_delay",
                minutes=20,
                new_estimate=(start + timedelta(minutes=20)).isoformat(),
                no_show_at=(start + timedelta(minutes=35)).isoformat(),
            ),
            _entry(
                TimelineKind.ACTION,
                "Client running 10 min late: stuck in traffic",
                change="client_late",
                minutes=10,
                counted_minutes=10,
                no_show_at=(start + timedelta(minutes=45)).isoformat(),
            ),
            _entry(TimelineKind.ACTION, "Provider acknowledged", minutes=3),  # not an event
        ],
        status="Confirmed",
        start=start,
    )
    [(_, provider), (_, client)] = webhook_events(snapshot)
    assert provider.type == client.type == "appointment.delayed"
    assert provider.model_dump(
        include={"change", "status", "previous", "start", "minutes", "expected_start", "no_show_at"}
    ) == {
        "change": WebhookChange.PROVIDER_DELAY,
        "status": "Confirmed",
        "previous": "Confirmed",
        "start": start,
        "minutes": 20,
        "expected_start": start + timedelta(minutes=20),
        "no_show_at": start + timedelta(minutes=35),
    }
    assert (client.change, client.minutes, client.no_show_at, client.expected_start) == (
        WebhookChange.CLIENT_LATE,
        10,
        start + timedelta(minutes=45),
        None,
    )
    assert (
        "Kowalski" not in provider.model_dump_json() and "traffic" not in client.model_dump_json()
    )


# --- settings --------------------------------------------------------------------------------


def test_webhooks_are_off_by_default() -> None:
    assert Settings().webhook_urls == []


def test_webhook_urls_without_a_shared_secret_are_signed_each_with_its_own() -> None:
    per_url = Settings(webhook_urls=["https://crm.example.com/promptly"], link_secret=SECRET * 3)
    assert per_url.webhook_signing().shared is None
    with pytest.raises(ValidationError, match="at least 16 characters") as raised:
        Settings(webhook_urls=["https://crm.example.com/promptly"], webhook_secret="short")
    assert "short" not in str(raised.value)  # the error does not echo the secret
    configured = Settings(webhook_urls=["https://crm.example.com/promptly"], webhook_secret=SECRET)
    assert [str(url) for url in configured.webhook_urls] == ["https://crm.example.com/promptly"]


def test_webhook_urls_must_be_http() -> None:
    with pytest.raises(ValidationError, match="webhook_urls"):
        Settings(webhook_urls=["ftp://crm.example.com/x"], webhook_secret=SECRET)


def test_the_documented_verification_snippet_agrees_with_the_signature() -> None:
    import re
    from pathlib import Path

    docs = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text(encoding="utf-8")
    found = re.search(r"^# Webhooks$.*?^```python\n(.*?)^```", docs, re.S | re.M)
    assert found, "docs/webhooks.md has no Python snippet"
    namespace: dict[str, Any] = {}
    exec(found.group(1), namespace)  # our own docs, as a receiver would paste them
    body = b'{"id":"appointment-A-1/0"}'
    header = sign(SECRET, body, datetime.now(UTC))
    assert namespace["verify"](SECRET, header, body)
    assert not namespace["verify"]("another-secret-entirely", header, body)
    assert not namespace["verify"](SECRET, header, body + b" ")


def test_the_documented_verify_signature_call_works() -> None:
    import re
    from pathlib import Path

    docs = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text(encoding="utf-8")
    [call] = re.findall(r"`(verify_signature\([^`]*\))`", docs)
    body = b'{"id":"appointment-A-1/0"}'
    header = sign(SECRET, body, datetime.now(UTC))
    names: dict[str, Any] = {"verify_signature": verify_signature, "datetime": datetime}
    names |= {"UTC": UTC, "secret": SECRET, "header": header}
    assert eval(call, names | {"body": body}) is True  # as a receiver would call it
    assert eval(call, names | {"body": body + b" "}) is False


def test_the_api_reference_shows_each_event_and_its_body_as_openapi_webhooks() -> None:
    from promptly.api.app import create_app
    from tests.api_support import with_api_keys

    document = create_app(with_api_keys(Settings(link_secret=SECRET * 3))).openapi()
    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == {
        "appointment.status_changed",
        "appointment.delayed",
        "complaint.status_changed",
        "inquiry.status_changed",
        "survey.status_changed",
    }
    delayed = document["webhooks"]["appointment.delayed"]["post"]
    body = delayed["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/WebhookEvent"}
    assert {p["name"] for p in delayed["parameters"]} == {"Promptly-Signature", "Promptly-Event-Id"}
    event = document["components"]["schemas"]["WebhookEvent"]["properties"]
    assert {"change", "start", "previous_start", "minutes", "no_show_at"} <= set(event)
    assert "410" in delayed["responses"]
