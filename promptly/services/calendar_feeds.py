"""Provider calendar feeds and client `.ics` downloads, from PostgreSQL (shared by API and CLI).

Every appointment's row in `cases` carries its calendar facts (`details.calendar`, written by
the workflow on every change), so a feed is one indexed query: no Temporal call per poll.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from psycopg import AsyncConnection

from promptly.domain import feed_tokens, invitations
from promptly.domain.appointments.models import AppointmentStatus
from promptly.domain.calendar_event import LIVE_STATUSES, CalendarEvent
from promptly.domain.keys import Keyring

# When an appointment's calendar facts last changed: its latest status entry (booking,
# reschedule, confirmation, cancellation are all status changes). The row's `updated_at` moves
# with every timeline line (each message sent), which would make calendars refetch for nothing.
_REVISED = """COALESCE((SELECT max(t.at) FROM timeline_events t
                        WHERE t.case_id = cases.case_id AND t.kind = 'status'), updated_at)"""

# Visits last at most a day (AppointmentRequest.duration_minutes), so one that began longer
# ago than this has ended.
_LONGEST_VISIT = timedelta(days=1)


def feed_url(base_url: str, provider_id: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/calendars/providers/{quote(provider_id)}.ics?token={token}"


async def issue_token(conn: AsyncConnection[Any], provider_id: str, key: bytes) -> str:
    """The provider's current feed token, made active (a revoked provider gets a new one)."""
    cursor = await conn.execute(
        """INSERT INTO calendar_feed_tokens (provider_id) VALUES (%s)
           ON CONFLICT (provider_id) DO UPDATE
              SET active = true,
                  issued_at = CASE WHEN calendar_feed_tokens.active
                                   THEN calendar_feed_tokens.issued_at ELSE now() END
        RETURNING version""",
        (provider_id,),
    )
    row = await cursor.fetchone()
    await conn.commit()
    assert row is not None  # RETURNING always yields the row
    return feed_tokens.feed_token(key, provider_id, int(row[0]))


async def revoke_token(conn: AsyncConnection[Any], provider_id: str) -> bool:
    """Invalidate every feed URL of the provider; False if none was ever issued."""
    cursor = await conn.execute(
        """UPDATE calendar_feed_tokens
              SET version = version + 1, active = false, revoked_at = now()
            WHERE provider_id = %s""",
        (provider_id,),
    )
    await conn.commit()
    return cursor.rowcount > 0


async def token_accepted(
    conn: AsyncConnection[Any], provider_id: str, token: str, keyring: Keyring, now: datetime
) -> bool:
    cursor = await conn.execute(
        "SELECT version FROM calendar_feed_tokens WHERE provider_id = %s AND active",
        (provider_id,),
    )
    row = await cursor.fetchone()
    return row is not None and feed_tokens.token_matches(
        keyring, provider_id, int(row[0]), token, now
    )


# Part of every ETag: a release that renders feeds differently invalidates cached copies.
FEED_FORMAT = "1"


@dataclass(frozen=True)
class ProviderFeed:
    """What a provider's feed holds now; rendering (the costly part) waits until needed."""

    events: list[tuple[CalendarEvent, datetime]]
    name: str
    timezone: str
    uid_domain: str
    etag: str
    last_modified: datetime | None

    def render(self) -> bytes:
        return invitations.feed(
            self.events, name=self.name, timezone=self.timezone, uid_domain=self.uid_domain
        )


async def provider_feed(
    conn: AsyncConnection[Any],
    provider_id: str,
    now: datetime,
    *,
    timezone: str,
    uid_domain: str,
) -> ProviderFeed:
    """The provider's upcoming live appointments (not yet ended, not cancelled), soonest first.

    The ETag hashes exactly what the calendar is rendered from, so a poll that matches it is
    answered without rendering. `last_modified` is the latest calendar change of any of the
    provider's recent appointments, a cancellation included, so an app sees an entry leave.
    """
    cursor = await conn.execute(
        f"""SELECT status, details -> 'calendar', {_REVISED} FROM cases
             WHERE kind = 'appointment' AND provider_id = %s AND starts_at > %s
             ORDER BY starts_at, case_id""",
        (provider_id, now - _LONGEST_VISIT),
    )
    rows = await cursor.fetchall()
    last_modified = max((row[2] for row in rows), default=None)
    events: list[tuple[CalendarEvent, datetime]] = []
    for status, raw, revised_at in rows:
        if raw is None or AppointmentStatus(status) not in LIVE_STATUSES:
            continue  # rows written before calendars existed carry no calendar facts
        event = CalendarEvent.model_validate(raw)
        if event.end > now:
            events.append((event, revised_at))
    name = events[0][0].provider_name if events else provider_id
    digest = hashlib.sha256(f"{FEED_FORMAT}\n{timezone}\n{uid_domain}\n{name}".encode())
    for event, revised_at in events:
        digest.update(f"\n{revised_at.isoformat()}".encode())
        digest.update(event.model_dump_json().encode())
    etag = f'"{digest.hexdigest()[:32]}"'
    return ProviderFeed(events, name, timezone, uid_domain, etag, last_modified)


async def case_event(
    conn: AsyncConnection[Any], case_id: str
) -> tuple[CalendarEvent, datetime] | None:
    """The appointment's calendar facts as last recorded, and when they last changed."""
    cursor = await conn.execute(
        f"""SELECT details -> 'calendar', {_REVISED} FROM cases
             WHERE case_id = %s AND kind = 'appointment'""",
        (case_id,),
    )
    row = await cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return CalendarEvent.model_validate(row[0]), row[1]
