"""Legal holds over HTTP (promptly/services/legal_holds.py): `GET /legal-holds` lists them,
`POST /legal-holds` keeps a case or every case of a client from the retention purge, `POST
/legal-holds/{hold_id}/release` lets the purge have them again. Compliance and admin keys: a
hold changes no case, it only stops a deletion, and it records the key that placed it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Query, Request, Response
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from promptly.api.auth import Caller, require
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.api.keyset import (
    Key,
    KeysetPaging,
    NextPageToken,
    bound_to,
    keyset_page,
    keyset_paging,
)
from promptly.api.row_ids import RowIdPath
from promptly.config import ApiRole
from promptly.domain.text_patterns import BUSINESS_ID, CASE_REFERENCE, WORKFLOW_ID
from promptly.services.errors import ACTION_RESPONSES, AUTH_RESPONSES
from promptly.services.legal_holds import LegalHold, list_holds, place_hold, release_hold

HOLDERS = frozenset({ApiRole.COMPLIANCE})
# The list answered every hold before it paged: a caller that never pages gets the most a
# page holds.
PAGING = keyset_paging(default=500)

log = logging.getLogger("promptly.api.legal_holds")
router = APIRouter(tags=["legal holds"])


class LegalHoldList(BaseModel):
    items: list[LegalHold]
    next_page_token: NextPageToken = None


class HoldRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"case": "A-1001", "reason": "matter 2027/114: complaint to the ombudsman"},
                {"client_id": "C-17", "reason": "matter 2027/114: complaint to the ombudsman"},
            ]
        },
    )

    case: Annotated[
        str | None,
        Field(
            pattern=CASE_REFERENCE.regex,
            description="a case: workflow id (appointment-A-1001) or business id (A-1001)",
        ),
    ] = None
    client_id: Annotated[
        str | None,
        Field(pattern=BUSINESS_ID.regex, description="or a client: every case of theirs"),
    ] = None
    reason: str = Field(min_length=1, max_length=2000, description="why, e.g. a matter number")

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.case is None) == (self.client_id is None):
            raise ValueError("name what to hold: case, or client_id (one of the two)")
        return self


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"note": "matter 2027/114 closed"}]},
    )

    note: str = Field(default="", max_length=2000)


@router.get("/legal-holds", response_model=LegalHoldList, responses=AUTH_RESPONSES)
async def list_legal_holds(
    request: Request,
    caller: Annotated[Caller, require(HOLDERS)],
    status: Literal["active", "all"] = "active",
    case_id: Annotated[
        str | None, Query(pattern=WORKFLOW_ID.regex, description="a case's workflow id")
    ] = None,
    client_id: Annotated[str | None, Query(pattern=BUSINESS_ID.regex)] = None,
    paging: KeysetPaging = PAGING,
) -> LegalHoldList:
    """Legal holds, newest first: the active ones (default) or all, with who placed and
    released each, a page at a time (`page_size`, then `page_token` from `next_page_token`)."""
    pool: AsyncConnectionPool = request.app.state.pool

    async def fetch(before: Key | None, count: int) -> list[LegalHold]:
        async with pool.connection() as conn:
            return await list_holds(
                conn,
                active_only=status == "active",
                case_id=case_id,
                client_id=client_id,
                limit=count,
                before=before,
            )

    items, next_token = await keyset_page(
        request,
        bound_to("legal_holds", status, case_id, client_id),
        paging,
        (datetime.fromisoformat, int),
        fetch,
        lambda hold: (hold.held_at, hold.id),
    )
    return LegalHoldList(items=items, next_page_token=next_token)


@router.post(
    "/legal-holds",
    response_model=LegalHold,
    status_code=201,
    responses={**ACTION_RESPONSES, 200: {"description": "Already held: the active hold"}},
    dependencies=[IDEMPOTENCY_KEY],
)
async def hold(
    request: Request,
    response: Response,
    body: HoldRequest,
    caller: Annotated[Caller, require(HOLDERS)],
) -> LegalHold:
    """Keep a closed case (or every case of a client) from the retention purge until the hold
    is released. 201 with the new hold; 200 with the active one if it is held already."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        placed, new = await place_hold(
            conn,
            case=body.case,
            client_id=body.client_id,
            reason=body.reason,
            held_by=caller.actor.signature(),
        )
    if not new:
        response.status_code = 200
    held = placed.case_id or f"client {placed.client_id}"
    log.info("legal hold %s on %s placed by %s", placed.id, held, caller.name)
    return placed


@router.post(
    "/legal-holds/{hold_id}/release",
    response_model=LegalHold,
    responses=ACTION_RESPONSES,
    dependencies=[IDEMPOTENCY_KEY],
)
async def release(
    request: Request,
    hold_id: RowIdPath,
    body: ReleaseRequest,
    caller: Annotated[Caller, require(HOLDERS)],
) -> LegalHold:
    """Release a hold: the next purge deletes what it kept, if the retention has run. The hold
    stays on record with who released it; releasing a released hold changes nothing."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        released = await release_hold(conn, hold_id, caller.actor.signature(), body.note)
    log.info("legal hold %s released by %s", hold_id, caller.name)
    return released
