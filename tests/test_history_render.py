"""What a compliance reader sees in a rendered export (Markdown, HTML, JSON), on export
models built by hand: times to the second with their UTC offset. The same models `load_case`
fills from PostgreSQL (tests/test_history_export.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from promptly.domain.readable_time import exact, readable, readable_text
from promptly.services.history_models import CaseExport, ExportedEntry, Format
from promptly.services.history_render import render_case
from promptly.services.promise_ledger import LedgerRow

WARSAW = "Europe/Warsaw"
ZONE = ZoneInfo(WARSAW)


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A UTC moment, in the export's timezone (as load_case hands them over)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).astimezone(ZONE)


def case(
    entries: tuple[ExportedEntry, ...] = (),
    starts_at: datetime | None = None,
    kind: str = "appointment",
) -> CaseExport:
    return CaseExport(
        case_id=f"{kind}-X-1",
        kind=kind,
        business_id="X-1",
        status="Open",
        client_id="C-17",
        provider_id=None,
        starts_at=starts_at,
        details={},
        timezone=WARSAW,
        entries=list(entries),
    )


# --- times ---------------------------------------------------------------------------------


def test_two_visits_an_hour_apart_across_the_autumn_clock_change_export_apart() -> None:
    first, second = at(2027, 10, 31, 0, 30), at(2027, 10, 31, 1, 30)  # both 02:30 in Warsaw
    one, other = (render_case(case(starts_at=start), Format.MD) for start in (first, second))
    assert "| visit | 2027-10-31 02:30:00 +02:00 |" in one
    assert "| visit | 2027-10-31 02:30:00 +01:00 |" in other
    assert f"| times in | {WARSAW} |" in one  # the zone named once, in the header
    one, other = (render_case(case(starts_at=start), Format.HTML) for start in (first, second))
    assert "<th>visit</th><td>2027-10-31 02:30:00 +02:00</td>" in one
    assert "<th>visit</th><td>2027-10-31 02:30:00 +01:00</td>" in other
    # The short form people read at work tells the repeated hour apart by its offset too.
    assert readable(first, WARSAW) == "2027-10-31 02:30 Europe/Warsaw (+02:00)"
    assert readable(second, WARSAW) == "2027-10-31 02:30 Europe/Warsaw (+01:00)"
    assert readable(at(2027, 10, 31, 2, 30), WARSAW) == "2027-10-31 03:30 Europe/Warsaw"


def test_a_late_cancellation_shows_its_seconds_against_the_free_cancellation_line() -> None:
    start = at(2026, 12, 3, 1, 18)  # the free-cancellation line: 2026-12-02 02:18:00 +01:00
    cancelled = ExportedEntry(
        seq=5,
        at=at(2026, 12, 2, 1, 18, 7),
        kind="status",
        actor="client:C-17 via crm",
        detail="Cancelled (late: after 2026-12-02T01:18:00+00:00)",
        data={"status": "LateCancelled", "previous": "Booked", "billing": "late_cancel"},
    )
    export = case((cancelled,), starts_at=start).model_copy(
        update={
            "promises": [
                LedgerRow(
                    case_id="appointment-X-1",
                    promise="cancellation_terms",
                    case_kind="appointment",
                    business_id="X-1",
                    client_id="C-17",
                    verdict="kept",
                    promised_at=at(2026, 11, 20, 9, 0),
                    due_at=at(2026, 12, 2, 1, 18),
                    met_at=at(2026, 12, 2, 1, 18, 7),
                    decided_at=at(2026, 12, 2, 1, 18, 7),
                    cause=None,
                    actor=None,
                )
            ]
        }
    )
    md = render_case(export, Format.MD)
    # The promise ledger's table, as the export's other times.
    assert "| kept | 2026-12-02 02:18:00 +01:00 | 2026-12-02 02:18:07 +01:00 |" in md
    assert "| visit | 2026-12-03 02:18:00 +01:00 |" in md
    assert "### 1. 2026-12-02 02:18:07 +01:00 · status · client:C-17 via crm" in md
    # Machine times the workflow wrote into a detail read the same way.
    assert "Cancelled \\(late: after 2026-12-02 02:18:00 +01:00\\)" in md
    html = render_case(export, Format.HTML)
    assert "<td>2026-12-02 02:18:07 +01:00</td>" in html
    assert "late: after 2026-12-02 02:18:00 +01:00" in html
    assert json.loads(render_case(export, Format.JSON))["entries"][0]["at"] == (
        "2026-12-02T02:18:07+01:00"
    )


def test_exact_times_name_the_offset_in_every_zone() -> None:
    moment = datetime(2026, 7, 1, 12, 0, 5, 999_000, tzinfo=UTC)
    assert exact(moment, "America/New_York") == "2026-07-01 08:00:05 -04:00"
    assert exact(moment, "Asia/Kolkata") == "2026-07-01 17:30:05 +05:30"
    assert exact(moment, "UTC") == "2026-07-01 12:00:05 +00:00"
    assert exact(None, "UTC") == "-"
    assert readable_text("due 2026-07-01T12:00:05Z", WARSAW, exact) == (
        "due 2026-07-01 14:00:05 +02:00"
    )
