"""The lines of a case's history: its timeline joined with what PostgreSQL holds beside it (the
messages ledger, the staff tasks, the client's replies), times in the export's timezone. Pure:
promptly/services/history.py loads the rows.

The workflow notes most of what happened in its timeline, naming the ledger row or task it
made. What it did not note (a staff alert naming no row, a task or a reply handled outside the
workflow) is listed all the same, at the time it happened: an export leaves nothing out.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from promptly.domain.common import SYSTEM, Actor, ActorKind, TimelineEntry
from promptly.services.history_models import (
    ClientReply,
    ExportedEntry,
    ExportedMessage,
    ExportedTask,
)


def join_entries(
    timeline: dict[int, TimelineEntry],
    messages: list[ExportedMessage],
    tasks: dict[int, ExportedTask],
    replies: list[ClientReply],
    zone: ZoneInfo,
) -> list[ExportedEntry]:
    """Timeline entries with their ledger message and staff task, then the ledger rows, tasks
    and replies no entry claims, all in time order.

    A message entry names its ledger row (`data.message_id`); the few that do not (staff
    alerts) take the oldest unclaimed row of their template. A task entry names its task
    (`data.task_id`). Client replies are no timeline entry's: each is a line of its own.
    """
    by_id = {m.message_id: m for m in messages}
    claimed = {
        e.data["message_id"] for e in timeline.values() if isinstance(e.data.get("message_id"), int)
    }
    unclaimed = [m for m in messages if m.message_id not in claimed]
    tasks_claimed: set[int] = set()
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
        if task is not None:
            tasks_claimed.add(task.task_id)
        out.append(
            ExportedEntry(
                seq=seq,
                at=entry.at.astimezone(zone),
                kind=entry.kind.value,
                actor=entry.actor.signature(),
                via=entry.actor.via,
                detail=entry.detail,
                channel=entry.data.get("channel") or (message.channel if message else None),
                reason=_reason(entry.data),
                data=entry.data,
                message=localized_message(message, zone) if message else None,
                task=_localized_task(task, zone) if task else None,
            )
        )
    out += [_message_entry(message, zone) for message in unclaimed]
    out += [_task_entry(t, zone) for t in tasks.values() if t.task_id not in tasks_claimed]
    out += [_reply_entry(reply, zone) for reply in replies]
    out.sort(key=lambda e: (e.at, e.seq if e.seq is not None else -1))
    return out


def localized_message(message: ExportedMessage, zone: ZoneInfo) -> ExportedMessage:
    return message.model_copy(
        update={
            "requested_at": message.requested_at.astimezone(zone),
            "sent_at": message.sent_at.astimezone(zone) if message.sent_at else None,
            "delivery_updated_at": (
                message.delivery_updated_at.astimezone(zone)
                if message.delivery_updated_at
                else None
            ),
        }
    )


def localized_reply(reply: ClientReply, zone: ZoneInfo) -> ClientReply:
    return reply.model_copy(update={"received_at": reply.received_at.astimezone(zone)})


def _localized_task(task: ExportedTask, zone: ZoneInfo) -> ExportedTask:
    return task.model_copy(
        update={
            "due_at": task.due_at.astimezone(zone),
            "created_at": task.created_at.astimezone(zone),
            "closed_at": task.closed_at.astimezone(zone) if task.closed_at else None,
        }
    )


def _message_entry(message: ExportedMessage, zone: ZoneInfo) -> ExportedEntry:
    return ExportedEntry(
        seq=None,
        at=message.requested_at.astimezone(zone),
        kind="message",
        actor=SYSTEM.signature(),
        detail=f"{message.sent_subject or message.template} "
        f"({message.recipient_role}, {message.channel})",
        channel=message.channel,
        data={"template": message.template},
        message=localized_message(message, zone),
    )


def _task_entry(task: ExportedTask, zone: ZoneInfo) -> ExportedEntry:
    """A task made outside the workflow's timeline (a client's reply for the front desk): when
    Promptly opened it; its outcome, note and closer come with it."""
    return ExportedEntry(
        seq=None,
        at=task.created_at.astimezone(zone),
        kind="task",
        actor=SYSTEM.signature(),
        detail=task.title,
        data={"task_id": task.task_id, "kind": task.kind},
        task=_localized_task(task, zone),
    )


def _reply_entry(reply: ClientReply, zone: ZoneInfo) -> ExportedEntry:
    # The sender's number or address stands in when the reply matched no single client.
    sender = Actor(kind=ActorKind.CLIENT, id=reply.client_id or reply.sender)
    return ExportedEntry(
        seq=None,
        at=reply.received_at.astimezone(zone),
        kind="reply",
        actor=sender.signature(),
        detail=f"Reply from {reply.sender}",
        channel=reply.channel,
        data={},
        reply=localized_reply(reply, zone),
    )


def _reason(data: dict[str, Any]) -> str | None:
    for key in ("reason", "note", "comment"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
