"""The QA report's promise figures, from the promise ledger (pure).

The workflows write a verdict per promise as they decide (promptly/domain/promises.py); the
report counts those verdicts, and a complaint counts as resolved within 48h, or as breached,
by its `complaint_resolved_within_48h` row: the same verdict the `SlaBreached` search
attribute and the history export show. A complaint filed before the ledger existed has no
row and keeps the figures from its timeline.

Which promises a period covers: those of the cases the report covers (appointments by their
start, other cases by when they were opened).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from promptly.domain.common import PromiseKind, PromiseVerdict

RESOLUTION = PromiseKind.COMPLAINT_RESOLVED.value


@dataclass(frozen=True)
class PromiseFact:
    case_id: str
    promise: str
    verdict: str


@dataclass(frozen=True)
class PromiseTally:
    """How one promise fared: kept of decided (kept + broken); waived and n/a apart."""

    promise: str
    kept: int = 0
    broken: int = 0
    waived: int = 0
    not_applicable: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        return self.kept + self.broken

    @property
    def percent_kept(self) -> float | None:
        return None if self.decided == 0 else round(100 * self.kept / self.decided, 1)

    def __str__(self) -> str:
        rate = "–" if self.percent_kept is None else f"{self.percent_kept:g}%"
        extra = [
            f"{n} {label}"
            for n, label in (
                (self.waived, "waived"),
                (self.not_applicable, "n/a"),
                (self.pending, "pending"),
            )
            if n
        ]
        return f"{rate} kept ({self.kept} of {self.decided})" + (
            f"; {', '.join(extra)}" if extra else ""
        )


def tally(facts: Iterable[PromiseFact]) -> list[PromiseTally]:
    """One tally per promise kind, in the order of the procedures (kinds with no row left out)."""
    counts = Counter((f.promise, f.verdict) for f in facts)
    out = []
    for kind in PromiseKind:
        found = {v: counts.get((kind.value, v.value), 0) for v in PromiseVerdict}
        if not any(found.values()):
            continue
        out.append(
            PromiseTally(
                promise=kind.value,
                kept=found[PromiseVerdict.KEPT],
                broken=found[PromiseVerdict.BROKEN],
                waived=found[PromiseVerdict.WAIVED],
                not_applicable=found[PromiseVerdict.NOT_APPLICABLE],
                pending=found[PromiseVerdict.PENDING],
            )
        )
    return out


class _HasCase(Protocol):
    @property
    def case_id(self) -> str: ...


C = TypeVar("C", bound=_HasCase)


def with_resolution_verdicts(complaints: Sequence[C], facts: Iterable[PromiseFact]) -> list[C]:
    """Each complaint fact with its ledger verdict for the 48h resolution promise."""
    verdicts = {f.case_id: f.verdict for f in facts if f.promise == RESOLUTION}
    return [
        replace(c, resolution_promise=verdicts[c.case_id])  # type: ignore[type-var]
        if c.case_id in verdicts
        else c
        for c in complaints
    ]


def lines(tallies: Sequence[PromiseTally]) -> list[tuple[str, str, str]]:
    """(section, label, value) rows of the report's "Promises" section."""
    if not tallies:
        return [("Promises", "Promises on the ledger", "0")]
    return [("Promises", t.promise.replace("_", " "), str(t)) for t in tallies]


def csv_rows(tallies: Sequence[PromiseTally]) -> list[list[object]]:
    rows: list[list[object]] = []
    for t in tallies:
        rows.append(
            [
                "promise_kept_pct",
                t.promise,
                "" if t.percent_kept is None else t.percent_kept,
                t.kept,
                t.decided,
            ]
        )
        rows += [
            ["promise_verdicts", f"{t.promise}/{verdict}", n, "", ""]
            for verdict, n in (
                ("broken", t.broken),
                ("waived", t.waived),
                ("not_applicable", t.not_applicable),
                ("pending", t.pending),
            )
        ]
    return rows
