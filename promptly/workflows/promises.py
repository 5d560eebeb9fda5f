"""A workflow's promise ledger: the verdicts it reaches, kept in state and saved with the case.

Each call is one line at the point where the workflow decides (see promptly/domain/promises.py
for the rules). The changed rows ride on the next `record_case` (`CaseSnapshot.promises`), so
the ledger adds no command of its own. A case whose history began before the patch
`promise-ledger` keeps no ledger: every call is then a no-op, so it replays as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from temporalio import workflow

from promptly.workflows.patches import PROMISE_LEDGER, since

with workflow.unsafe.imports_passed_through():
    from promptly.domain import promises as rules
    from promptly.domain.common import SYSTEM, Actor, PromiseKind, PromiseRecord, PromiseVerdict
    from promptly.workflows.messages import Delivery

# Sends beside the plan (by group) that are themselves a promise.
PROMISED_SENDS = {
    "confirmation": PromiseKind.CONFIRMATION,
    "reminder": PromiseKind.REMINDER,
}


class PromiseBook:
    def __init__(self, records: Iterable[PromiseRecord] = (), *, enabled: bool) -> None:
        self.enabled = enabled
        self._records: dict[PromiseKind, PromiseRecord] = {r.promise: r for r in records}
        self._saved: dict[PromiseKind, int] = {r.promise: r.revision for r in records}
        self._settled_early: set[PromiseKind] = set()

    @classmethod
    def opened(cls, records: Iterable[PromiseRecord] = ()) -> PromiseBook:
        """In a workflow's first task (`@workflow.init`): decides once whether it keeps a ledger."""
        return cls(records, enabled=since(PROMISE_LEDGER))

    # --- decisions -------------------------------------------------------------------------

    def make(self, records: Iterable[PromiseRecord]) -> None:
        """New promises, or the same ones made again for a new time (kept ones renew)."""
        for record in records:
            current = self._records.get(record.promise)
            if current is None:
                self._put(record)
            elif record.verdict is PromiseVerdict.PENDING:
                self._put(rules.renewed(current, record.promised_at, record.due_at))
            else:
                self._put(
                    rules.not_applicable(
                        rules.renewed(current, record.promised_at, record.due_at),
                        record.decided_at or record.promised_at,
                        record.cause or "",
                    )
                )

    def met(
        self,
        kind: PromiseKind,
        *,
        actor: Actor | None = None,
        cause_if_late: str | None = None,
    ) -> None:
        now = self._now
        self._apply(kind, lambda r: rules.met(r, now, actor=actor, cause_if_late=cause_if_late))

    def broken(self, kind: PromiseKind, cause: str, actor: Actor = SYSTEM) -> None:
        self._apply(kind, lambda r: rules.broken(r, self._now, cause, actor))

    def waived(self, kind: PromiseKind, cause: str, actor: Actor) -> None:
        self._apply(kind, lambda r: rules.waived(r, self._now, cause, actor))

    def not_applicable(self, kind: PromiseKind, cause: str) -> None:
        self._apply(kind, lambda r: rules.not_applicable(r, self._now, cause))

    def delivered(self, kind: PromiseKind, delivery: Delivery) -> None:
        """A message that is the promise: sent keeps it (if on time), failed breaks it; a send
        cancelled by a change of the case decides nothing."""
        if delivery.cancelled:
            return
        if delivery.sent:
            self.met(kind)
            return
        reason = delivery.data.get("reason") or delivery.detail
        self.broken(kind, f"{kind.value.replace('_', ' ')}: not delivered ({reason})")

    def sent(self, kind: PromiseKind, sent: bool, cause: str) -> None:
        """A message awaited in place that is the promise: out keeps it, not out breaks it."""
        if sent:
            self.met(kind)
        else:
            self.broken(kind, cause)

    def delivered_by(self, group: str, delivery: Delivery) -> None:
        """The outcome of a send beside the plan, if its group is a promise."""
        kind = PROMISED_SENDS.get(group)
        if kind is not None:
            self.delivered(kind, delivery)

    def update_given(self, kind: PromiseKind, *, sent: bool, reason: str = "") -> None:
        self._apply(kind, lambda r: rules.update_given(r, self._now, sent=sent, reason=reason))

    def follow(self, dues: Mapping[PromiseKind, datetime | None]) -> None:
        """Pending promises follow their case's current deadlines."""
        for kind, due in dues.items():
            self._apply(kind, _moved_to(due))

    def close(self, reason: str, kinds: Iterable[PromiseKind] | None = None) -> None:
        """The case ended (or moved past these promises): pending ones are settled."""
        for kind in list(kinds) if kinds is not None else list(self._records):
            self._apply(kind, lambda r: rules.closed(r, self._now, reason))
        if kinds is None:
            # Settled before the run's end (`settle`): written again with the run's last
            # save, which carried it when the run's end was where it was settled.
            for kind in self._settled_early:
                self._apply(kind, _rewritten)
            self._settled_early = set()

    def settle(self, reason: str, kinds: Iterable[PromiseKind]) -> None:
        """The case closed while its run goes on (a complaint awaits its follow-up): these
        pending promises are settled now, as the run's end would settle them (`close`)."""
        for kind in kinds:
            before = self._records.get(kind)
            self._apply(kind, lambda r: rules.closed(r, self._now, reason))
            if self.enabled and before is not None and self._records[kind] is not before:
                self._settled_early.add(kind)

    # --- state -----------------------------------------------------------------------------

    def records(self) -> list[PromiseRecord]:
        return list(self._records.values())

    def unsaved(self) -> list[PromiseRecord]:
        return [r for k, r in self._records.items() if self._saved.get(k) != r.revision]

    def saved(self, records: Iterable[PromiseRecord]) -> None:
        """Mark the rows a save carried (later changes go with the next save)."""
        for record in records:
            self._saved[record.promise] = record.revision

    @property
    def dirty(self) -> bool:
        return bool(self.unsaved())

    @property
    def _now(self) -> datetime:
        return workflow.now()

    def _apply(self, kind: PromiseKind, change: Callable[[PromiseRecord], PromiseRecord]) -> None:
        current = self._records.get(kind)
        if current is None:
            return
        self._put(change(current))

    def _put(self, record: PromiseRecord) -> None:
        if not self.enabled:
            return
        current = self._records.get(record.promise)
        if current is not None and record.revision <= current.revision and record is not current:
            record = record.model_copy(update={"revision": current.revision + 1})
        self._records[record.promise] = record


def _rewritten(record: PromiseRecord) -> PromiseRecord:
    """The same row, written again (a new revision)."""
    return record.model_copy(update={"revision": record.revision + 1})


def _moved_to(due: datetime | None) -> Callable[[PromiseRecord], PromiseRecord]:
    return lambda record: rules.due_moved(record, due)
