"""The retention purge forgets clients: once a client's last case is purged, their client row,
their replies and their SMS number go with it; an opt-out stays (DESIGN.md §5). The billing
record of a purged case stays, without the free text typed into it.

A database of its own, and one `NOW` for every purge here, so each test's counts are exactly
its own rows: what an earlier test kept, this cutoff keeps again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import ActivityEnvironment

from promptly.activities.archive import ArchiveActivities
from promptly.domain.maintenance import PurgeInput, PurgeResult
from tests.conftest import migrated_database

NOW = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
RETENTION = timedelta(days=200)  # longer than six calendar months: the setting decides
CUTOFF = NOW - RETENTION
LONG_AGO = CUTOFF - timedelta(days=30)
RECENTLY = CUTOFF + timedelta(days=30)


@pytest.fixture(scope="module")
def purge_db(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, "promptly_purge_clients") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(purge_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(purge_db, min_size=1, max_size=2) as opened:
        yield opened


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _phone() -> str:
    return f"+4860{uuid.uuid4().int % 10**7:07d}"


async def _case(
    pool: AsyncConnectionPool, client_id: str, status: str, updated_at: datetime
) -> str:
    case_id = f"appointment-{client_id}-{_tag()}"
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO cases (case_id, kind, business_id, status, client_id, created_at,
                                  updated_at)
               VALUES (%s, 'appointment', %s, %s, %s, %s, %s)""",
            (case_id, case_id, status, client_id, updated_at - timedelta(days=3), updated_at),
        )
    return case_id


async def _client(
    pool: AsyncConnectionPool, client_id: str, phone: str, updated_at: datetime
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO clients (client_id, name, email, phone, updated_at)
               VALUES (%s, 'Ada Nowak', %s, %s, %s)""",
            (client_id, f"{client_id}@example.com", phone, updated_at),
        )


async def _number(
    pool: AsyncConnectionPool,
    phone: str,
    updated_at: datetime,
    opted_out: bool = False,
    undeliverable: str | None = None,
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO sms_numbers (phone, opted_out, opted_out_at, undeliverable, updated_at)
               VALUES (%s, %s, CASE WHEN %s THEN %s END, %s, %s)""",
            (phone, opted_out, opted_out, updated_at, undeliverable, updated_at),
        )


async def _reply(
    pool: AsyncConnectionPool,
    sender: str,
    received_at: datetime,
    case_id: str | None = None,
    client_id: str | None = None,
) -> str:
    provider_id = f"SM{_tag()}"
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO inbound_messages (provider_id, channel, sender, client_id, case_id,
                                             body, intent, received_at)
               VALUES (%s, 'sms', %s, %s, %s, 'Running late, sorry', 'other', %s)""",
            (provider_id, sender, client_id, case_id, received_at),
        )
    return provider_id


async def _billing(pool: AsyncConnectionPool, case_id: str, client_id: str, reason: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO billing_outcomes (idempotency_key, case_id, appointment_id, client_id,
                                              outcome, decided_by_kind, decided_by_id, reason,
                                              decided_at)
               VALUES (%s, %s, %s, %s, 'cancelled_free', 'client', %s, %s, %s)""",
            (f"billing-{case_id}", case_id, case_id, client_id, client_id, reason, LONG_AGO),
        )


async def _remaining(
    pool: AsyncConnectionPool, table: str, key: str, values: list[str]
) -> set[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            f"SELECT {key} FROM {table} WHERE {key} = ANY(%s)",  # noqa: S608
            (values,),
        )
        return {row[0] for row in await cursor.fetchall()}


async def _purge(pool: AsyncConnectionPool) -> PurgeResult:
    acts = ArchiveActivities(None, pool, RETENTION)  # type: ignore[arg-type]
    return await ActivityEnvironment().run(acts.purge_expired, PurgeInput(now=NOW))


async def test_a_client_whose_last_case_is_purged_is_forgotten_with_replies_and_number(
    pool: AsyncConnectionPool,
) -> None:
    client, phone = f"C-{_tag()}", _phone()
    case_id = await _case(pool, client, "Completed", LONG_AGO)
    await _client(pool, client, phone, LONG_AGO)
    await _number(pool, phone, LONG_AGO)
    # A reply goes with its case, even one that came in after the case closed.
    replies = [
        await _reply(pool, phone, LONG_AGO - timedelta(days=1), case_id, client),
        await _reply(pool, phone, RECENTLY, case_id, client),
    ]

    result = await _purge(pool)

    assert (result.cases, result.inbound_messages, result.clients, result.sms_numbers) == (
        1,
        2,
        1,
        1,
    )
    assert await _remaining(pool, "clients", "client_id", [client]) == set()
    assert await _remaining(pool, "inbound_messages", "provider_id", replies) == set()
    assert await _remaining(pool, "sms_numbers", "phone", [phone]) == set()


