"""What every case workflow keeps besides its own state, written once.

- **The journal** (`CaseJournal`): the timeline with a change count, the promise ledger, and
  the incremental save: each save writes the case row, its read view and only the timeline
  entries PostgreSQL has not seen yet, one save at a time so entries are stored in order.
  A workflow may keep only its newest entries in memory (PostgreSQL keeps them all).
- **The planner's wait** (`CaseJournal.changed_before`): sleep until the next step is due,
  or until a change asks the planner to look again.
- **One transition style** (`transition`): an update's validator judges the command before it
  enters history; the handler then takes the case's lock, judges again on the state it will
  change (a step or another update may have moved it since), applies its change and, where
  the run stores before it answers, saves before the update returns.
- **Messages passed on by hand** (`JournaledCase.passed_on`): a message that could not go
  out raises a flag and opens a front-desk task; when the desk reports the task done, the
  case notes it and the flag goes once no other open task answers it.
- **The stored row** (`JournaledCase._snapshot`): the case id, the kind and the `status` view
  as the API reads it are the same for every case; each workflow says only its business id,
  status, client and details (`_row`). The flags stored with it (`needs_attention`) are
  published as the `NeedsAttention` search attribute.

The appointment, complaint, inquiry and survey workflows build on these; each one's own file
then reads like its procedure.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar, Required, TypedDict, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from promptly.workflows.hand_tasks import HandTasks
from promptly.workflows.patches import MOOT_TASKS_CLEAR_FLAGS, NEEDS_ATTENTION_ATTRIBUTE
from promptly.workflows.promises import PromiseBook
from promptly.workflows.search_attributes import NEEDS_ATTENTION
from promptly.workflows.staff_tasks import close_case_tasks

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from promptly.activities.records import RecordsActivities
    from promptly.domain import errors
    from promptly.domain.common import (
        Actor,
        ActorKind,
        CaseKind,
        CaseSnapshot,
        PromiseKind,
        TimelineEntry,
        TimelineKind,
    )
    from promptly.domain.tasks import PassedOnInput, TaskKind
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT
    from promptly.workflows.read_views import read_view

CaseT = TypeVar("CaseT")


def refuse(refusal: str | None) -> None:
    """Raise a rule's refusal as the error an API caller sees (409), or do nothing."""
    if refusal is not None:
        raise ApplicationError(refusal, type=errors.TRANSITION_REFUSED, non_retryable=True)


def refuse_actor(refusal: str | None) -> None:
    """Raise a refusal of who acts as the error an API caller sees (403), or do nothing."""
    if refusal is not None:
        raise ApplicationError(refusal, type=errors.ACTOR_REFUSED, non_retryable=True)


def refuse_field(field: str, problem: str | None) -> None:
    """Raise bad input only the case can judge as the API's 422 naming `field`, or do nothing."""
    if problem is not None:
        raise ApplicationError(problem, field, type=errors.INVALID_FIELD, non_retryable=True)


def opened(case: CaseT | None, still: str) -> CaseT:
    """The case, once the run has opened it; before that a query or update is told that the
    case is `still` being opened ("appointment is still being booked") and may try again."""
    if case is None:
        raise ApplicationError(
            f"the {still}; try again in a moment", type=errors.TRANSITION_REFUSED
        )
    return case


def step_summary(step: str, at: datetime) -> str:
    """A planner timer's name in the UI: `follow up call at 2026-...`."""
    return f"{step.replace('_', ' ')} at {at.isoformat()}"


