"""Outbound webhooks, the pure part: which timeline entries become events, and the signature.

A delivery carries `Promptly-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256 keyed with the shared secret over `f"{t}."` followed by the raw request body.
Receivers check it as `verify_signature` does (docs/webhooks.md has a copy to paste): on the
bytes received, not on re-serialized JSON; in constant time; and refusing an old `t`, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from promptly.domain.models import (
    CaseKind,
    CaseSnapshot,
    TimelineKind,
    WebhookEvent,
    WebhookEventType,
)

SIGNATURE_HEADER = "Promptly-Signature"
EVENT_ID_HEADER = "Promptly-Event-Id"
SIGNATURE_TOLERANCE = timedelta(minutes=5)

EVENT_TYPES = {
    CaseKind.APPOINTMENT: WebhookEventType.APPOINTMENT_STATUS_CHANGED,
    CaseKind.COMPLAINT: WebhookEventType.COMPLAINT_STATUS_CHANGED,
    CaseKind.SURVEY: WebhookEventType.SURVEY_STATUS_CHANGED,
}


def event_id(case_id: str, seq: int) -> str:
    return f"{case_id}/{seq}"


def status_events(snapshot: CaseSnapshot) -> list[tuple[int, WebhookEvent]]:
    """The status changes among the snapshot's new timeline entries, with their positions.

    Only `status` and `previous` are taken from an entry's data: the other keys (reasons,
    notes) are free text.
    """
    events = []
    for offset, entry in enumerate(snapshot.entries):
        if entry.kind is not TimelineKind.STATUS or "status" not in entry.data:
            continue
        seq = snapshot.first_seq + offset
        previous = entry.data.get("previous")
        events.append(
            (
                seq,
                WebhookEvent(
                    id=event_id(snapshot.case_id, seq),
                    type=EVENT_TYPES[snapshot.kind],
                    case_id=snapshot.case_id,
                    business_id=snapshot.business_id,
                    kind=snapshot.kind,
                    status=str(entry.data["status"]),
                    previous=None if previous is None else str(previous),
                    at=entry.at,
                    actor=entry.actor,
                ),
            )
        )
    return events


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: datetime) -> str:
    """The `Promptly-Signature` header value for `body` sent at `now`."""
    timestamp = int(now.timestamp())
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """True when `header` signs exactly `body` with `secret`, at most `tolerance` from `now`."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = _digest(secret, timestamp, body)
    # Bytes: compare_digest refuses non-ASCII str, and a header may carry anything.
    return any(
        hmac.compare_digest(expected.encode(), given.encode()) for given in fields.get("v1", [])
    )
