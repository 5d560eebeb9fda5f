"""The search attributes of DESIGN.md §5: registered, kept current, IDs only, and the ops
queries of docs/ops.md answering what they promise, on a real dev server (visibility).

Two workers: one on the real rules (visits days ahead stay Booked), one on rules compressed
× 1e-5 (a 48h SLA breaches in about two seconds; a visit 3s ahead becomes a no-show).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentStatus, ConfirmInput, RescheduleInput
from promptly.domain.complaints.models import CloseComplaintInput, ComplaintStatus
from promptly.domain.ui_views import ui_views
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.setup import SEARCH_ATTRIBUTES, dev_server_flags
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from tests.complaint_helpers import SUPERVISOR, complaint
from tests.conftest import start_dev_server
from tests.helpers import CLIENT, appointment

OPS = Path(__file__).parent.parent / "docs" / "ops.md"
DESIGN_ATTRIBUTES = {
    "AppointmentStatus",
    "ComplaintStatus",
    "InquiryStatus",  # the inquiries of DESIGN.md §1
    "ClientId",
    "ProviderId",
    "Department",
    "AppointmentStart",
    "SlaDeadline",
    "SlaBreached",
    "EscalationLevel",
    "NeedsAttention",  # what the case asks staff to do (docs/ops.md)
}
OFFICE = ZoneInfo("Europe/Warsaw")

# The queries of docs/ops.md, with the dates filled in by the test.
UNCONFIRMED_TOMORROW = (
    "WorkflowType = 'AppointmentWorkflow' AND AppointmentStatus IN ('Booked', 'Unconfirmed') "
    "AND AppointmentStart >= '{tomorrow}' AND AppointmentStart < '{day_after}'"
)
BREACHED_BY_DEPARTMENT = (
    "WorkflowType = 'ComplaintWorkflow' AND SlaBreached = true AND Department = 'billing' "
    "AND ExecutionStatus = 'Running'"
)
NO_SHOWS_THIS_WEEK = (
    "WorkflowType = 'AppointmentWorkflow' AND AppointmentStatus = 'NoShow' "
    "AND AppointmentStart >= '{monday}' AND AppointmentStart < '{next_monday}'"
)
EVERY_CASE_OF_A_CLIENT = "ClientId = '{client}'"


def midnight(day: date) -> str:
    return datetime.combine(day, time(0), OFFICE).isoformat()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server() as environment:
        yield environment


async def listed(client: Client, query: str, expected: set[str]) -> set[str]:
    """The workflow ids the query lists, once they equal `expected` (visibility lags) or 10s."""
    found: set[str] = set()
    for _ in range(40):
        found = {execution.id async for execution in client.list_workflows(query)}
        if found == expected:
            break
        await asyncio.sleep(0.25)
    return found


def test_every_attribute_of_the_design_is_registered() -> None:
    assert set(SEARCH_ATTRIBUTES) == DESIGN_ATTRIBUTES
    flags = dev_server_flags()
    assert {flags[i + 1].split("=")[0] for i in range(0, len(flags), 2)} == DESIGN_ATTRIBUTES


def test_the_ops_guide_shows_these_queries() -> None:
    guide = OPS.read_text()
    for query in (
        UNCONFIRMED_TOMORROW,
        BREACHED_BY_DEPARTMENT,
        NO_SHOWS_THIS_WEEK,
        EVERY_CASE_OF_A_CLIENT,
    ):
        pattern = re.escape(query).replace(r"'\{", "'{").replace(r"\}'", "}'")
        pattern = re.sub(r"\{[a-z_]+\}", "[^']+", pattern)
        assert re.search(pattern, guide), query


async def test_ops_queries_find_the_cases_and_the_attributes_stay_current(
    dev: WorkflowEnvironment, database_url: str, pool: AsyncConnectionPool
) -> None:
    client = dev.client
    real = Settings(database_url=database_url, task_queue=f"vis-{uuid.uuid4().hex[:6]}")
    fast = Settings(
        database_url=database_url,
        task_queue=f"vis-fast-{uuid.uuid4().hex[:6]}",
        time_scale=0.00001,
    )
    now = datetime.now(OFFICE)
    today = now.date()
    tomorrow = today + timedelta(days=1)
    dates = {"tomorrow": midnight(tomorrow), "day_after": midnight(tomorrow + timedelta(days=1))}

    async with create_worker(client, real, pool=pool), create_worker(client, fast, pool=pool):
        # Visits: one tomorrow, one in three days; then the second moves to tomorrow.
        soon = appointment(datetime.combine(tomorrow, time(10), OFFICE))
        later = appointment(datetime.combine(tomorrow + timedelta(days=2), time(10), OFFICE))
        first = await book(client, soon, real, datetime.now(OFFICE))
        second = await book(client, later, real, datetime.now(OFFICE))
        query = UNCONFIRMED_TOMORROW.format(**dates)
        assert await listed(client, query, {first.id}) == {first.id}
        # `promptly views` lists the same visits (a Booked one is not confirmed yet either).
        views = {v.name: v for v in ui_views(datetime.now(UTC), str(OFFICE), "http://ui/", "ns")}
        shown = views["Unconfirmed visits tomorrow"].query
        assert await listed(client, shown, {first.id}) == {first.id}
        moved = datetime.combine(tomorrow, time(12), OFFICE)
        await second.execute_update(
            AppointmentWorkflow.reschedule, RescheduleInput(new_start=moved, actor=CLIENT)
        )
        assert await listed(client, query, {first.id, second.id}) == {first.id, second.id}
        view = await first.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
        assert view.status is AppointmentStatus.CONFIRMED
        assert await listed(client, query, {second.id}) == {second.id}
        attributes = {
            p.key.name: p.value
            for p in (await second.describe()).typed_search_attributes
            if p.key.name in DESIGN_ATTRIBUTES
        }
        assert attributes == {
            "AppointmentStatus": "Booked",
            "AppointmentStart": moved,
            "ClientId": "C-17",
            "ProviderId": "P-3",
        }

        # Complaints on the compressed rules: billing breaches, customer care is closed first.
        client_id = f"C-{uuid.uuid4().hex[:6]}"
        billing = complaint(category="billing", severity="normal")
        billing = billing.model_copy(
            update={"customer": billing.customer.model_copy(update={"id": client_id})}
        )
        breached = await file_complaint(client, billing, fast)
        care = await file_complaint(client, complaint(), fast)
        await care.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Sorted", actor=SUPERVISOR)
        )
        assert await listed(client, BREACHED_BY_DEPARTMENT, {breached.id}) == {breached.id}
        status = await breached.query(ComplaintWorkflow.status)
        assert status.sla_breached and status.status is ComplaintStatus.OPEN
        attributes = {
            p.key.name: p.value for p in (await breached.describe()).typed_search_attributes
        }
        assert attributes["Department"] == "billing" and attributes["SlaBreached"] is True
        assert attributes["EscalationLevel"] >= 2 and attributes["ClientId"] == client_id
        assert attributes["ComplaintStatus"] == "Open" and "SlaDeadline" in attributes
        assert "sla breached" in attributes["NeedsAttention"]  # its flags, as stored
        # IDs, statuses and times only: never a name, an email or a phone number.
        values = " ".join(str(v) for v in attributes.values())
        assert "@" not in values and "Nowak" not in values and "+48" not in values

        # A visit 3s ahead on the compressed rules: nobody checks in, a no-show.
        start = datetime.now(OFFICE) + timedelta(seconds=3)
        no_show = await book(client, appointment(start), fast, datetime.now(OFFICE))
        monday = start.date() - timedelta(days=start.weekday())
        week = {"monday": midnight(monday), "next_monday": midnight(monday + timedelta(days=7))}
        query = NO_SHOWS_THIS_WEEK.format(**week)
        assert await listed(client, query, {no_show.id}) == {no_show.id}

        every = EVERY_CASE_OF_A_CLIENT.format(client=client_id)
        assert await listed(client, every, {breached.id}) == {breached.id}

        for handle in (first, second, breached, no_show):
            await handle.terminate("test over")
