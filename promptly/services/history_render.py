"""A case's or a client's history as compliance reads it: JSON, Markdown (client-typed text
escaped) and a self-contained HTML page."""

from __future__ import annotations

import re
from collections.abc import Callable

from jinja2 import Environment

from promptly.domain.readable_time import exact, readable_text
from promptly.services.billing_record import BillingRow
from promptly.services.history_models import (
    CaseExport,
    ClientExport,
    ClientReply,
    ExportedEntry,
    ExportedMessage,
    ExportedTask,
    Format,
    when_text,
)
from promptly.services.promise_ledger import LedgerRow


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
        facts.append(("visit", when_text(export.starts_at)))
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


# A task, a message and a reply read the same in Markdown and HTML: one text each, with what
# someone typed passed through `escape` (Markdown's; HTML escapes the whole text itself).
Escape = Callable[[str], str]


def _task_text(task: ExportedTask, escape: Escape) -> str:
    return (
        f"task {task.task_id} for {task.assignee}, due {when_text(task.due_at)}: "
        f"{escape(task.title)} — {task.status}"
        + (f", outcome {escape(task.outcome)}" if task.outcome else "")
        + (f" ({escape(task.note)})" if task.note else "")
        + (f", closed by {escape(task.closed_by)}" if task.closed_by else "")
        + (f" at {when_text(task.closed_at)}" if task.closed_at else "")
    )


def _message_text(message: ExportedMessage, escape: Escape) -> str:
    provider_id = message.provider_message_id
    return (
        f"message {message.message_id} to {message.recipient_role} "
        f"{escape(message.recipient)} via {message.channel} ({message.locale}): "
        f"{message.status}, requested {when_text(message.requested_at)}"
        + (f", sent {when_text(message.sent_at)}" if message.sent_at else "")
        + (f", provider id {escape(provider_id)}" if provider_id else "")
        + (f", last error: {escape(message.last_error)}" if message.last_error else "")
        + (f", receipt: {_receipt(message)}" if message.delivery_status else "")
        + (f", not passed on: {message.delivery_moot}" if message.delivery_moot else "")
    )


def _receipt(message: ExportedMessage) -> str:
    """The provider's delivery receipt and when it came:
    `undelivered (30003) at 2026-12-02 10:19:44 +01:00`; empty when none came."""
    if not message.delivery_status:
        return ""
    return (
        message.delivery_status
        + (f" ({message.delivery_error_code})" if message.delivery_error_code else "")
        + (f" at {when_text(message.delivery_updated_at)}" if message.delivery_updated_at else "")
    )


# What the client wrote, as a case's first entry keeps it in its data: an inquiry's question
# (a complaint's description, once its first entry keeps it).
_CLIENTS_WORDS = {"question": "question", "description": "description"}


def _clients_words(entry: ExportedEntry) -> list[tuple[str, str]]:
    """(label, text) of each text of the client's an entry keeps in its data."""
    return [
        (label, value)
        for key, label in _CLIENTS_WORDS.items()
        if isinstance(value := entry.data.get(key), str) and value
    ]


def _reply_text(reply: ClientReply, escape: Escape) -> str:
    return f"reply: {reply.intent} → {escape(reply.outcome or 'pending')}"


def render_markdown(export: CaseExport) -> str:
    lines = [f"# History of {_md(export.case_id)}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {_md(value)} |" for name, value in _facts(export)]
    if export.promises:
        lines += ["", *_promise_lines(export.promises)]
    if export.billing:
        lines += ["", *_billing_lines(export.billing)]
    lines += ["", f"## Timeline ({len(export.entries)} entries)", ""]
    for number, entry in enumerate(export.entries, start=1):
        head = f"### {number}. {when_text(entry.at)} · {entry.kind} · {_md(entry.actor)}"
        if entry.channel:
            head += f" · {entry.channel}"
        lines += [head, "", _md(readable_text(entry.detail, export.timezone, exact)), ""]
        outcome = _outcome(entry)
        if outcome:
            lines.append(f"- decision: {_md(outcome)}")
        if entry.reason:
            lines.append(f"- reason: {_md(entry.reason)}")
        for label, text in _clients_words(entry):
            lines += [f"- {label}:", ""]
            lines += [f"  > {_md(line)}".rstrip() for line in text.splitlines()]
            lines.append("")
        if entry.task:
            lines.append(f"- {_task_text(entry.task, _md)}")
        if entry.message:
            message = entry.message
            lines += [f"- {_message_text(message, _md)}", ""]
            # What reached the recipient: an email's subject and body, an SMS's text, the
            # words read out on a call (their ledger title was never sent: no subject).
            if message.sent_subject is not None:
                lines += [f"  > **{_md(message.sent_subject)}**", "  >"]
            lines += [f"  > {_md(line)}".rstrip() for line in message.body.splitlines()]
        if entry.reply:
            lines += [f"- {_reply_text(entry.reply, _md)}", ""]
            lines += [f"  > {_md(line)}".rstrip() for line in entry.reply.body.splitlines()]
        if lines[-1] != "":
            lines.append("")
    return "\n".join(lines)


