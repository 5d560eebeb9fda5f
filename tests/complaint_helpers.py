"""Builders shared by the complaint tests: requests, matrices, moving the test server's clock."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.calendar import first_outside
from promptly.domain.common import Actor, ActorKind
from promptly.domain.complaints.models import ComplaintRequest
from promptly.domain.complaints.quiet_hours import update_by
from promptly.domain.inquiries.models import InquiryRequest
from tests.helpers import messages, next_local

CUSTOMER = Actor(kind=ActorKind.CLIENT, id="C-17")
AGENT = Actor(kind=ActorKind.STAFF, id="agent-7")
SUPERVISOR = Actor(kind=ActorKind.STAFF, id="supervisor-1")
# The customer of `complaint_payload`.
CUSTOMER_TIMEZONE = "Europe/Warsaw"


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
        # No appointment_id: one must name a visit of this customer's on record.
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


# --- the customer's quiet hours (domain/complaints/quiet_hours.py) --------------------------


def update_due(
    settings: Settings,
    last: datetime,
    period: timedelta = timedelta(hours=24),
    timezone: str = CUSTOMER_TIMEZONE,
) -> datetime:
    """When the status update after a customer message at `last` is due: `period` later, or
    before the customer's quiet hours begin (the workflow's rule, the settings' quiet hours)."""
    return update_by(last + period, last, timezone, settings.appointment_policy().quiet_hours)


def awake(settings: Settings, moment: datetime, timezone: str = CUSTOMER_TIMEZONE) -> datetime:
    """When news the complaint decides on a timer at `moment` reaches the customer: then, or
    when their quiet hours end."""
    return first_outside(moment, timezone, settings.appointment_policy().quiet_hours)


def minutes(span: timedelta) -> timedelta:
    """`span` rounded to the minute, as `offsets` reads the rows."""
    return timedelta(minutes=round(span.total_seconds() / 60))


async def to_local_hour(
    env: WorkflowEnvironment, hour: int, timezone: str = CUSTOMER_TIMEZONE
) -> datetime:
    """Move the server's clock to the next `hour`:00 on the customer's clock (no DST change a
    week either side), so a lifecycle meets the same days and nights whatever hour the shared
    time-skipping server reads when it starts. Returns that moment."""
    now = await env.get_current_time()
    tomorrow = (now.astimezone(ZoneInfo(timezone)) + timedelta(days=1)).weekday()
    moment = next_local(now, tomorrow, hour, timezone)
    await advance_to(env, moment)
    return moment
