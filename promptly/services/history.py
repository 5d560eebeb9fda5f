"""Compliance exports: the readable history of a case, and every case and message of a client.

A case's history is its timeline (every message, decision, staff action and status change,
with time and actor) joined with the `messages` ledger (the text actually sent), the staff
tasks of the case and the client's replies to it. PostgreSQL is the system of record, so an
archived case exports from there alone; a running case adds what its `status` query knows and
PostgreSQL does not have yet (the newest entries, the current status). Once a case is closed
and fully recorded, both give the same export.

Three layers: `load_case` / `load_client` (I/O, here), the models (what an export contains,
promptly/services/history_models.py), and the join and renderings (pure; times in the office
timezone, promptly/services/history_entries.py and history_render.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from promptly.domain.common import CaseKind, TimelineEntry
from promptly.services.billing_record import case_billing, client_billing
from promptly.services.history_entries import join_entries, localized_message, localized_reply
from promptly.services.history_models import (
    CaseExport,
    ClientCase,
    ClientExport,
    ClientReply,
    ExportedMessage,
    ExportedTask,
    when_text,
)
from promptly.services.promise_ledger import case_promises

QUERY_TIMEOUT = timedelta(seconds=10)


class CaseNotFound(LookupError):
    pass


class CaseAmbiguous(LookupError):
    """A business id that names more than one case: an inquiry promoted to a complaint keeps
    its reference, so `Q-1` is both `inquiry-Q-1` and `complaint-Q-1`."""


# --- loading -------------------------------------------------------------------------------


async def load_case(
    conn: AsyncConnection[Any], case: str, timezone: str, client: Client | None = None
) -> CaseExport:
    """The history of `case` (a workflow id such as `appointment-A-1001`, or a business id).

    With a Temporal client, a running case's `status` query adds its current status and the
    entries PostgreSQL does not have yet; without one (or once the case is closed or gone
    from Temporal), PostgreSQL alone.
    """
    case_id, row = await _find_case(conn, case)
    live = await _live(client, case_id) if client is not None else None
    if row is None and live is None:
        raise CaseNotFound(f"no case {case!r} in PostgreSQL or Temporal")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT seq, at, kind, actor_kind, actor_id, actor_via, detail, data"
            " FROM timeline_events WHERE case_id = %s ORDER BY seq",
            (case_id,),
        )
        stored = {
            r["seq"]: TimelineEntry.model_validate(
                {
                    "at": r["at"],
                    "kind": r["kind"],
                    "actor": {"kind": r["actor_kind"], "id": r["actor_id"], "via": r["actor_via"]},
                    "detail": r["detail"],
                    "data": r["data"],
                }
            )
            for r in await cur.fetchall()
        }
        await cur.execute(
            "SELECT * FROM messages WHERE case_id = %s ORDER BY requested_at, id", (case_id,)
        )
        messages = [_message(r) for r in await cur.fetchall()]
        await cur.execute("SELECT * FROM staff_tasks WHERE case_id = %s ORDER BY id", (case_id,))
        tasks = {r["id"]: _task(r) for r in await cur.fetchall()}
        await cur.execute(f"{_REPLIES} WHERE case_id = %s ORDER BY received_at", (case_id,))
        replies = [ClientReply.model_validate(r) for r in await cur.fetchall()]

    timeline = dict(stored)
    status = row["status"] if row else ""
    if live is not None:
        status, offset, entries = live
        for position, entry in enumerate(entries, start=offset):
            timeline.setdefault(position, entry)
    if row is None:  # just started, nothing recorded yet: what Temporal knows
        row = dict.fromkeys(("kind", "business_id", "client_id"), "")
        row |= {"provider_id": None, "starts_at": None, "details": {}}

    zone = ZoneInfo(timezone)
    entries_out = join_entries(timeline, messages, tasks, replies, zone)
    starts_at = row["starts_at"]
    return CaseExport(
        case_id=case_id,
        kind=row["kind"],
        business_id=row["business_id"],
        status=status,
        client_id=row["client_id"],
        provider_id=row["provider_id"],
        starts_at=starts_at.astimezone(zone) if starts_at else None,
        details=row["details"],
        timezone=timezone,
        entries=entries_out,
        promises=await case_promises(conn, case_id, zone),
        billing=await case_billing(conn, case_id, zone),
    )


async def load_client(conn: AsyncConnection[Any], client_id: str, timezone: str) -> ClientExport:
    """Every case of a client (appointments, complaints, inquiries, surveys) and every message
    of each, and what outlives the cases: the billing record, replies, SMS consent. Once the
    retention purge removed every case, the export lists what is still held. CaseNotFound
    when nothing of the client is held (unknown, mistyped, or purged and forgotten)."""
    zone = ZoneInfo(timezone)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM cases WHERE client_id = %s ORDER BY created_at, case_id", (client_id,)
        )
        rows = await cur.fetchall()
        await cur.execute(
            "SELECT m.* FROM messages m JOIN cases c USING (case_id)"
            " WHERE c.client_id = %s ORDER BY m.requested_at, m.id",
            (client_id,),
        )
        messages = await cur.fetchall()
        await cur.execute(
            """SELECT c.phone, n.opted_out, n.opted_out_at, n.opted_in_at, n.undeliverable
                 FROM clients c LEFT JOIN sms_numbers n USING (phone) WHERE c.client_id = %s""",
            (client_id,),
        )
        consent = await cur.fetchone()
        await cur.execute(f"{_REPLIES} WHERE client_id = %s ORDER BY received_at", (client_id,))
        replies = [ClientReply.model_validate(r) for r in await cur.fetchall()]
    billing = await client_billing(conn, client_id, zone)
    sms_consent = _sms_consent(consent, zone)
    if not rows and not billing and not replies and sms_consent is None:
        raise CaseNotFound(f"nothing held of client {client_id!r}: no case, no billing record")
    by_case: dict[str, list[ExportedMessage]] = {}
    for m in messages:
        by_case.setdefault(m["case_id"], []).append(localized_message(_message(m), zone))
    return ClientExport(
        client_id=client_id,
        timezone=timezone,
        cases=[
            ClientCase(
                case_id=r["case_id"],
                kind=r["kind"],
                business_id=r["business_id"],
                status=r["status"],
                created_at=r["created_at"].astimezone(zone),
                starts_at=r["starts_at"].astimezone(zone) if r["starts_at"] else None,
                messages=by_case.get(r["case_id"], []),
            )
            for r in rows
        ],
        sms_consent=sms_consent,
        replies=[localized_reply(r, zone) for r in replies],
        billing=billing,
    )


def _sms_consent(row: dict[str, Any] | None, zone: ZoneInfo) -> str | None:
    if row is None or not row["phone"]:
        return None
    if row["opted_out"]:
        return f"{row['phone']} opted out of SMS {when_text(row['opted_out_at'].astimezone(zone))}"
    if row["undeliverable"]:
        return f"{row['phone']} cannot take SMS: {row['undeliverable']}"
    if row["opted_in_at"]:
        return f"{row['phone']} opted back in {when_text(row['opted_in_at'].astimezone(zone))}"
    return f"{row['phone']} takes SMS"


async def _find_case(conn: AsyncConnection[Any], case: str) -> tuple[str, dict[str, Any] | None]:
    """The case a workflow id names, else the one case a business id names."""
    kinds = (CaseKind.APPOINTMENT, CaseKind.COMPLAINT, CaseKind.INQUIRY)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM cases WHERE case_id = %s", (case,))
        found = await cur.fetchone()
        if found is not None:
            return case, found
        await cur.execute(
            "SELECT * FROM cases WHERE case_id = ANY(%s) ORDER BY created_at",
            ([f"{kind.value}-{case}" for kind in kinds],),
        )
        rows = await cur.fetchall()
    if len(rows) > 1:
        named = " and ".join(row["case_id"] for row in rows)
        raise CaseAmbiguous(f"{case!r} names {named}: ask for one by its workflow id")
    return (rows[0]["case_id"], rows[0]) if rows else (case, None)


async def _live(client: Client, case_id: str) -> tuple[str, int, list[TimelineEntry]] | None:
    """(status, seq of the first entry, entries) from a running case's `status` query."""
    from promptly.workflows.appointment import AppointmentWorkflow
    from promptly.workflows.complaint import ComplaintWorkflow
    from promptly.workflows.inquiry import InquiryWorkflow
    from promptly.workflows.survey import SurveyWorkflow

    handle = client.get_workflow_handle(case_id)
    try:
        described = await handle.describe()
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return None
        if described.workflow_type == "AppointmentWorkflow":
            view = await handle.query(AppointmentWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            return view.status.value, 0, view.timeline
        if described.workflow_type == "ComplaintWorkflow":
            complaint = await handle.query(ComplaintWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            return complaint.status.value, complaint.timeline_omitted, complaint.timeline
        if described.workflow_type == "InquiryWorkflow":
            inquiry = await handle.query(InquiryWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            return inquiry.status.value, 0, inquiry.timeline
        if described.workflow_type == "SurveyWorkflow":
            survey = await handle.query(SurveyWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            return survey.status.value, 0, survey.timeline
    except (RPCError, WorkflowQueryFailedError):
        return None  # not in Temporal (any more), or no worker answers: PostgreSQL alone
    return None


# The models' fields are the ledger's, the task table's and the replies' columns, but for the
# row id and the provider's id of a message (`provider_id` of a case is its practitioner's).
_RENAMED = {"message_id": "id", "provider_message_id": "provider_id"}
_MESSAGE_COLUMNS = {name: _RENAMED.get(name, name) for name in ExportedMessage.model_fields}
_TASK_COLUMNS = [name for name in ExportedTask.model_fields if name != "task_id"]
_REPLIES = f"SELECT {', '.join(ClientReply.model_fields)} FROM inbound_messages"


def _message(row: dict[str, Any]) -> ExportedMessage:
    return ExportedMessage(**{field: row[column] for field, column in _MESSAGE_COLUMNS.items()})


def _task(row: dict[str, Any]) -> ExportedTask:
    return ExportedTask(task_id=row["id"], **{k: row[k] for k in _TASK_COLUMNS})
