"""What a provider's calendar-feed poll costs, against a floor measured in the same run.

Run as `python -m bench.calendar_feed -n 200` from the repository root. Starts an embedded
PostgreSQL (temporary), records N upcoming appointments for one provider among 10·N of other
providers (rows as the workflow writes them), then times, R rounds each:

- floor: the bare indexed query for the provider's rows;
- not_modified: what a poll with a matching `If-None-Match` costs (query, filter, ETag);
- full: a poll that gets the calendar (the same plus rendering N events with `icalendar`);
- invitation: building one email invitation (per confirmation, reminder or cancellation).

Prints one JSON line: {events, floor_ms_p50, not_modified_ms_p50, full_ms_p50, ratios,
invitation_ms_p50, feed_bytes}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from promptly import db
from promptly.dev.stack import embedded_postgres
from promptly.domain import invitations
from promptly.domain.calendar_event import CalendarEvent, EventStatus
from promptly.services.calendar_feeds import provider_feed

PROVIDER = "P-bench"
TIMEZONE = "Europe/Warsaw"


def _event(index: int, provider: str, now: datetime) -> CalendarEvent:
    start = now + timedelta(days=1, hours=index)
    return CalendarEvent(
        case_id=f"appointment-{provider}-{index}",
        reference=f"{provider}-{index}",
        service="Physiotherapy consultation",
        location="ul. Prosta 1, Warszawa",
        start=start,
        end=start + timedelta(minutes=50),
        timezone=TIMEZONE,
        provider_name="Jan Kowalski",
        client_first_name="Anna",
        sequence=index % 3,
        status=EventStatus.CONFIRMED if index % 2 else EventStatus.TENTATIVE,
    )


async def _fill(conn: AsyncConnection[Any], n: int, now: datetime) -> None:
    providers = [PROVIDER] + [f"P-other-{k}" for k in range(10)]
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, provider_id,
                                  starts_at, details)
               VALUES (%s, 'appointment', %s, %s, 'C-1', %s, %s, %s)""",
            [
                (
                    event.case_id,
                    event.reference,
                    "Confirmed" if event.status is EventStatus.CONFIRMED else "Booked",
                    provider,
                    event.start,
                    Jsonb({"calendar": event.model_dump(mode="json")}),
                )
                for provider in providers
                for event in (_event(i, provider, now) for i in range(n))
            ],
        )
    await conn.commit()


async def _p50_ms(rounds: int, action: Callable[[], Awaitable[object]]) -> float:
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        await action()
        timings.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(timings), 2)


async def measure(n: int, rounds: int, data: Path) -> dict[str, float | int]:
    now = datetime.now(UTC)
    with embedded_postgres(data / "pg") as database_url:
        db.upgrade(database_url)
        async with await AsyncConnection[Any].connect(database_url) as conn:
            await _fill(conn, n, now)

            async def floor() -> object:
                cursor = await conn.execute(
                    """SELECT status, details -> 'calendar', updated_at FROM cases
                        WHERE kind = 'appointment' AND provider_id = %s AND starts_at > %s""",
                    (PROVIDER, now - timedelta(days=1)),
                )
                return await cursor.fetchall()

            async def not_modified() -> object:
                feed = await provider_feed(
                    conn, PROVIDER, now, timezone=TIMEZONE, uid_domain="bench.example"
                )
                return feed.etag

            async def full() -> object:
                feed = await provider_feed(
                    conn, PROVIDER, now, timezone=TIMEZONE, uid_domain="bench.example"
                )
                return feed.render()

            floor_ms = await _p50_ms(rounds, floor)
            not_modified_ms = await _p50_ms(rounds, not_modified)
            full_ms = await _p50_ms(rounds, full)
            body = await full()

    event = _event(0, PROVIDER, now)
    invite = invitations.Attendee("Anna Nowak", "anna@example.com")

    async def invitation() -> object:
        return invitations.invitation(
            event,
            method=invitations.Method.REQUEST,
            uid_domain="bench.example",
            stamp=now,
            attendee=invite,
        )

    return {
        "events": n,
        "rounds": rounds,
        "floor_ms_p50": floor_ms,
        "not_modified_ms_p50": not_modified_ms,
        "full_ms_p50": full_ms,
        "not_modified_vs_floor": round(not_modified_ms / floor_ms, 2),
        "full_vs_floor": round(full_ms / floor_ms, 2),
        "invitation_ms_p50": await _p50_ms(rounds, invitation),
        "feed_bytes": len(body) if isinstance(body, bytes) else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="upcoming visits of the provider")
    parser.add_argument("-r", "--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptly-bench-") as data:
        print(json.dumps(asyncio.run(measure(args.n, args.rounds, Path(data)))))


if __name__ == "__main__":
    main()
