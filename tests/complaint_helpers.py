"""Builders shared by the complaint tests: requests, matrices, moving the test server's clock."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import ComplaintRequest
from promptly.domain.inquiries.models import InquiryRequest
from tests.helpers import messages

CUSTOMER = Actor(kind=ActorKind.CLIENT, id="C-17")
AGENT = Actor(kind=ActorKind.STAFF, id="agent-7")
SUPERVISOR = Actor(kind=ActorKind.STAFF, id="supervisor-1")


def complaint_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "complaint_id": f"K-{uuid.uuid4().hex[:10]}",
        "customer": {
            "id": "C-17",
            "name": "Anna Nowak",
            "email": "anna@example.com",
            "phone": "+48600100200",
            "preferred_channel": "email",
            "locale": "pl",
            "timezone": "Europe/Warsaw",
        },
        "received_via": "portal",
        "category": "service",
        "severity": "normal",
        "description": "The receptionist was rude and my visit started 40 minutes late.",
        "appointment_id": "A-1001",
    }
    payload.update(changes)
    return payload


def complaint(**changes: Any) -> ComplaintRequest:
    return ComplaintRequest.model_validate(complaint_payload(**changes))


def inquiry(**changes: Any) -> InquiryRequest:
    payload: dict[str, Any] = {
        "inquiry_id": f"Q-{uuid.uuid4().hex[:10]}",
        "customer": complaint_payload()["customer"],
        "received_via": "email",
        "subject": "Saturday opening hours",
        "question": "Are you open on Saturdays? I can only come at the weekend.",
    }
    payload.update(changes)
    return InquiryRequest.model_validate(payload)


def contact(name: str) -> dict[str, str]:
    return {"name": name.title(), "email": f"{name}@promptly.example"}


def matrix(
    *,
    tiers: dict[str, Any] | None = None,
    departments: dict[str, Any] | None = None,
    routes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A small matrix: customer care for everything unless the test routes otherwise."""
    return {
        "departments": departments
        or {
            "care": {"name": "Customer care", "owner": contact("care"), "manager": contact("boss")}
        },
        "tiers": tiers or {},
        "routes": routes or [{"category": "*", "severity": "*", "department": "care"}],
    }


def write_matrix(directory: Path, content: dict[str, Any] | str) -> Path:
    path = directory / f"matrix-{uuid.uuid4().hex[:6]}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


async def advance_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Let the time-skipping server run until `moment`."""
    delay = moment - await env.get_current_time()
    if delay > timedelta(0):
        await env.sleep(delay)


async def sent(pool: AsyncConnectionPool, case_id: str) -> list[tuple[str, str, datetime]]:
    """(template, recipient role, requested_at) of every message of the case, in order."""
    return [
        (row["template"], row["recipient_role"], row["requested_at"])
        for row in await messages(pool, case_id)
    ]


def offsets(
    rows: list[tuple[str, str, datetime]], start: datetime
) -> list[tuple[str, str, timedelta]]:
    """The same rows with times as offsets from `start`, rounded to the minute: a busy
    machine delays an activity by a second or two, never by half a minute."""
    return [
        (template, role, timedelta(minutes=round((at - start).total_seconds() / 60)))
        for template, role, at in rows
    ]
