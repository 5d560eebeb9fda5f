"""What `make demo` prints: a line per status change and per timeline entry as it happens,
and on a terminal a live table of the cases below them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from promptly.domain.common import TimelineEntry
from promptly.domain.readable_time import readable_text


@dataclass
class Row:
    expected: str
    start: datetime
    status: str = "booking"
    last: str = ""


class Board:
    """Times are shown in `timezone` (the office's), as `promptly status` shows them: the
    machine's clock may be UTC while the messages say Warsaw time."""

    def __init__(self, console: Console | None = None, timezone: str = "UTC") -> None:
        self.console = console or Console(soft_wrap=True)  # one line per event, in logs too
        self.timezone = timezone
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

    def status(self, case: str, status: str, why: str = "") -> None:
        """One line per change: the move and, from the timeline, what made it."""
        row = self.rows[case]
        if row.status == status:
            return
        self.changes.append((case, row.status, status))
        because = f": {self._readable(why)}" if why else ""
        self.say(f"{self._clock()}  {case:<26} {row.status} → {status}{because}")
        row.status = status
        self._refresh()

    def event(self, case: str, entry: TimelineEntry) -> None:
        row = self.rows[case]
        detail = self._readable(entry.detail)
        row.last = f"{entry.kind.value}: {detail}"
        self.console.print(
            Text(f"{self._clock()}  {case:<26}   {entry.kind.value}: {detail}", style="dim")
        )
        self._refresh()

    def at(self, moment: datetime) -> str:
        """`20:50:03`: a moment on the compressed clock, to the second, in the board's zone."""
        return f"{moment.astimezone(ZoneInfo(self.timezone)):%H:%M:%S}"

    def _clock(self) -> str:
        return self.at(datetime.now().astimezone())

    def _readable(self, text: str) -> str:
        return readable_text(text, self.timezone)

    def table(self) -> Table:
        table = Table(title="demo cases", expand=False)
        for column in ("case", "status", "ends as", "visit", "last event"):
            table.add_column(column)
        for case, row in self.rows.items():
            table.add_row(
                case,
                row.status,
                row.expected,
                self.at(row.start),
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