class CaseJournal:
    """The timeline, the change count and the save of one case (see the module docstring).

    `snapshot` builds the case row from the workflow's state (the journal adds the entries
    and promise rows PostgreSQL has not seen); `dues` (if the case keeps a
    promise ledger) gives the promises' current due times, followed before each save. With
    `skip_unchanged`, a save with nothing new writes nothing (inquiries and surveys recorded
    their histories saving every time, and keep doing so).
    """

    def __init__(
        self,
        *,
        promises: PromiseBook,
        snapshot: Callable[[], CaseSnapshot],
        summary: str = "record case",
        dues: Callable[[], Mapping[PromiseKind, datetime | None]] | None = None,
        skip_unchanged: bool = True,
        keep_entries: int | None = None,
        timeline: Sequence[TimelineEntry] = (),
        stored_entries: int = 0,
    ) -> None:
        self.promises = promises
        self.timeline: list[TimelineEntry] = list(timeline)
        # Every change of the case in this run; the planner wakes when it grows.
        self.changes = 0
        # Changes that need no new plan (a send's outcome): the planner's timer stays armed.
        self._quiet_changes = 0
        self._saved_changes = -1
        self._total = len(self.timeline)  # entries ever noted: the seq of the next one
        self._stored = stored_entries  # entries written to PostgreSQL
        self.omitted = 0  # entries dropped from memory, oldest first; all stored
        self._snapshot = snapshot
        self._summary = summary
        self._dues = dues
        self._skip_unchanged = skip_unchanged
        self._keep = keep_entries
        self._save_lock = asyncio.Lock()

    @property
    def stored_entries(self) -> int:
        return self._stored

    @property
    def noted(self) -> int:
        """How many entries this case has noted (in memory or not): a stable sequence number."""
        return self._total

    def note(self, kind: TimelineKind, actor: Actor, detail: str, /, **data: object) -> None:
        self.timeline.append(
            TimelineEntry(at=workflow.now(), kind=kind, actor=actor, detail=detail, data=data)
        )
        self._total += 1
        self.changes += 1

    def changed(self) -> None:
        self.changes += 1

    @contextmanager
    def quietly(self) -> Iterator[None]:
        """Changes made inside do not wake the planner."""
        before = self.changes
        yield
        self._quiet_changes += self.changes - before

    async def changed_before(
        self,
        at: datetime | None,
        summary: str,
        *,
        or_when: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Sleep until `at` (forever if None); True if a change (or `or_when`) came first."""
        seen = self.changes - self._quiet_changes

        def woken() -> bool:
            return self.changes - self._quiet_changes != seen or or_when()

        if at is None:
            await workflow.wait_condition(woken)
            return True
        delay = at - workflow.now()
        if delay <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(woken, timeout=delay, timeout_summary=summary)
        except TimeoutError:
            return False
        return True

    async def save(self) -> None:
        """Store the case row and what PostgreSQL has not seen yet."""
        # The planner, an update and a send's outcome may save at once: one write at a time
        # keeps the stored entries in order.
        async with self._save_lock:
            await self._save_now()

    async def _save_now(self) -> None:
        if self._dues is not None:
            self.promises.follow(self._dues())
        if self._skip_unchanged and self._saved_changes == self.changes and not self.promises.dirty:
            return
        self._saved_changes = self.changes
        total = self._total
        unsaved = total - self._stored
        entries = self.timeline[len(self.timeline) - unsaved :] if unsaved else []
        changed_promises = self.promises.unsaved()
        row = self._snapshot().model_copy(
            update={"first_seq": self._stored, "entries": entries, "promises": changed_promises}
        )
        await workflow.execute_activity_method(
            RecordsActivities.record_case,
            row,
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=self._summary,
        )
        self.promises.saved(changed_promises)
        # Entries noted while this was being written are stored next time.
        self._stored = total
        if self._keep is not None:
            in_memory_stored = self._stored - self.omitted
            drop = min(len(self.timeline) - self._keep, in_memory_stored)
            if drop > 0:
                del self.timeline[:drop]
                self.omitted += drop


@asynccontextmanager
async def transition(
    lock: asyncio.Lock,
    judge: Callable[[], None],
    *,
    ready: Callable[[], bool] | None = None,
    ready_under_lock: bool = False,
    store: Callable[[], bool] = lambda: False,
    save: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[None]:
    """An update's turn (see the module docstring): wait until the case is `ready`, take the
    lock, `judge` the command on the current state, let the handler change it, then `save`
    when `store()` says this run stores before it answers. A refused update stores nothing.

    `ready_under_lock` waits for readiness holding the lock: where a workflow's histories were
    recorded that way, the order of its handlers' commands depends on it."""
    if ready is not None and not ready_under_lock:
        await workflow.wait_condition(ready)
    async with lock:
        if ready is not None and ready_under_lock:
            await workflow.wait_condition(ready)
        judge()
        yield
        # Asked after the change, where the run first asked it (a patch marker's place).
        if save is not None and store():
            await save()


class CaseRow(TypedDict, total=False):
    """What a workflow says of its case in the stored row; `JournaledCase._snapshot` adds the
    case id, the kind and the stored view."""

    business_id: Required[str]
    status: Required[str]
    client_id: Required[str]
    provider_id: str | None
    starts_at: datetime | None
    details: dict[str, Any]


def attention_note(flags: Sequence[str]) -> str:
    """The UI's current details end with what needs attention: ` · needs attention: a, b`,
    or nothing when no flag is raised."""
    return f" · needs attention: {', '.join(flags)}" if flags else ""


class JournaledCase:
    """The base of every case workflow: its id, the journal it notes and saves through (set
    up in the workflow's `@workflow.init`) and the row the journal stores."""

    _journal: CaseJournal
    _kind: ClassVar[CaseKind]
    # A survey stores no view: its link page always asks the workflow (docs/status-reads.md).
    _stores_view: ClassVar[bool] = True

    def _row(self) -> CaseRow:
        raise NotImplementedError

    def _view(self) -> BaseModel:
        raise NotImplementedError

    def _snapshot(self) -> CaseSnapshot:
        """The case's row as the journal stores it, with its `status` view as the API reads it.
        The flags it stores are the ones the UI lists the case by (`_publish_attention`)."""
        stored_view = None
        if self._stores_view:
            stored_view = read_view(self._view(), self._journal.changes, self._journal.omitted)
        row = self._row()
        self._publish_attention(row.get("details", {}).get("needs_attention", []))
        return CaseSnapshot(
            case_id=self._workflow_id, kind=self._kind, read_view=stored_view, **row
        )

    @staticmethod
    def _publish_attention(flags: Sequence[str]) -> None:
        """Keep the `NeedsAttention` search attribute equal to the flags the case is stored
        with, so `NeedsAttention = 'confirmation not sent'` lists it until the flag goes.
        Upserted only when they differ, behind its patch (asked then: a case that is never
        flagged records no marker); unset when no flag is left."""
        published = workflow.info().typed_search_attributes.get(NEEDS_ATTENTION) or []
        if list(flags) == list(published) or not workflow.patched(NEEDS_ATTENTION_ATTRIBUTE):
            return
        workflow.upsert_search_attributes(
            [NEEDS_ATTENTION.value_set(list(flags)) if flags else NEEDS_ATTENTION.value_unset()]
        )

    @property
    def _workflow_id(self) -> str:
        return workflow.info().workflow_id

    def _version(self) -> str:
        """The view's `version` (the HTTP ETag): the change count of this run, and the run, so
        a count that starts again after continue-as-new never repeats an older version."""
        return f"{self._journal.changes}-{workflow.info().run_id[-12:]}"

    def _refuse_if_changed(self, command: object) -> None:
        """Refuse a command decided on an older state of the case (its `expected_version`,
        the HTTP If-Match). In the validator and again in the handler's turn, so two commands
        admitted together cannot both pass; a command without one is never refused here."""
        expected = getattr(command, "expected_version", None)
        if expected is not None and expected != self._version():
            raise ApplicationError(
                f"the {self._kind.value} changed since version {expected} (now "
                f"{self._version()}); nothing changed: read it again and decide on what it is now",
                type=errors.PRECONDITION_FAILED,
                non_retryable=True,
            )

    def _note(self, kind: TimelineKind, actor: Actor, detail: str, /, **data: object) -> None:
        self._journal.note(kind, actor, detail, **data)

    async def _save(self) -> None:
        await self._journal.save()

    # Each case keeps its concerns (`needs_attention`) and takes its updates' turns its way.
    def _flag(self, concern: str) -> None:
        raise NotImplementedError

    def _unflag(self, concern: str) -> None:
        raise NotImplementedError

    def _turn(self, judge: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    @cached_property
    def _by_hand(self) -> HandTasks:
        return HandTasks()

    async def _close_tasks(
        self,
        outcome: str,
        note: str,
        actor: Actor,
        kinds: Collection[TaskKind] = (),
        *,
        read_outs: Collection[str] = (),
        flags_stay: bool = False,
        summary: str | None = None,
    ) -> None:
        """Close the case's open staff tasks of `kinds`, and the calls to read out its messages
        of the templates `read_outs` (all of its tasks when both are empty), that no longer
        matter.
        When a change made their messages moot (a confirmation, a cancel, an answer), the flags
        only those tasks answered go with them: nobody has anything left to do. When the case
        merely ran out (a no-show, a survey nobody answered, the end), the flags stay as the
        record of what did not go out."""
        # Read-outs are the phone channel's, not tasks the case opened: only `kinds` (or all,
        # when neither is named) are the case's own to forget.
        moot = self._by_hand.closed(kinds) if kinds or not read_outs else set()
        if moot and not flags_stay and workflow.patched(MOOT_TASKS_CLEAR_FLAGS):
            for concern in sorted(moot):
                self._unflag(concern)
        default = f"close open tasks: {outcome}"
        await close_case_tasks(
            self._workflow_id,
            outcome,
            note,
            actor,
            kinds=list(kinds),
            read_outs=sorted(read_outs),
            summary=summary or default,
        )

    @workflow.update
    async def passed_on(self, command: PassedOnInput) -> None:
        """The front desk passed on by hand a message that could not go out (its task is done):
        noted once; the message's flag goes when no other open task answers it."""
        async with self._turn(lambda: self.validate_passed_on(command)):
            if command.task_id in self._by_hand.done:
                return  # reported already (a repeat): the timeline says it once
            concern = self._by_hand.passed_on(command.task_id)
            self._note(
                TimelineKind.ACTION,
                command.actor,
                f"Passed on by hand (task {command.task_id})"
                + (f": {command.note}" if command.note else ""),
                task_id=command.task_id,
                cleared=concern,
            )
            if concern is not None:
                self._unflag(concern)

    @passed_on.validator
    def validate_passed_on(self, command: PassedOnInput) -> None:
        if command.actor.kind is ActorKind.CLIENT:
            refuse("passed_on refused: staff report a message passed on by hand, not the client")
