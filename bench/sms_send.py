"""What the SMS rules cost each send: `send_message` with consent routing and the client
upsert (`SmsRoutingMessaging`) against the plain activity (the floor), same run, same data.

Run as `python -m bench.sms_send -n 300` from the repository root. Starts an embedded,
temporary PostgreSQL; both sides send SMS-channel messages to the outbox (no network), so the
difference is the consent lookup per send and the first write of each client's contacts
(50 clients, several messages each). Prints one JSON line:
{n, floor_per_s, sms_per_s, ratio, floor_p50_ms, sms_p50_ms, overhead_p50_ms}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from temporalio.testing import ActivityEnvironment

from promptly import db
from promptly.activities.channels import DeliveryChannel, OutboxChannel, StaffCallChannel
from promptly.activities.messaging import LinkSettings, MessagingActivities, StaffDirectory
from promptly.activities.sms import SmsRoutingMessaging
from promptly.dev.stack import embedded_postgres
from promptly.domain.common import Channel, Locale, RecipientRole
from promptly.domain.messages import Recipient, SendMessageRequest

CLIENTS = 50  # each client gets several messages, as in a day of bookings


def message(index: int) -> SendMessageRequest:
    case_id = f"appointment-B-{uuid.uuid4().hex[:12]}"
    return SendMessageRequest(
        idempotency_key=f"{case_id}/confirmation/0",
        case_id=case_id,
        template="confirmation",
        channel=Channel.SMS,
        to=Recipient(
            role=RecipientRole.CLIENT,
            name="Anna Nowak",
            email="anna@example.com",
            phone=f"+48600{index % CLIENTS:06d}",
            locale=Locale.PL,
            timezone="Europe/Warsaw",
        ),
        context={
            "client_id": f"C-{index % CLIENTS}",
            "client_name": "Anna Nowak",
            "service": "Physiotherapy consultation",
            "start": "2031-03-12T10:00:00+01:00",
            "timezone": "Europe/Warsaw",
            "location": "ul. Prosta 1, Warszawa",
            "provider_name": "Jan Kowalski",
            "instructions": "",
            "confirmed": False,
        },
        link_actions=["confirm", "cancel", "reschedule"],
    )


async def timed(
    floor: MessagingActivities, sms: MessagingActivities, n: int
) -> tuple[list[float], list[float]]:
    """Alternating sends, so both sides see the same load on a shared machine."""
    env = ActivityEnvironment()
    seconds: tuple[list[float], list[float]] = ([], [])
    for index in range(n):
        for side, acts in enumerate((floor, sms)):
            request = message(index)
            started = time.perf_counter()
            await env.run(acts.send_message, request)
            seconds[side].append(time.perf_counter() - started)
    return seconds


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, embedded_postgres(Path(tmp) / "pg") as url:
        db.upgrade(url)
        async with AsyncConnectionPool(url, min_size=1, max_size=4) as pool:
            channels: dict[Channel, DeliveryChannel] = {
                Channel.EMAIL: OutboxChannel(),
                Channel.SMS: OutboxChannel(),
                Channel.PHONE: StaffCallChannel(),
            }
            args = (
                pool,
                channels,
                StaffDirectory("s@example.com", "f@example.com"),
                LinkSettings("https://promptly.example", "bench-secret", timedelta(days=14)),
            )
            plain, routed = MessagingActivities(*args), SmsRoutingMessaging(*args)
            await timed(plain, routed, 20)  # warm up
            floor, sms = await timed(plain, routed, n)
    floor_p50, sms_p50 = statistics.median(floor), statistics.median(sms)
    print(
        json.dumps(
            {
                "benchmark": "sms_send",
                "n": n,
                "floor_per_s": round(n / sum(floor), 1),
                "sms_per_s": round(n / sum(sms), 1),
                "ratio": round(sum(floor) / sum(sms), 3),
                "floor_p50_ms": round(floor_p50 * 1000, 2),
                "sms_p50_ms": round(sms_p50 * 1000, 2),
                "overhead_p50_ms": round((sms_p50 - floor_p50) * 1000, 2),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300)
    asyncio.run(main(parser.parse_args().n))
