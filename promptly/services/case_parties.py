"""Who a case is about, for the API to check an actor a key names: a key allowed to act as
a client (a booking portal relaying what the client did there) acts for this case's client
only, and one allowed to act as a provider for this visit's provider only. A mapping bug in
the caller's system then fails loudly instead of confirming or cancelling someone else's case.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from promptly.domain.common import Actor, ActorKind
from promptly.services.case_views import ViewedKind, read_case_view


class Parties(NamedTuple):
    client_id: str | None
    provider_id: str | None  # an appointment's; None for other kinds


async def parties(
    client: Client, pool: AsyncConnectionPool, viewed: ViewedKind, workflow_id: str
) -> Parties:
    """From the case's row; from the workflow's view when its first save has not run yet (a
    missing case raises as the query does)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT client_id, provider_id FROM cases WHERE case_id = %s", (workflow_id,)
        )
        row = await cursor.fetchone()
    if row is not None:
        return Parties(*row)
    view: Any = (await read_case_view(client, None, viewed, workflow_id)).view
    return Parties(getattr(view, "client_id", None), getattr(view, "provider_id", None))


def stranger(actor: Actor, noun: str, of_case: Parties) -> list[tuple[str, str]]:
    """The 422's field when `actor` claims to be a client or provider this case is not
    about; [] otherwise."""
    party = {ActorKind.CLIENT: of_case.client_id, ActorKind.PROVIDER: of_case.provider_id}
    own = party.get(actor.kind)
    if own is None or actor.id == own:
        return []
    return [("actor.id", f"{actor.id} is not this {noun}'s {actor.kind.value}")]
