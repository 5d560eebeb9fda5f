"""Outbound webhooks, the pure part: which timeline entries become events, and the signature.

Events: every status change (`<kind>.status_changed`; a reschedule is one, with `change`
`rescheduled` and the new and old start) and every reported delay of a visit
(`appointment.delayed`, with the minutes and the new no-show time).

A delivery carries `Promptly-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256 keyed with the receiver's secret over `f"{t}."` followed by the raw request body.
Each URL has its own secret (`url_secret`: HKDF of the master secret for `webhook:<url>`), so
one receiver cannot forge events to another; `PROMPTLY_WEBHOOK_SECRET`, when set, is one
secret for every URL instead (deployments from before per-URL secrets). During a rotation of
the master secret a second `v1` carries the signature under the previous one's key.
Receivers check it as `verify_signature` does (docs/webhooks.md has a copy to paste): on the
bytes received, not on re-serialized JSON; in constant time; and refusing an old `t`, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, Field

from promptly.domain import keys
from promptly.domain.common import (
    Actor,
    CaseKind,
    CaseSnapshot,
    Model,
    TimelineEntry,
    TimelineKind,
)


class WebhookChange(StrEnum):
    """What an event reports: another status, a visit moved, or a visit running late."""

    # Read from a status entry's keys (a reschedule has `previous_start`), or, for a delay,
    # written by the workflow in the entry's data as `change`.

    STATUS = "status"  # the case moved to another status
    RESCHEDULED = "rescheduled"  # the visit moved to another time (booked again there)
    PROVIDER_DELAY = "provider_delay"  # the provider runs late
    CLIENT_LATE = "client_late"  # the client said they run late


_DELAYS = frozenset({WebhookChange.PROVIDER_DELAY, WebhookChange.CLIENT_LATE})


def event_type(kind: CaseKind, change: WebhookChange = WebhookChange.STATUS) -> str:
    """`<kind>.status_changed` for a status change (a reschedule is one), named after the
    kind: a new kind has its type with no list to keep in step (a kind left out of one made
    every save of its cases fail); `<kind>.delayed` for a delay."""
    return f"{kind.value}.delayed" if change in _DELAYS else f"{kind.value}.status_changed"


class WebhookEvent(Model):
    """The JSON body of one webhook: a case changed status, or its visit moved or runs late.

    Ids and facts only: never the client's name or contact details, and no timeline detail,
    which is free text (a cancellation reason or a proposed resolution can quote a person).
    Every event has every key; those that do not apply to its `change` are null.
    """

    id: str = Field(description="<case_id>/<seq>, one per event: receivers dedupe by it")
    type: str = Field(
        description="<kind>.status_changed (e.g. appointment.status_changed), or "
        "appointment.delayed"
    )
    change: WebhookChange = Field(
        default=WebhookChange.STATUS,
        description="status: another status; rescheduled: the visit moved (status Booked, "
        "start and previous_start); provider_delay or client_late: a delay (minutes, "
        "no_show_at; the status is unchanged)",
    )
    case_id: str = Field(description="the workflow id, e.g. appointment-A-1001")
    business_id: str = Field(
        description="appointment, complaint or inquiry id (a survey: its appointment's id)"
    )
    kind: CaseKind
    status: str = Field(description="the status after the event")
    previous: str | None = Field(
        description="the status before; null when the case began (same as status for a delay)"
    )
    at: AwareDatetime
    actor: Actor
    start: AwareDatetime | None = Field(
        default=None,
        description="appointments: the visit's start after the event (not moved by delays)",
    )
    previous_start: AwareDatetime | None = Field(
        default=None, description="rescheduled: the start the visit moved from"
    )
    minutes: int | None = Field(default=None, description="a delay: the minutes reported")
    expected_start: AwareDatetime | None = Field(
        default=None, description="provider_delay: when the visit is now expected to begin"
    )
    no_show_at: AwareDatetime | None = Field(
        default=None, description="a delay: when the no-show rule now applies"
    )


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(Model):
    """One (event, URL) row of `webhook_deliveries`, as the admin listing shows it."""

    id: int
    event_id: str
    url: str
    case_id: str
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: AwareDatetime
    last_status_code: int | None
    last_error: str | None
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None
    requeued_at: AwareDatetime | None = None  # sent again by an operator after it failed


class WebhookDispatchRequest(Model):
    """Deliver what is due, then keep polling until `run_for` has passed.

    The schedule starts one dispatcher a minute; one that polls for ~50s delivers a status
    change within about `poll_every` of its being recorded.
    """

    run_for: timedelta = Field(default=timedelta(seconds=50), ge=timedelta(0))
    poll_every: timedelta = Field(default=timedelta(seconds=1), gt=timedelta(0))
    batch_size: int = Field(default=50, ge=1, le=500)


class WebhookDispatchResult(Model):
    delivered: int = Field(description="POSTs answered 2xx")
    retried: int = Field(description="failed attempts that will be tried again later")
    failed: int = Field(description="deliveries given up (410 Gone, 24h or too many attempts)")


WEBHOOK_FIRST_RETRY = timedelta(seconds=30)


WEBHOOK_MAX_RETRY_INTERVAL = timedelta(hours=1)


# A back office down for a day has lost the thread: it reconciles from the API instead.
WEBHOOK_GIVE_UP_AFTER = timedelta(hours=24)


# About what the intervals allow in 24h (7 attempts reach the hourly cap after ~1h).
WEBHOOK_MAX_ATTEMPTS = 30


# The receiver says the endpoint is gone for good: retrying only adds load.
WEBHOOK_GONE = 410


def webhook_retry_delay(attempts: int) -> timedelta:
    """The wait after `attempts` failed attempts (1, 2, 3 …): 30s, 1m, 2m, 4m … at most 1h."""
    doublings = min(max(attempts, 1) - 1, 16)  # 30s · 2^7 already passes the cap
    return min(WEBHOOK_FIRST_RETRY * (1 << doublings), WEBHOOK_MAX_RETRY_INTERVAL)


def webhook_retry_at(
    attempts: int, queued_at: datetime, now: datetime, status_code: int | None = None
) -> datetime | None:
    """When to try a delivery again after its `attempts`-th attempt failed at `now`; None
    gives up (the delivery is marked failed).

    Gives up on 410 Gone, after WEBHOOK_MAX_ATTEMPTS attempts, or once WEBHOOK_GIVE_UP_AFTER
    has passed since the event was queued (`queued_at`: recorded, or requeued by an
    operator). Any other failure, 4xx included, is retried: a receiver's bad deploy answers
    400 or 404 as readily as 500.
    """
    if status_code == WEBHOOK_GONE or attempts >= WEBHOOK_MAX_ATTEMPTS:
        return None
    if now - queued_at >= WEBHOOK_GIVE_UP_AFTER:
        return None
    return now + webhook_retry_delay(attempts)


SIGNATURE_HEADER = "Promptly-Signature"
EVENT_ID_HEADER = "Promptly-Event-Id"
SIGNATURE_TOLERANCE = timedelta(minutes=5)


def event_id(case_id: str, seq: int) -> str:
    return f"{case_id}/{seq}"


def _moment(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _change(entry: TimelineEntry) -> WebhookChange | None:
    """What the entry reports, or None when it is not an event."""
    if entry.kind is TimelineKind.STATUS and "status" in entry.data:
        if "previous_start" in entry.data:
            return WebhookChange.RESCHEDULED
        return WebhookChange.STATUS
    change = entry.data.get("change")
    if entry.kind is TimelineKind.ACTION and change in _DELAYS:
        return WebhookChange(change)
    return None


def webhook_events(snapshot: CaseSnapshot) -> list[tuple[int, WebhookEvent]]:
    """The events among the snapshot's new timeline entries (status changes and delays),
    with their positions.

    Only named facts are taken from an entry's data (statuses, times, minutes): the other
    keys (reasons, notes) are free text. The status and the start at each entry are read
    back from the snapshot's current ones, undoing the later entries' changes.
    """
    status = snapshot.status
    start = snapshot.starts_at if snapshot.kind is CaseKind.APPOINTMENT else None
    after: list[tuple[str, datetime | None]] = []  # the status and start after each entry
    for entry in reversed(snapshot.entries):
        after.append((status, start))
        if entry.kind is TimelineKind.STATUS and "status" in entry.data:
            status = str(entry.data.get("previous") or status)
            start = _moment(entry.data.get("previous_start")) or start
    after.reverse()
    events = []
    for offset, (entry, (status_after, start_after)) in enumerate(
        zip(snapshot.entries, after, strict=True)
    ):
        change = _change(entry)
        if change is None:
            continue
        seq = snapshot.first_seq + offset
        data = entry.data
        status = status_after
        previous: str | None = status_after  # a delay: the status stays as it was
        if change not in _DELAYS:
            status = str(data["status"])
            previous = None if data.get("previous") is None else str(data["previous"])
        events.append(
            (
                seq,
                WebhookEvent(
                    id=event_id(snapshot.case_id, seq),
                    type=event_type(snapshot.kind, change),
                    change=change,
                    case_id=snapshot.case_id,
                    business_id=snapshot.business_id,
                    kind=snapshot.kind,
                    status=status,
                    previous=previous,
                    at=entry.at,
                    actor=entry.actor,
                    start=_moment(data.get("start")) or start_after,
                    previous_start=_moment(data.get("previous_start")),
                    minutes=int(data["minutes"]) if change in _DELAYS else None,
                    expected_start=_moment(data.get("new_estimate")),
                    no_show_at=_moment(data.get("no_show_at")),
                ),
            )
        )
    return events


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: datetime, previous: str | None = None) -> str:
    """The `Promptly-Signature` header value for `body` sent at `now`; with `previous` (a
    rotation), a second `v1` under it, after the first."""
    timestamp = int(now.timestamp())
    header = f"t={timestamp},v1={_digest(secret, timestamp, body)}"
    if previous is not None and previous != secret:
        header += f",v1={_digest(previous, timestamp, body)}"
    return header


def url_secret(master_secret: str, url: str) -> str:
    """The signing secret of the receiver at `url` (64 hex digits): HKDF of the master secret
    for `webhook:<url>`. A receiver holding it can derive no other receiver's, nor the master
    secret. `url` as the settings spell it (`str(AnyHttpUrl(...))`)."""
    return keys.derive_key(master_secret, keys.WEBHOOKS + url).hex()


@dataclass(frozen=True)
class WebhookSigning:
    """Which secrets sign the deliveries to each URL.

    `shared` (PROMPTLY_WEBHOOK_SECRET) signs every URL's, as before per-URL secrets; without
    it each URL's own secret does, derived from `master` (PROMPTLY_LINK_SECRET). Until
    `previous_until`, a rotation's `previous` master secret signs as well (a second `v1`), so
    receivers have the grace period to take their new secret.
    """

    shared: str | None = None
    master: str | None = None
    previous: str | None = None
    previous_until: datetime | None = None

    def __post_init__(self) -> None:
        if not self.shared and not self.master:
            raise ValueError("webhooks need a shared webhook secret or the master secret")

    def secrets(self, url: str, now: datetime) -> tuple[str, str | None]:
        """The secret signing deliveries to `url` at `now`, and the previous one still
        signing during a rotation (else None)."""
        if self.shared or not self.master:  # one of them is set (__post_init__)
            return self.shared or "", None
        previous = None
        if self.previous and self.previous_until is not None and now < self.previous_until:
            previous = url_secret(self.previous, url)
        return url_secret(self.master, url), previous


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