# Characters that make Markdown structure, links, images or raw HTML. Client-typed text
# (names, reasons, notes, comments) is escaped so it reads as text in any Markdown viewer.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|!~&(){}])")


def _md(text: str) -> str:
    """Plain text for a Markdown line: specials escaped, line breaks folded."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


def _promise_lines(rows: list[LedgerRow]) -> list[str]:
    """The "Promises" section: the ledger's verdicts, times as the export's other times."""
    lines = [
        f"## Promises ({len(rows)})",
        "",
        "| promise | verdict | due | met | cause | actor |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.promise.replace("_", " "),
            row.verdict,
            when_text(row.due_at),
            when_text(row.met_at),
            row.cause or "",
            row.actor or "",
        ]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def _billing_lines(rows: list[BillingRow], *, with_case: bool = False) -> list[str]:
    """The "Billing" section: outcome, decided by, via, when, reason (and the case, in a
    client's export)."""
    columns = ["outcome", "decided by", "via", "when", "reason"]
    if with_case:
        columns.insert(0, "case")
    lines = [
        f"## Billing ({len(rows)})",
        "",
        "| " + " | ".join(columns) + " |",
        "|---" * len(columns) + "|",
    ]
    for row in rows:
        cells = [row.outcome, row.decided_by, row.via or "-", when_text(row.decided_at), row.reason]
        if with_case:
            cells.insert(0, row.case_id)
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def render_client_markdown(export: ClientExport) -> str:
    lines = [
        f"# Cases and messages of client {export.client_id}",
        "",
        f"Times in {export.timezone}. {len(export.cases)} case(s).",
        "",
    ]
    if not export.cases:
        lines += [
            "No case of this client is kept (purged after the retention period, or never "
            "recorded); what is still held of them follows.",
            "",
        ]
    if export.sms_consent:
        lines += [f"SMS: {export.sms_consent}.", ""]
    if export.billing:
        lines += [*_billing_lines(export.billing, with_case=True), ""]
    if export.replies:
        lines += ["Replies from the client:", ""]
        lines += [
            f"- {when_text(r.received_at)} {r.channel} from {_md(r.sender)}: "
            f'"{_md(r.body.strip()[:200])}"'
            f" → {r.intent}, {r.outcome or 'pending'}" + (f" ({r.case_id})" if r.case_id else "")
            for r in export.replies
        ]
        lines.append("")
    for case in export.cases:
        lines.append(f"## {case.case_id} · {case.kind} {case.business_id} · {case.status}")
        lines.append("")
        lines.append(
            f"opened {when_text(case.created_at)}"
            + (f", visit {when_text(case.starts_at)}" if case.starts_at else "")
        )
        lines.append("")
        if case.messages:
            lines += [
                "| requested | template | channel | to | subject | status | sent | provider id "
                "| receipt |",
                "|---" * 9 + "|",
            ]
            for m in case.messages:
                cells = [
                    when_text(m.requested_at),
                    m.template,
                    m.channel,
                    f"{m.recipient_role} {m.recipient}",
                    m.sent_subject or "",  # an SMS or a call has none
                    m.status,
                    when_text(m.sent_at) if m.sent_at else "",
                    m.provider_message_id or "",
                    _receipt(m),
                ]
                lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
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
{% if export.billing %}
<h2>Billing ({{ export.billing|length }})</h2>
<table>
<tr><th>outcome</th><th>decided by</th><th>via</th><th>when</th><th>reason</th></tr>
{% for b in export.billing %}
<tr><td>{{ b.outcome }}</td><td>{{ b.decided_by }}</td><td>{{ b.via or "-" }}</td>
<td>{{ when(b.decided_at) }}</td><td>{{ b.reason }}</td></tr>
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
{% for label, text in clients_words(entry) %}<br>{{ label }}:
<pre>{{ text }}</pre>
{% endfor %}
{% if entry.task %}<br>{{ task_text(entry.task) }}{% endif %}
{% if entry.message %}{% set m = entry.message %}
<br>{{ message_text(m) }}
<pre>{% if m.sent_subject is not none %}<strong>{{ m.sent_subject }}</strong>

{% endif %}{{ m.body }}</pre>
{% endif %}
{% if entry.reply %}<br>{{ reply_text(entry.reply) }}
<pre>{{ entry.reply.body }}</pre>
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
        when=when_text,
        outcome=_outcome,
        readable_detail=lambda detail: readable_text(detail, export.timezone, exact),
        clients_words=_clients_words,
        task_text=lambda task: _task_text(task, str),
        message_text=lambda message: _message_text(message, str),
        reply_text=lambda reply: _reply_text(reply, str),
    )


def render_case(export: CaseExport, fmt: Format) -> str:
    renderers = {Format.JSON: render_json, Format.HTML: render_html, Format.MD: render_markdown}
    return renderers[fmt](export)
