"""Every duration setting has a floor, and a refused value stops a process with one clear line.

A negative `PROMPTLY_NO_SHOW_AFTER` would mark every client a no-show before the visit began,
a zero `PROMPTLY_CALL_INTERVAL` would ring the client three times at once: the operator hears
of it when the worker starts, not from a client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import AfterValidator, ValidationError

from promptly.config import Settings, settings_problems
from promptly.domain.common import NonNegativeDuration, PositiveDuration
from tests.complaint_helpers import matrix, write_matrix
from tests.helpers import promptly_process

DURATIONS = sorted(
    name for name, field in Settings.model_fields.items() if field.annotation is timedelta
)


def _meta(name: str) -> list[object]:
    return list(Settings.model_fields[name].metadata)


def _floor(type_: object) -> object:
    """The floor an annotated duration type adds to a field's metadata (its after-validator)."""
    metadata = type_.__metadata__  # type: ignore[attr-defined]
    return next(m.func for m in metadata if isinstance(m, AfterValidator))


POSITIVE = {
    name
    for name in DURATIONS
    if any(getattr(m, "func", None) is _floor(PositiveDuration) for m in _meta(name))
}
NON_NEGATIVE = {
    name
    for name in DURATIONS
    if any(getattr(m, "func", None) is _floor(NonNegativeDuration) for m in _meta(name))
}


def _env(name: str) -> str:
    return f"PROMPTLY_{name.upper()}"


def refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> list[str]:
    """What the settings say of `variable=value`, one line per refused variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refusal:
        Settings()
    return settings_problems(refusal.value)


def test_every_duration_setting_has_a_floor() -> None:
    assert len(DURATIONS) >= 20
    assert POSITIVE.isdisjoint(NON_NEGATIVE)
    assert set(DURATIONS) == POSITIVE | NON_NEGATIVE, (
        "type the new duration PositiveDuration or NonNegativeDuration (domain/common.py)"
    )
    assert "no_show_after" in NON_NEGATIVE
    assert "call_interval" in POSITIVE


@pytest.mark.parametrize("name", DURATIONS)
def test_a_negative_duration_is_refused_by_name(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert refused(monkeypatch, _env(name), "-PT5M") == [
        f"refused setting {_env(name)}: must not be a negative duration, got -0:05:00"
        if name in NON_NEGATIVE
        else f"refused setting {_env(name)}: must be a positive duration, got -0:05:00"
    ]


@pytest.mark.parametrize("name", sorted(POSITIVE))
def test_zero_is_refused_where_a_wait_must_pass(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert refused(monkeypatch, _env(name), "PT0S") == [
        f"refused setting {_env(name)}: must be a positive duration, got 0:00:00"
    ]


@pytest.mark.parametrize("name", sorted(NON_NEGATIVE))
def test_zero_means_none_where_it_is_a_margin(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_env(name), "PT0S")
    assert getattr(Settings(), name) == timedelta(0)


@pytest.mark.parametrize("name", DURATIONS)
def test_a_duration_in_plain_seconds_is_read_as_seconds(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings.md: durations as seconds or ISO 8601. An environment variable is text, and
    pydantic alone reads `3600` as neither."""
    default = Settings.model_fields[name].default
    # A value other than the default (so an ignored variable would show), within its bounds.
    for wanted in (default + timedelta(seconds=1), default - timedelta(seconds=1)):
        monkeypatch.setenv(_env(name), f"PT{wanted.total_seconds():.0f}S")
        with contextlib.suppress(ValidationError):
            assert getattr(Settings(), name) == wanted
            break
    monkeypatch.setenv(_env(name), f"{wanted.total_seconds():.0f}")
    assert getattr(Settings(), name) == wanted != default


def test_a_negative_number_of_seconds_is_refused_like_a_negative_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert refused(monkeypatch, "PROMPTLY_NO_SHOW_AFTER", "-300") == [
        "refused setting PROMPTLY_NO_SHOW_AFTER: must not be a negative duration, got -0:05:00"
    ]


def test_a_ceiling_is_named_with_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refused(monkeypatch, "PROMPTLY_COMPLAINT_UPDATE_EVERY", "PT25H") == [
        "refused setting PROMPTLY_COMPLAINT_UPDATE_EVERY: "
        "Input should be less than or equal to 1 day"
    ]


