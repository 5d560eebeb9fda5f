"""What every case workflow keeps besides its own state, written once.

- **The journal** (`CaseJournal`, case_journal.py): the timeline with a change count, the
  promise ledger, the incremental save and the planner's wait.
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
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Required, TypedDict, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from promptly.workflows.case_journal import CaseJournal
from promptly.workflows.hand_tasks import HandTasks
from promptly.workflows.patches import MOOT_TASKS_CLEAR_FLAGS, NEEDS_ATTENTION_ATTRIBUTE
from promptly.workflows.search_attributes import NEEDS_ATTENTION
from promptly.workflows.staff_tasks import close_case_tasks

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from promptly.domain import errors
    from promptly.domain.common import (
        Actor,
        ActorKind,
        CaseKind,
        CaseSnapshot,
        TimelineKind,
    )
    from promptly.domain.tasks import PassedOnInput, TaskKind
    from promptly.workflows.read_views import read_view

CaseT = TypeVar("CaseT")


def refuse(refusal: str | None) -> None:
    """Raise a rule's refusal as the error an API caller sees (409), or do nothing; its code
    (`errors.refusal_code`) goes in the details, for the API's `code`."""
    if refusal is not None:
        raise ApplicationError(
            refusal,
            errors.refusal_code(refusal).value,
            type=errors.TRANSITION_REFUSED,
            non_retryable=True,
        )


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
        raise ApplicationError(f"the {still}{errors.CASE_OPENING_ENDS}", type=errors.CASE_OPENING)
    return case


def step_summary(step: str, at: datetime) -> str:
    """A planner timer's name in the UI: `follow up call at 2026-...`."""
    return f"{step.replace('_', ' ')} at {at.isoformat()}"


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
    # True while an update's handler judges its command in its turn (`_judged_in_turn`).
    _in_turn: bool = False
    # True once the run has finished its plan and only closes (its last sends, tasks and
    # save): a command then would be accepted by a case about to return, and is refused.
    _closing: bool = False
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
        """The view's `version` (the HTTP ETag): the change count of this run, the updates it
        applied, and the run, so a count that starts again after continue-as-new never repeats
        an older version."""
        return f"{self._journal.changes}-{self._journal.applied}-{workflow.info().run_id[-12:]}"

    def _refuse_if_changed(self, command: object) -> None:
        """Refuse a command decided on an older state of the case (its `expected_version`,
        the HTTP If-Match); a command without one is never refused here.

        The validator compares the whole version. The handler's turn (`_judged_in_turn`),
        which also runs on replay, compares only the updates applied since: of two commands
        admitted together on one version, the second is refused there. What else the version
        counts may differ on replay (a reset runs under another run id; newer code may note
        more) and must not turn a check that passed into a refusal."""
        expected = getattr(command, "expected_version", None)
        if expected is None:
            return
        if self._in_turn:
            parts = expected.split("-")
            stale = len(parts) != 3 or parts[1] != str(self._journal.applied)
        else:
            stale = expected != self._version()
        if stale:
            raise ApplicationError(
                f"the {self._kind.value} changed since version {expected} (now "
                f"{self._version()}); nothing changed: read it again and decide on what it is now",
                type=errors.PRECONDITION_FAILED,
                non_retryable=True,
            )

    def _refuse_unless_allowed(self, update: str, *rule_args: Any) -> None:
        """Refuse `update` where the case's rules do not allow it now (its state, who acts);
        each case says how, from what its `_judge` calls pass on (`rule_args`)."""
        raise NotImplementedError

    def _judge(self, update: str, command: object, *rule_args: Any) -> None:
        """What an update's judgement checks first, the same for every case: the command's
        version (`_refuse_if_changed`), then whether the case's rules allow `update` now
        (`_refuse_unless_allowed`, given `rule_args`: who acts, a root cause). A validator
        adds only what is its own."""
        self._refuse_if_changed(command)
        self._refuse_if_closing(update)
        self._refuse_unless_allowed(update, *rule_args)

    def _refuse_if_closing(self, update: str) -> None:
        """A validator's refusal of `update` once the case closes (`_closing`). Validators
        only: a handler accepted before then runs to its end (the run waits for it), and
        validators do not run on replay, so histories from before it replay unchanged."""
        if self._closing and not self._in_turn:
            refuse(f"{update} refused: the {self._kind.value} has closed")

    def _judged_in_turn(self, judge: Callable[[], None]) -> Callable[[], None]:
        """`judge` as an update's handler runs it in its turn: the version check inside it is
        the turn's (`_refuse_if_changed`), and a command it lets through counts as applied."""

        def judge_in_turn() -> None:
            self._in_turn = True
            try:
                judge()
            finally:
                self._in_turn = False
            self._journal.applied += 1

        return judge_in_turn

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
        error_code: str | None = None,
        keep_error_code: str | None = None,
    ) -> None:
        """Close the case's open staff tasks of `kinds`, and the calls to read out its messages
        of the templates `read_outs` (all of its tasks when both are empty), that no longer
        matter.
        When a change made their messages moot (a confirmation, a cancel, an answer), the flags
        only those tasks answered go with them: nobody has anything left to do. When the case
        merely ran out (a no-show, a survey nobody answered, the end), the flags stay as the
        record of what did not go out. `error_code` closes only the tasks whose data says it,
        `keep_error_code` all but those (the desk's task to find a client's right number)."""
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
            error_code=error_code,
            keep_error_code=keep_error_code,
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
