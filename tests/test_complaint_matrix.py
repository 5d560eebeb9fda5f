"""The escalation matrix file: what it routes, and every mistake refused at worker start with
the line and the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.complaints import escalation
from promptly.domain.complaints.escalation import MatrixError, parse_matrix
from promptly.domain.complaints.models import Severity
from promptly.domain.complaints.sla import route_complaint
from promptly.worker import create_worker
from tests.complaint_helpers import contact, matrix, write_matrix


def _problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, "matrix.json")
    return [tuple(problem) for problem in caught.value.problems]  # type: ignore[misc]


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _text(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2)


def test_the_packaged_matrix_is_valid_and_routes_every_complaint() -> None:
    parsed = parse_matrix(escalation.PACKAGED_MATRIX.read_text(), "packaged")
    billing = route_complaint(parsed, "Billing", Severity.NORMAL)
    assert billing.department == "billing" and billing.business_hours is not None
    assert route_complaint(parsed, "billing", Severity.CRITICAL).rule == "billing/critical"
    anything = route_complaint(parsed, "parking", Severity.LOW)
    assert anything.department == "customer_care" and anything.rule == "*/*"
    assert anything.tiers.supervisor_after.total_seconds() == 24 * 3600
    critical = route_complaint(parsed, "parking", Severity.CRITICAL)
    assert critical.tiers.breach_after.total_seconds() == 8 * 3600


def test_unknown_department_is_refused_with_its_line() -> None:
    text = _text(
        matrix(
            routes=[
                {"category": "legal", "department": "lawyers"},
                {"category": "*", "severity": "*", "department": "care"},
            ]
        )
    )
    assert _problems(text) == [
        (
            _line_of(text, '"department": "lawyers"'),
            "routes[0].department",
            "unknown department 'lawyers' (known: care)",
        )
    ]


def test_matrix_without_a_default_route_is_refused() -> None:
    text = _text(matrix(routes=[{"category": "billing", "severity": "*", "department": "care"}]))
    [(line, path, reason)] = _problems(text)
    assert (line, path) == (_line_of(text, '"routes"'), "routes")
    assert reason.startswith('no default route: add one with "category": "*" and "severity": "*"')


def test_negative_and_inverted_durations_are_refused() -> None:
    text = _text(
        matrix(
            tiers={
                "critical": {"supervisor_after": "-PT4H", "breach_after": "PT8H"},
                "default": {"supervisor_after": "PT48H", "breach_after": "PT24H"},
            }
        )
    )
    assert _problems(text) == [
        (
            _line_of(text, '"-PT4H"'),
            "tiers.critical.supervisor_after",
            "must be a positive duration, got -4:00:00",
        ),
        (
            _line_of(text, '"default": {'),
            "tiers.default",
            "supervisor_after (2 days, 0:00:00) must be shorter than breach_after (1 day, 0:00:00)",
        ),
    ]


def test_schema_mistakes_name_the_line_field_and_reason() -> None:
    departments = {
        "care": {
            "name": "Care",
            "owner": contact("care"),
            "manager": {"name": "Boss"},
            "business_hours": {"hours": {"start_hour": 18, "end_hour": 8}, "holidays": ["25.12"]},
        }
    }
    content = matrix(departments=departments, tiers={"urgent": {}})
    content["routes"][0]["severity"] = "sometimes"
    text = _text(content)
    problems = {path: (line, reason) for line, path, reason in _problems(text)}
    assert problems["departments.care.manager.email"] == (
        _line_of(text, '"manager"'),
        "Field required",
    )
    assert problems["departments.care.business_hours"][1] == (
        "hours: start_hour 18 must be before end_hour 8"
    )
    assert problems["tiers.urgent.[key]"][0] == _line_of(text, '"urgent"')
    assert (
        "Input should be 'default', 'low', 'normal', 'high' or 'critical'"
        in (problems["tiers.urgent.[key]"][1])
    )
    assert problems["routes[0].severity"] == (
        _line_of(text, '"sometimes"'),
        "Input should be '*', 'low', 'normal', 'high' or 'critical'",
    )


def test_holidays_must_be_iso_dates() -> None:
    departments = {
        "care": {
            "name": "Care",
            "owner": contact("care"),
            "manager": contact("boss"),
            "business_hours": {"holidays": ["2026-12-25", "25.12.2026"]},
        }
    }
    text = _text(matrix(departments=departments))
    assert _problems(text) == [
        (
            _line_of(text, '"business_hours"'),
            "departments.care.business_hours",
            "holidays: '25.12.2026' is not an ISO date like 2026-12-25",
        )
    ]


def test_broken_json_is_refused_with_its_line() -> None:
    text = '{\n  "departments": {},\n  "routes": [,]\n}\n'
    [(line, _, reason)] = _problems(text)
    assert line == 3 and reason.startswith("not valid JSON: Expecting value")


def test_the_error_message_reads_file_line_path_reason() -> None:
    text = _text(matrix(routes=[{"category": "*", "severity": "*", "department": "x"}]))
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, "/etc/promptly/matrix.json")
    line = _line_of(text, '"department": "x"')
    assert str(caught.value).splitlines()[1] == (
        f"/etc/promptly/matrix.json:{line}: routes[0].department: unknown department 'x' "
        "(known: care)"
    )


async def test_worker_refuses_to_start_with_a_bad_matrix(
    env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    path = write_matrix(tmp_path, matrix(tiers={"default": {"breach_after": -3600}}))
    settings.escalation_matrix = str(path)
    with pytest.raises(MatrixError, match=rf"{path}:\d+: tiers.default.breach_after: must be"):
        create_worker(env.client, settings)
    settings.escalation_matrix = str(tmp_path / "missing.json")
    with pytest.raises(MatrixError, match="cannot read the file"):
        create_worker(env.client, settings)
