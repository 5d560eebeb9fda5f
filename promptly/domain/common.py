"""What every case shares on the wire: the base model, people and actors, the timeline,
the durable record of a case. Unknown fields are refused, so a typo in an integration fails
loudly instead of being dropped."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from promptly.domain import text_patterns


def no_nul(value: Any) -> Any:
    """Text is stored in PostgreSQL, which cannot hold a NUL character: refused at the edge
    with the field named, instead of a case whose every save fails."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)

    _text_without_nul = field_validator("*")(no_nul)


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:  # OSError: "Europe", a folder
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Europe/Warsaw)"
        ) from err
    return name


Timezone = Annotated[str, AfterValidator(_known_timezone)]


# Control characters but NUL (refused above): line breaks and tabs.
_LINE_BREAKS = re.compile(r"[\x01-\x1f\x7f\u0085\u2028\u2029]+")


def _one_line(value: Any) -> Any:
    """A name, service or place is one line wherever it is shown (a message's subject is its
    first line): a pasted line break or tab becomes one space."""
    return _LINE_BREAKS.sub(" ", value) if isinstance(value, str) else value


NonEmpty = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    BeforeValidator(_one_line),  # wraps the constraints: runs first
]


BusinessId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=text_patterns.BUSINESS_ID.regex)
]


Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=text_patterns.PHONE.regex)]


def in_seconds(**terms: timedelta) -> dict[str, int]:
    """Durations as a message states them: whole seconds (templates: `| duration`)."""
    return {name: round(term.total_seconds()) for name, term in terms.items()}


def _shown(value: timedelta) -> str:
    return f"-{-value}" if value < timedelta(0) else str(value)


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {_shown(value)}")
    return value


