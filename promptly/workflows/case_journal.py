"""The journal of a case (`CaseJournal`): what every case workflow notes and saves through.

- **The timeline** with a change count and the promise ledger; a workflow may keep only its
  newest entries in memory (PostgreSQL keeps them all).
- **The incremental save**: each save writes the case row, its read view and only the
  timeline entries PostgreSQL has not seen yet, one save at a time so entries are stored in
  order.
- **The planner's wait** (`changed_before`): sleep until the next step is due, or until a
  change asks the planner to look again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from temporalio import workflow

from promptly.workflows.promises import PromiseBook

with workflow.unsafe.imports_passed_through():
    from promptly.activities.records import RecordsActivities
    from promptly.domain.common import (
        Actor,
        CaseSnapshot,
        PromiseKind,
        TimelineEntry,
        TimelineKind,
    )
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT


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
        omitted: int = 0,
    ) -> None:
        self.promises = promises
        self.timeline: list[TimelineEntry] = list(timeline)
        # Every change of the case in this run; the planner wakes when it grows.
        self.changes = 0
        # Updates this run applied (each one's turn judged it and let it change the case).
        self.applied = 0
        # Changes that need no new plan (a send's outcome): the planner's timer stays armed.
        self._quiet_changes = 0
        self._saved_changes = -1
        # entries dropped from memory, oldest first; all stored (a run before this one may
        # have dropped some: `timeline` is then the newest)
        self.omitted = omitted
        self._total = omitted + len(self.timeline)  # entries ever noted: the seq of the next one
        self._stored = stored_entries  # entries written to PostgreSQL
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

    @property
    def all_saved(self) -> bool:
        """Everything noted and changed so far is stored (the last save carried it)."""
        return (
            self._saved_changes == self.changes
            and self._stored == self._total
            and not self.promises.dirty
        )

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
