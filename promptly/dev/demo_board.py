"""What `make demo` prints: a line per status change and per timeline entry as it happens,
and on a terminal a live table of the cases below them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from promptly.domain.common import TimelineEntry


@dataclass
class Row:
    expected: str
    start: datetime
    status: str = "booking"
    last: str = ""


class Board:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(soft_wrap=True)  # one line per event, in logs too
        self.rows: dict[str, Row] = {}
        self.changes: list[tuple[str, str, str]] = []  # (case, from, to), in order
        self._live: Live | None = None

    def add(self, case: str, expected: str, start: datetime) -> None:
        self.rows[case] = Row(expected=expected, start=start)
        self._refresh()

    def intro(self, text: str) -> None:
        self.say(text)

    def say(self, text: str) -> None:
        self.console.print(Text(text))

    def status(self, case: str, status: str) -> None:
        row = self.rows[case]
        if row.status == status:
            return
        self.changes.append((case, row.status, status))
        self.say(f"{_clock()}  {case:<26} {row.status} → {status}")
        row.status = status
        self._refresh()

    def event(self, case: str, status: str, entry: TimelineEntry) -> None:
        row = self.rows[case]
        row.last = f"{entry.kind.value}: {entry.detail}"
        self.console.print(
            Text(f"{_clock()}  {case:<26}   {entry.kind.value}: {entry.detail}", style="dim")
        )
        self._refresh()

    def table(self) -> Table:
        table = Table(title="demo cases", expand=False)
        for column in ("case", "status", "ends as", "visit", "last event"):
            table.add_column(column)
        for case, row in self.rows.items():
            table.add_row(
                case,
                row.status,
                row.expected,
                f"{row.start.astimezone():%H:%M:%S}",
                Text(row.last[:60]),
            )
        return table

    @contextmanager
    def live(self) -> Iterator[None]:
        """A live table at the bottom of a terminal; plain lines elsewhere (CI, pipes)."""
        if not self.console.is_terminal:
            yield
            return
        with Live(self.table(), console=self.console, refresh_per_second=4) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.table())


def _clock() -> str:
    return f"{datetime.now().astimezone():%H:%M:%S}"