@pytest.mark.parametrize("command", [["worker"], ["api", "--port", "8799"], ["setup"]])
def test_a_process_with_a_refused_setting_says_which_and_exits_2(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTLY_")}
    env |= {"PROMPTLY_CALL_INTERVAL": "PT0S", "PROMPTLY_NO_SHOW_AFTER": "-PT5M"}
    done = promptly_process(*command, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "promptly: refused setting PROMPTLY_CALL_INTERVAL: must be a positive duration, "
        "got 0:00:00",
        "promptly: refused setting PROMPTLY_NO_SHOW_AFTER: must not be a negative duration, "
        "got -0:05:00",
    ]


# --- the office calendar the follow-up calls are planned in ------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "PROMPTLY_BUSINESS_DAYS",
            "[]",
            "refused setting PROMPTLY_BUSINESS_DAYS: List should have at least 1 item after "
            "validation, not 0",
        ),
        (
            "PROMPTLY_BUSINESS_DAYS",
            "[0, 7]",
            "refused setting PROMPTLY_BUSINESS_DAYS.1: Input should be less than or equal to 6",
        ),
        (
            "PROMPTLY_HOLIDAYS",
            '["2026-12-24", "24.12.2026"]',
            "refused setting PROMPTLY_HOLIDAYS.1: '24.12.2026' is not an ISO date like 2026-12-25",
        ),
        (
            "PROMPTLY_BUSINESS_HOURS_START",
            "18",
            "refused settings: business_hours_start must be before business_hours_end (office "
            "hours do not wrap midnight)",
        ),
    ],
)
def test_an_office_with_no_hour_to_call_in_is_refused(
    variable: str, value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert refused(monkeypatch, variable, value) == [problem]


def test_a_valid_office_calendar_reaches_the_appointment_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTLY_BUSINESS_DAYS", "[0, 2, 4]")
    monkeypatch.setenv("PROMPTLY_HOLIDAYS", '["2026-12-24", "2026-12-25"]')
    monkeypatch.setenv("PROMPTLY_BUSINESS_HOURS_START", "9")
    office = Settings().appointment_policy().business
    assert office is not None
    assert office.weekdays == [0, 2, 4]
    assert office.holidays == ["2026-12-24", "2026-12-25"]
    assert (office.hours.start_hour, office.hours.end_hour) == (9, 18)


# --- rules the worker used to find only after it connected -------------------------------------


def test_a_supervisor_alert_before_the_front_desks_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """settings.md: the supervisor's alert comes after the front desk's."""
    assert refused(monkeypatch, "PROMPTLY_INQUIRY_ANSWER_WITHIN", "PT48H") == [
        "refused settings: inquiry_supervisor_after must be longer than inquiry_answer_within"
    ]


def test_a_bad_matrix_file_is_refused_one_line_per_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """cases.md: `file:line: path: reason` for each problem, under the variable's name."""
    path = write_matrix(tmp_path, matrix(routes=[{"category": "billing", "department": "legal"}]))
    head = "refused setting PROMPTLY_ESCALATION_MATRIX"
    [unknown, no_default] = refused(monkeypatch, "PROMPTLY_ESCALATION_MATRIX", str(path))
    assert re.fullmatch(
        rf"{head}: {path}:\d+: routes\[0\]\.department: unknown department 'legal' .*", unknown
    ), unknown
    assert re.fullmatch(rf"{head}: {path}:\d+: routes: no default route: .*", no_default)
    path.write_text(json.dumps(matrix(tiers={"default": {"breach_after": -3600}}), indent=2))
    [tier] = refused(monkeypatch, "PROMPTLY_ESCALATION_MATRIX", str(path))
    assert re.fullmatch(
        rf"{head}: {path}:\d+: tiers\.default\.breach_after: must be a positive duration, .*", tier
    ), tier
    assert refused(monkeypatch, "PROMPTLY_ESCALATION_MATRIX", str(tmp_path / "none.json")) == [
        f"{head}: {tmp_path / 'none.json'}:?: (top): cannot read the file: [Errno 2] No such "
        f"file or directory: '{tmp_path / 'none.json'}'"
    ]


def test_a_good_matrix_file_is_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_matrix(tmp_path, matrix())
    monkeypatch.setenv("PROMPTLY_ESCALATION_MATRIX", str(path))
    assert list(Settings().complaint_matrix().departments) == ["care"]