def _non_negative_duration(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError(f"must not be a negative duration, got {_shown(value)}")
    return value


_SECONDS = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


def _seconds_as_text(value: object) -> object:
    """`86400` from an environment variable is seconds, as a JSON number would be (pydantic
    reads a digit string as neither); anything else is parsed as before (ISO 8601, `HH:MM`)."""
    if isinstance(value, str) and _SECONDS.match(value):
        return float(value)
    return value


# A wait that must pass before something happens (a deadline, an interval, a lifetime).
PositiveDuration = Annotated[
    timedelta, BeforeValidator(_seconds_as_text), AfterValidator(_positive_duration)
]
# A margin where zero means "none" (no lateness allowed, survey at once).
NonNegativeDuration = Annotated[
    timedelta, BeforeValidator(_seconds_as_text), AfterValidator(_non_negative_duration)
]


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"


class Locale(StrEnum):
    EN = "en"
    PL = "pl"


class ActorKind(StrEnum):
    CLIENT = "client"
    STAFF = "staff"
    PROVIDER = "provider"
    SYSTEM = "system"


class Actor(Model):
    kind: ActorKind
    id: NonEmpty
    via: str | None = Field(
        default=None,
        description="The API key the action came through (set by the API).",
        exclude_if=lambda value: value is None,  # absent, not null, when no key was involved
    )

    def signature(self) -> str:
        """ "staff:ewa", and "staff:ewa via desk" when a key named someone else: who a task
        record says closed it, keeping the key that did, as the timeline does."""
        by_key = f" via {self.via}" if self.via and self.via != self.id else ""
        return f"{self.kind.value}:{self.id}{by_key}"


SYSTEM = Actor(kind=ActorKind.SYSTEM, id="promptly")
# The start's memo key naming who opened a case (the API key's actor, the CLI's operator): the
# request stays the back office's own body, and the Temporal UI shows it with the case.
OPENED_BY_MEMO = "opened_by"


class ClientAnswer(Model):
    """A client's answer to a case's question: given by their own hand (a link, a reply), or
    told to the desk on the phone when the message asking it was read out to them."""

    taken_by: Actor | None = Field(
        default=None,
        description="The staff member who took the answer on the phone (the message asking "
        "it was read out to a phone client); absent when the client gave it themselves.",
        exclude_if=lambda value: value is None,
    )

    def given(self) -> str:
        """For the timeline: " on the phone to ola" when the desk took it, else nothing."""
        return f" on the phone to {self.taken_by.id}" if self.taken_by else ""


class Person(Model):
    """A client or complaining customer: whom we talk to, how, and in which language."""

    id: BusinessId
    name: NonEmpty
    email: EmailStr | None = None
    phone: Phone | None = None
    preferred_channel: Channel = Channel.EMAIL
    locale: Locale = Locale.EN
    timezone: Timezone

    @model_validator(mode="after")
    def _reachable_on_preferred_channel(self) -> Person:
        # "field: reason" lets the error point at the missing field (api_errors.py).
        if self.preferred_channel is Channel.EMAIL and not self.email:
            raise ValueError("email: required when preferred_channel is email")
        if self.preferred_channel in (Channel.SMS, Channel.PHONE) and not self.phone:
            raise ValueError(f"phone: required when preferred_channel is {self.preferred_channel}")
        return self


class ActorInput(Model):
    actor: Actor


class CaseCommand(Model):
    """An update of a case that may say which state of the case it was decided on: with
    `expected_version` (the `version` of the view read, the HTTP API's `If-Match`), the case
    refuses it when it has changed since, so two people deciding at once lose no change."""

    expected_version: str | None = Field(
        default=None,
        description="Refuse unless the case is still at this `version` of its view (from its "
        "GET or an update's answer); absent: no check.",
        exclude_if=lambda value: value is None,
    )


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class TimelineKind(StrEnum):
    STATUS = "status"
    MESSAGE = "message"
    MESSAGE_FAILED = "message_failed"
    TASK = "task"
    ACTION = "action"
    DECISION = "decision"


class TimelineEntry(Model):
    """One line of a case's history: what happened, when, by whom, with what result."""

    at: AwareDatetime
    kind: TimelineKind
    actor: Actor
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


class PromiseKind(StrEnum):
    """The promises of the procedures, one ledger row per case each (docs/promises.md)."""

    CONFIRMATION = "confirmation_within_24h"
    PROVIDER_ACK = "provider_ack_within_24h"
    REMINDER = "reminder_24_48h_before"
    FOLLOW_UP = "follow_up_before_deadline"
    NO_SHOW = "no_show_rule"
    SURVEY = "survey_within_48h"
    COMPLAINT_ACK = "complaint_ack_at_once"
    COMPLAINT_UPDATES = "complaint_updated_every_24h"
    COMPLAINT_RESOLVED = "complaint_resolved_within_48h"
    INQUIRY_ANSWERED = "inquiry_answered_within_48h"


class PromiseVerdict(StrEnum):
    PENDING = "pending"  # made, not decided yet
    KEPT = "kept"
    BROKEN = "broken"
    WAIVED = "waived"
    NOT_APPLICABLE = "not_applicable"


class PromiseRecord(Model):
    """One promise of one case as the workflow decided it; `revision` orders the writes."""

    promise: PromiseKind
    verdict: PromiseVerdict = PromiseVerdict.PENDING
    promised_at: AwareDatetime
    due_at: AwareDatetime | None = None
    met_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    cause: str | None = None
    actor: Actor | None = None
    revision: int = 0


class RecipientRole(StrEnum):
    CLIENT = "client"
    PROVIDER = "provider"
    SUPERVISOR = "supervisor"
    FRONT_DESK = "front_desk"
    # complaints: explicit addresses from the escalation matrix
    DEPARTMENT = "department"
    MANAGER = "manager"
    ASSIGNEE = "assignee"


class CaseKind(StrEnum):
    APPOINTMENT = "appointment"
    COMPLAINT = "complaint"
    SURVEY = "survey"
    INQUIRY = "inquiry"


# Every case view's `version`: one description for the API's optimistic concurrency.
CaseVersion = Annotated[
    str | None,
    Field(
        description="Changes with every change of the case: the HTTP `ETag`; send it back as "
        "`If-Match` (or `expected_version`) to refuse an update if the case changed since."
    ),
]


class CaseReadView(Model):
    """A case's `status` view as the API serves it from PostgreSQL (docs/status-reads.md).

    `view` is the view without its timeline (the timeline rows are stored beside it); the
    stored answer is the view plus the timeline rows from `timeline_from` up to the
    snapshot's last entry. A row keeps the newest view by (`as_of`, `changes`): workflow time
    of the write, then the workflow's change count, which orders two writes of one moment.
    """

    view: dict[str, Any]
    as_of: AwareDatetime
    changes: int
    timeline_from: int = 0


class CaseSnapshot(Model):
    """The durable record of a case: its current row and the timeline lines not yet stored."""

    case_id: str
    kind: CaseKind
    business_id: str
    status: str
    client_id: str
    provider_id: str | None = None
    starts_at: AwareDatetime | None = None
    # None (a worker from before read views): the row's stored view is cleared, so the API
    # asks the workflow until a newer worker writes one.
    read_view: CaseReadView | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    first_seq: int = 0
    entries: list[TimelineEntry] = Field(default_factory=list)
    # Promise rows changed since the last save (the ledger, promptly/domain/promises.py).
    promises: list[PromiseRecord] = Field(default_factory=list)


class FlaggableCase(Protocol):
    """A case that lists what needs staff attention (a message that could not go out...)."""

    needs_attention: list[str]

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self: ...


FlaggableT = TypeVar("FlaggableT", bound=FlaggableCase)


def flagged(case: FlaggableT, concern: str) -> FlaggableT:
    """`case` with `concern` needing attention: each concern listed once, in the order raised
    (the case itself when it is listed already)."""
    if concern in case.needs_attention:
        return case
    return case.model_copy(update={"needs_attention": [*case.needs_attention, concern]})


def unflagged(case: FlaggableT, concern: str) -> FlaggableT:
    """`case` without `concern`: what it asked for was done."""
    attention = [c for c in case.needs_attention if c != concern]
    return case.model_copy(update={"needs_attention": attention})
