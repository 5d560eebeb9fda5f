"""Compliance exports: the readable history of a case, and every case and message of a client.

A case's history is its timeline (every message, decision, staff action and status change,
with time and actor) joined with the `messages` ledger (the text actually sent) and the
staff tasks it created. PostgreSQL is the system of record, so an archived case exports from
there alone; a running case adds what its `status` query knows and PostgreSQL does not have
yet (the newest entries, the current status). Once a case is closed and fully recorded, both
give the same export.

Three layers: `load_case` / `load_client` (I/O), the models below (what an export contains),
and `render_markdown`, `render_html`, `render_json` (pure; times in the office timezone).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowQueryFailedError,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from promptly.domain.common import CaseKind, TimelineEntry
from promptly.domain.readable_time import readable, readable_text
from promptly.services.promise_ledger import LedgerRow, case_promises, markdown_lines

QUERY_TIMEOUT = timedelta(seconds=10)


class Format(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


class ExportedMessage(BaseModel):
    """A row of the `messages` ledger: what went to whom, on which channel, and its fate."""

    model_config = ConfigDict(frozen=True)

    message_id: int
    template: str
    channel: str
    recipient_role: str
    recipient: str
    locale: str
    subject: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    requested_at: datetime
    sent_at: datetime | None
    # The provider's delivery receipt (SMS: delivered, undelivered, failed) and its error code.
    delivery_status: str | None = None
    delivery_error_code: str | None = None


class ExportedTask(BaseModel):
    """A staff task the case created (a call to make, a confirmation to send by hand)."""

    model_config = ConfigDict(frozen=True)

    task_id: int
    kind: str
    assignee: str
    title: str
    details: str
    due_at: datetime
    status: str
    outcome: str | None
    note: str | None
    closed_by: str | None


class ExportedEntry(BaseModel):
    """One line of the history. `seq` is the timeline position; None for a ledger message
    no timeline entry refers to (listed at the time it was requested)."""

    seq: int | None
    at: datetime
    kind: str
    actor: str
    detail: str
    channel: str | None = None
    reason: str | None = None
    data: dict[str, Any]
    message: ExportedMessage | None = None
    task: ExportedTask | None = None


class CaseExport(BaseModel):
    case_id: str
    kind: str
    business_id: str
    status: str
    client_id: str
    provider_id: str | None
    starts_at: datetime | None
    details: dict[str, Any]
    timezone: str
    entries: list[ExportedEntry]
    # The promise ledger's rows of the case: the verdicts the workflow reached.
    promises: list[LedgerRow] = []


class ClientCase(BaseModel):
    case_id: str
    kind: str
    business_id: str
    status: str
    created_at: datetime
    starts_at: datetime | None
    messages: list[ExportedMessage]


class ClientReply(BaseModel):
    """A message the client sent us (SMS or email reply) and what Promptly did with it."""

    received_at: datetime
    channel: str
    sender: str
    body: str
    intent: str
    outcome: str | None
    case_id: str | None


class ClientExport(BaseModel):
    client_id: str
    timezone: str
    cases: list[ClientCase]
    sms_consent: str | None = None  # e.g. "+48600100200 opted out 2026-11-30 10:00"
    replies: list[ClientReply] = []


class CaseNotFound(LookupError):
    pass


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
            "SELECT seq, at, kind, actor_kind, actor_id, detail, data FROM timeline_events"
            " WHERE case_id = %s ORDER BY seq",
            (case_id,),
        )
        stored = {
            r["seq"]: TimelineEntry.model_validate(
                {
                    "at": r["at"],
                    "kind": r["kind"],
                    "actor": {"kind": r["actor_kind"], "id": r["actor_id"]},
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
    entries_out = _join(timeline, messages, tasks, zone)
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
    )


async def load_client(conn: AsyncConnection[Any], client_id: str, timezone: str) -> ClientExport:
    """Every case of a client (appointments, complaints, surveys) and every message of each."""
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
        await cur.execute(
            "SELECT received_at, channel, sender, body, intent, outcome, case_id"
            " FROM inbound_messages WHERE client_id = %s ORDER BY received_at",
            (client_id,),
        )
        replies = [ClientReply.model_validate(r) for r in await cur.fetchall()]
    by_case: dict[str, list[ExportedMessage]] = {}
    for m in messages:
        by_case.setdefault(m["case_id"], []).append(_localized(_message(m), zone))
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
        sms_consent=_sms_consent(consent, zone),
        replies=[
            r.model_copy(update={"received_at": r.received_at.astimezone(zone)}) for r in replies
        ],
    )


def _sms_consent(row: dict[str, Any] | None, zone: ZoneInfo) -> str | None:
    if row is None or not row["phone"]:
        return None
    if row["opted_out"]:
        return f"{row['phone']} opted out of SMS {_when(row['opted_out_at'].astimezone(zone))}"
    if row["undeliverable"]:
        return f"{row['phone']} cannot take SMS: {row['undeliverable']}"
    if row["opted_in_at"]:
        return f"{row['phone']} opted back in {_when(row['opted_in_at'].astimezone(zone))}"
    return f"{row['phone']} takes SMS"


async def _find_case(conn: AsyncConnection[Any], case: str) -> tuple[str, dict[str, Any] | None]:
    candidates = [
        case,
        f"{CaseKind.APPOINTMENT.value}-{case}",
        f"{CaseKind.COMPLAINT.value}-{case}",
        f"{CaseKind.INQUIRY.value}-{case}",
    ]
    async with conn.cursor(row_factory=dict_row) as cur:
        for candidate in candidates:
            await cur.execute("SELECT * FROM cases WHERE case_id = %s", (candidate,))
            found = await cur.fetchone()
            if found is not None:
                return candidate, found
    return case, None


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


# The models' fields are the ledger's and the task table's columns, but for the row id.
_MESSAGE_COLUMNS = [name for name in ExportedMessage.model_fields if name != "message_id"]
_TASK_COLUMNS = [name for name in ExportedTask.model_fields if name != "task_id"]


def _message(row: dict[str, Any]) -> ExportedMessage:
    return ExportedMessage(message_id=row["id"], **{k: row[k] for k in _MESSAGE_COLUMNS})


def _task(row: dict[str, Any]) -> ExportedTask:
    return ExportedTask(task_id=row["id"], **{k: row[k] for k in _TASK_COLUMNS})


def _localized(message: ExportedMessage, zone: ZoneInfo) -> ExportedMessage:
    return message.model_copy(
        update={
            "requested_at": message.requested_at.astimezone(zone),
            "sent_at": message.sent_at.astimezone(zone) if message.sent_at else None,
        }
    )


def _join(
    timeline: dict[int, TimelineEntry],
    messages: list[ExportedMessage],
    tasks: dict[int, ExportedTask],
    zone: ZoneInfo,
) -> list[ExportedEntry]:
    """Timeline entries with their ledger message and staff task.

    A message entry names its ledger row (`data.message_id`); the few that do not (staff
    alerts) take the oldest unclaimed row of their template. Ledger rows no entry claims
    are listed on their own, so nothing sent is left out.
    """
    by_id = {m.message_id: m for m in messages}
    claimed = {
        e.data["message_id"] for e in timeline.values() if isinstance(e.data.get("message_id"), int)
    }
    unclaimed = [m for m in messages if m.message_id not in claimed]
    out: list[ExportedEntry] = []
    for seq in sorted(timeline):
        entry = timeline[seq]
        message = None
        message_id = entry.data.get("message_id")
        if isinstance(message_id, int):
            message = by_id.get(message_id)
        elif entry.kind.value in ("message", "message_failed") and "template" in entry.data:
            message = next((m for m in unclaimed if m.template == entry.data["template"]), None)
            if message is not None:
                unclaimed.remove(message)
        task_id = entry.data.get("task_id")
        task = tasks.get(task_id) if isinstance(task_id, int) else None
        out.append(
            ExportedEntry(
                seq=seq,
                at=entry.at.astimezone(zone),
                kind=entry.kind.value,
                actor=f"{entry.actor.kind.value} {entry.actor.id}",
                detail=entry.detail,
                channel=entry.data.get("channel") or (message.channel if message else None),
                reason=_reason(entry.data),
                data=entry.data,
                message=_localized(message, zone) if message else None,
                task=_localized_task(task, zone) if task else None,
            )
        )
    for message in unclaimed:
        out.append(
            ExportedEntry(
                seq=None,
                at=message.requested_at.astimezone(zone),
                kind="message",
                actor="system promptly",
                detail=f"{message.subject} ({message.recipient_role}, {message.channel})",
                channel=message.channel,
                data={"template": message.template},
                message=_localized(message, zone),
            )
        )
    out.sort(key=lambda e: (e.at, e.seq if e.seq is not None else -1))
    return out


def _localized_task(task: ExportedTask, zone: ZoneInfo) -> ExportedTask:
    return task.model_copy(update={"due_at": task.due_at.astimezone(zone)})


def _reason(data: dict[str, Any]) -> str | None:
    for key in ("reason", "note", "comment"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


# --- replaying the archive -------------------------------------------------------------------


class ReplayOutcome(BaseModel):
    case_id: str
    run_id: str
    workflow_type: str
    failure: str | None


async def replay_archived(
    conn: AsyncConnection[Any], converter: DataConverter, since: datetime | None = None
) -> list[ReplayOutcome]:
    """Replay archived histories (closed at or after `since`) against the current workflow
    code: a change that running cases would replay differently shows up as a failure."""
    from temporalio.worker import Replayer

    from promptly.worker import WORKFLOWS, workflow_runner

    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=converter, workflow_runner=workflow_runner()
    )
    outcomes = []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT case_id, run_id, workflow_type, history::text AS history FROM history_archive"
            " WHERE closed_at >= %s ORDER BY closed_at, case_id",
            (since or datetime.min.replace(tzinfo=UTC),),
        )
        async for row in cur:
            history = WorkflowHistory.from_json(row["case_id"], row["history"])
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            failure = result.replay_failure
            outcomes.append(
                ReplayOutcome(
                    case_id=row["case_id"],
                    run_id=row["run_id"],
                    workflow_type=row["workflow_type"],
                    failure=f"{type(failure).__name__}: {failure}" if failure else None,
                )
            )
    return outcomes


# --- rendering -----------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    """To the minute, zone named (the export's moments are in its timezone already)."""
    return readable(moment, str(moment.tzinfo)) if moment else "-"


def render_json(export: CaseExport | ClientExport) -> str:
    return export.model_dump_json(indent=2) + "\n"


def _facts(export: CaseExport) -> list[tuple[str, str]]:
    facts = [
        ("case", export.case_id),
        ("kind", export.kind),
        ("reference", export.business_id),
        ("status", export.status),
        ("client", export.client_id),
    ]
    if export.provider_id:
        facts.append(("provider", export.provider_id))
    if export.starts_at:
        facts.append(("visit", _when(export.starts_at)))
    facts.append(("times in", export.timezone))
    return facts


def _outcome(entry: ExportedEntry) -> str:
    """The decision an entry records, in a few words (status change, billing, call result)."""
    data = entry.data
    parts = []
    if "status" in data and "previous" in data:
        parts.append(f"{data['previous']} → {data['status']}")
    elif "status" in data:
        parts.append(f"status {data['status']}")
    for key in ("billing", "outcome", "level"):
        if key in data:
            parts.append(f"{key} {data[key]}")
    return ", ".join(parts)


def render_markdown(export: CaseExport) -> str:
    lines = [f"# History of {_md(export.case_id)}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {_md_cell(value)} |" for name, value in _facts(export)]
    promises = markdown_lines(export.promises, _md_cell)
    if promises:
        lines += ["", *promises[:-1]]
    lines += ["", f"## Timeline ({len(export.entries)} entries)", ""]
    for number, entry in enumerate(export.entries, start=1):
        head = f"### {number}. {_when(entry.at)} · {entry.kind} · {_md(entry.actor)}"
        if entry.channel:
            head += f" · {entry.channel}"
        lines += [head, "", _md(readable_text(entry.detail, export.timezone)), ""]
        outcome = _outcome(entry)
        if outcome:
            lines.append(f"- decision: {_md(outcome)}")
        if entry.reason:
            lines.append(f"- reason: {_md(entry.reason)}")
        if entry.task:
            task = entry.task
            lines.append(
                f"- task {task.task_id} for {task.assignee}, due {_when(task.due_at)}: "
                f"{_md(task.title)} — {task.status}"
                + (f", outcome {_md(task.outcome)}" if task.outcome else "")
                + (f" ({_md(task.note)})" if task.note else "")
                + (f", closed by {_md(task.closed_by)}" if task.closed_by else "")
            )
        if entry.message:
            message = entry.message
            lines.append(
                f"- message {message.message_id} to {message.recipient_role} "
                f"{_md(message.recipient)} via {message.channel} ({message.locale}): "
                f"{message.status}, requested {_when(message.requested_at)}"
                + (f", sent {_when(message.sent_at)}" if message.sent_at else "")
                + (f", last error: {_md(message.last_error)}" if message.last_error else "")
                + (f", receipt: {message.delivery_status}" if message.delivery_status else "")
                + (f" ({message.delivery_error_code})" if message.delivery_error_code else "")
            )
            lines += ["", f"  > **{_md(message.subject)}**", "  >"]
            lines += [f"  > {_md(line)}".rstrip() for line in message.body.splitlines()]
        if lines[-1] != "":
            lines.append("")
    return "\n".join(lines)


# Characters that make Markdown structure, links, images or raw HTML. Client-typed text
# (names, reasons, notes, comments) is escaped so it reads as text in any Markdown viewer.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|!~&(){}])")


def _md(text: str) -> str:
    """Plain text for a Markdown line: specials escaped, line breaks folded."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


def _md_cell(value: str) -> str:
    return _md(value)


def render_client_markdown(export: ClientExport) -> str:
    lines = [
        f"# Cases and messages of client {export.client_id}",
        "",
        f"Times in {export.timezone}. {len(export.cases)} case(s).",
        "",
    ]
    if export.sms_consent:
        lines += [f"SMS: {export.sms_consent}.", ""]
    if export.replies:
        lines += ["Replies from the client:", ""]
        lines += [
            f'- {_when(r.received_at)} {r.channel} from {r.sender}: "{r.body.strip()[:200]}"'
            f" → {r.intent}, {r.outcome or 'pending'}" + (f" ({r.case_id})" if r.case_id else "")
            for r in export.replies
        ]
        lines.append("")
    for case in export.cases:
        lines.append(f"## {case.case_id} · {case.kind} {case.business_id} · {case.status}")
        lines.append("")
        lines.append(
            f"opened {_when(case.created_at)}"
            + (f", visit {_when(case.starts_at)}" if case.starts_at else "")
        )
        lines.append("")
        if case.messages:
            lines += [
                "| requested | template | channel | to | subject | status |",
                "|---" * 6 + "|",
            ]
            for m in case.messages:
                cells = [
                    _when(m.requested_at),
                    m.template,
                    m.channel,
                    f"{m.recipient_role} {m.recipient}",
                    m.subject,
                    m.status,
                ]
                lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
            lines.append("")
    return "\n".join(lines)


_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>History of {{ export.case_id }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}
th{background:#f3f3f3} .facts{width:auto} pre{white-space:pre-wrap;margin:.3rem 0 0}
.kind-decision{background:#fff8e1} .kind-status{background:#e8f5e9}
.kind-message_failed{background:#ffebee} .verdict-broken{background:#ffebee}
</style></head><body>
<h1>History of {{ export.case_id }}</h1>
<table class="facts">
{% for name, value in facts %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
{% if export.promises %}
<h2>Promises ({{ export.promises|length }})</h2>
<table>
<tr><th>promise</th><th>verdict</th><th>due</th><th>met</th><th>cause</th><th>actor</th></tr>
{% for p in export.promises %}
<tr class="verdict-{{ p.verdict }}"><td>{{ p.promise|replace("_", " ") }}</td>
<td>{{ p.verdict }}</td><td>{{ when(p.due_at) }}</td><td>{{ when(p.met_at) }}</td>
<td>{{ p.cause or "" }}</td><td>{{ p.actor or "" }}</td></tr>
{% endfor %}
</table>
{% endif %}
<h2>Timeline ({{ export.entries|length }} entries)</h2>
<table>
<tr><th>#</th><th>time</th><th>kind</th><th>actor</th><th>channel</th><th>what happened</th></tr>
{% for entry in export.entries %}
<tr class="kind-{{ entry.kind }}"><td>{{ loop.index }}</td><td>{{ when(entry.at) }}</td>
<td>{{ entry.kind }}</td><td>{{ entry.actor }}</td><td>{{ entry.channel or "" }}</td>
<td>{{ readable_detail(entry.detail) }}
{% if outcome(entry) %}<br>decision: {{ outcome(entry) }}{% endif %}
{% if entry.reason %}<br>reason: {{ entry.reason }}{% endif %}
{% if entry.task %}<br>task {{ entry.task.task_id }} for {{ entry.task.assignee }}, due
{{ when(entry.task.due_at) }}: {{ entry.task.title }} ({{ entry.task.status }}{%
if entry.task.outcome %}, outcome {{ entry.task.outcome }}{% endif %}){% endif %}
{% if entry.message %}{% set m = entry.message %}
<br>message {{ m.message_id }} to {{ m.recipient_role }} {{ m.recipient }} via {{ m.channel }}
({{ m.locale }}): {{ m.status }}, requested {{ when(m.requested_at) }}{%
if m.sent_at %}, sent {{ when(m.sent_at) }}{% endif %}{%
if m.last_error %}, last error: {{ m.last_error }}{% endif %}{%
if m.delivery_status %}, receipt: {{ m.delivery_status }}{% endif %}
<pre><strong>{{ m.subject }}</strong>

{{ m.body }}</pre>
{% endif %}
</td></tr>
{% endfor %}
</table>
</body></html>
"""
)


def render_html(export: CaseExport) -> str:
    return _HTML.render(
        export=export,
        facts=_facts(export),
        when=_when,
        outcome=_outcome,
        readable_detail=lambda detail: readable_text(detail, export.timezone),
    )


def render_case(export: CaseExport, fmt: Format) -> str:
    if fmt is Format.JSON:
        return render_json(export)
    if fmt is Format.HTML:
        return render_html(export)
    return render_markdown(export)
