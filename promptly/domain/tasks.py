"""Staff tasks: what the workflows ask the task inbox to open and close."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints

from promptly.domain.common import Actor, ActorInput, Model, RecipientRole


class TaskKind(StrEnum):
    CALL_CLIENT = "call_client"
    SEND_CONFIRMATION_MANUALLY = "send_confirmation_manually"
    PROVIDER_DECISION = "provider_decision"
    # A message other than the confirmation that could not go out: staff pass it on.
    DELIVER_MESSAGE_MANUALLY = "deliver_message_manually"
    # a staff message (department notice, escalation alert) could not go out
    RESEND_STAFF_MESSAGE = "resend_staff_message"
    # A client's SMS or email reply Promptly could not act on (or a number to check).
    CLIENT_REPLY = "client_reply"


class CreateTaskRequest(Model):
    idempotency_key: str
    case_id: str
    kind: TaskKind
    assignee: RecipientRole
    title: str
    details: str = ""
    due_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)


class TaskRef(Model):
    task_id: int
    idempotency_key: str


class CloseTaskRequest(Model):
    idempotency_key: str
    outcome: str
    note: str = ""
    closed_by: Actor


class AddToTaskRequest(Model):
    """A line added to the details of an open task (a client's further plea for the
    provider's decision): once, however often it is retried."""

    idempotency_key: str
    addition: str
    # A newer version of a line already there (the provider's delay, estimated again): the
    # lines that start so go, so the desk reads the current one only.
    replaces: str | None = None


def details_with(details: str, addition: str, replaces: str | None = None) -> str:
    """A task's `details` with the line `addition` added once (a retry adds nothing), after
    removing the older lines that start with `replaces`."""
    lines = details.split("\n") if details else []
    if replaces:
        lines = [line for line in lines if not line.startswith(replaces) or line == addition]
    if addition not in lines:
        lines.append(addition)
    return "\n".join(lines)


class HandTaskRecord(Model):
    """One open front-desk task that passes on by hand a message that could not go out: its
    kind, the flag it answers and, where the case closes that one task itself, its key."""

    task_id: int
    kind: TaskKind
    concern: str
    key: str | None = None


class HandTasksRecord(Model):
    """A case's tasks passed on by hand, as it carries them into its next run
    (continue-as-new): the open ones, and those the desk reported done."""

    open: list[HandTaskRecord] = Field(default_factory=list)
    done: list[int] = Field(default_factory=list)


class PassedOnInput(ActorInput):
    """The front desk passed on by hand a message that could not go out (task `task_id`)."""

    task_id: int
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class CloseCaseTasksRequest(Model):
    """Close every open task of a case (or those of `kinds`), saying why they no longer matter."""

    case_id: str
    outcome: str
    note: str = ""
    closed_by: Actor
    kinds: list[TaskKind] = Field(default_factory=list)
    # And the calls to read out the case's messages of these templates (the phone channel's
    # `call_client` tasks): moot with the message. With `kinds` empty, only these.
    read_outs: list[str] = Field(default_factory=list)
    # Only the tasks whose data says this `error_code` (the desk's task to find a client's
    # right number: `wrong_number`); `keep_error_code`: all but those.
    error_code: str | None = None
    keep_error_code: str | None = None