async def test_an_opted_out_number_stays_after_its_client_is_forgotten(
    pool: AsyncConnectionPool,
) -> None:
    opted_out, unreachable = f"C-{_tag()}", f"C-{_tag()}"
    opted_out_phone, unreachable_phone = _phone(), _phone()
    for client, phone in ((opted_out, opted_out_phone), (unreachable, unreachable_phone)):
        await _case(pool, client, "Cancelled", LONG_AGO)
        await _client(pool, client, phone, LONG_AGO)
    await _number(pool, opted_out_phone, LONG_AGO, opted_out=True)
    # A number Twilio could not reach is no consent: it goes with its client.
    await _number(pool, unreachable_phone, LONG_AGO, undeliverable="receipt error 30005")

    result = await _purge(pool)

    assert (result.cases, result.clients, result.sms_numbers) == (2, 2, 1)
    assert await _remaining(pool, "clients", "client_id", [opted_out, unreachable]) == set()
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT phone, opted_out FROM sms_numbers WHERE phone = ANY(%s)",
            ([opted_out_phone, unreachable_phone],),
        )
        assert await cursor.fetchall() == [(opted_out_phone, True)]


async def test_a_client_with_a_case_still_kept_or_running_stays_with_their_number(
    pool: AsyncConnectionPool,
) -> None:
    kept, running, recent = f"C-{_tag()}", f"C-{_tag()}", f"C-{_tag()}"
    phones = {client: _phone() for client in (kept, running, recent)}
    purged_case = await _case(pool, kept, "Completed", LONG_AGO)
    kept_case = await _case(pool, kept, "Completed", RECENTLY)
    await _case(pool, running, "Completed", LONG_AGO)
    await _case(pool, running, "Booked", LONG_AGO)  # running: never purged, however old
    for client in (kept, running):
        await _client(pool, client, phones[client], LONG_AGO)
        await _number(pool, phones[client], LONG_AGO)
    # No case at all, but written since the cutoff: a case may be about to start.
    await _client(pool, recent, phones[recent], RECENTLY)
    await _number(pool, phones[recent], LONG_AGO)
    gone = await _reply(pool, phones[kept], LONG_AGO, purged_case, kept)
    stays = await _reply(pool, phones[kept], RECENTLY, kept_case, kept)

    result = await _purge(pool)

    assert (result.cases, result.inbound_messages, result.clients, result.sms_numbers) == (
        2,
        1,
        0,
        0,
    )
    everyone = [kept, running, recent]
    assert await _remaining(pool, "clients", "client_id", everyone) == set(everyone)
    numbers = list(phones.values())
    assert await _remaining(pool, "sms_numbers", "phone", numbers) == set(numbers)
    assert await _remaining(pool, "inbound_messages", "provider_id", [gone, stays]) == {stays}


async def test_a_reply_that_matched_no_case_goes_once_received_before_the_cutoff(
    pool: AsyncConnectionPool,
) -> None:
    stranger, known = _phone(), f"C-{_tag()}"
    old = await _reply(pool, stranger, CUTOFF - timedelta(seconds=1))
    old_of_a_client = await _reply(pool, _phone(), LONG_AGO, client_id=known)
    recent = await _reply(pool, stranger, CUTOFF)

    result = await _purge(pool)

    assert result.inbound_messages == 2
    replies = [old, old_of_a_client, recent]
    assert await _remaining(pool, "inbound_messages", "provider_id", replies) == {recent}


async def test_a_number_nobody_holds_goes_once_untouched_since_the_cutoff(
    pool: AsyncConnectionPool,
) -> None:
    old, fresh = _phone(), _phone()
    await _number(pool, old, CUTOFF - timedelta(seconds=1))
    await _number(pool, fresh, CUTOFF)

    result = await _purge(pool)

    assert result.sms_numbers == 1
    assert await _remaining(pool, "sms_numbers", "phone", [old, fresh]) == {fresh}


async def test_a_purged_cases_billing_record_stays_without_the_reason_typed_into_it(
    pool: AsyncConnectionPool,
) -> None:
    """ops.md: billing_outcomes are the accounting record, IDs only. A cancellation's reason is
    what the client said ("in hospital: broken leg"): it goes with the case, the row stays."""
    client, phone = f"C-{_tag()}", _phone()
    purged = await _case(pool, client, "Cancelled", LONG_AGO)
    kept = await _case(pool, client, "Cancelled", RECENTLY)
    await _client(pool, client, phone, LONG_AGO)
    said = "Anna Nowak is in hospital: broken leg after a fall"
    await _billing(pool, purged, client, said)
    await _billing(pool, kept, client, said)

    result = await _purge(pool)

    assert (result.cases, result.billing_reasons) == (1, 1)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """SELECT case_id, client_id, outcome, decided_by_kind, decided_by_id, reason,
                      decided_at FROM billing_outcomes WHERE case_id = ANY(%s)""",
            ([purged, kept],),
        )
        rows = {row[0]: row[1:] for row in await cursor.fetchall()}
    assert rows == {
        purged: (client, "cancelled_free", "client", client, "", LONG_AGO),
        kept: (client, "cancelled_free", "client", client, said, LONG_AGO),  # its case stays
    }
    # A purge run again finds nothing more to blank.
    assert (await _purge(pool)).billing_reasons == 0
