"""The escalation matrix file: parsed, validated, and every problem reported with its line.

The matrix (category × severity → department, owner, tiers, office hours) is JSON shipped
in the package (`escalation_matrix.json`) or at `PROMPTLY_ESCALATION_MATRIX`. Every process
parses it when it reads its settings; a bad file stops it with `file:line: path: reason` for
each problem, so nobody learns of a typo from a complaint that went nowhere. Pure: the caller
reads the file and passes its text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path  # noqa: TID251  # the matrix packaged with the code
from typing import NamedTuple

from pydantic import ValidationError

from promptly.domain.complaints.models import ANY_ROUTE, EscalationMatrix

PACKAGED_MATRIX = Path(__file__).parent / "escalation_matrix.json"

Location = tuple[str | int, ...]


class MatrixProblem(NamedTuple):
    line: int | None
    path: str
    reason: str


class MatrixError(ValueError):
    """The matrix cannot be used; `problems` says where and why."""

    def __init__(self, source: str, problems: list[MatrixProblem]) -> None:
        self.source = source
        self.problems = problems
        # One `file:line: path: reason` per problem.
        self.lines = [
            f"{source}:{problem.line or '?'}: {problem.path or '(top)'}: {problem.reason}"
            for problem in problems
        ]
        super().__init__("escalation matrix refused:\n" + "\n".join(self.lines))


def parse_matrix(text: str, source: str = "escalation matrix") -> EscalationMatrix:
    """The validated matrix, or MatrixError listing every problem with its line."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        reason = f"not valid JSON: {err.msg} (column {err.colno})"
        raise MatrixError(source, [MatrixProblem(err.lineno, "", reason)]) from err
    lines = _line_index(text)
    try:
        matrix = EscalationMatrix.model_validate(raw)
    except ValidationError as err:
        problems = [
            MatrixProblem(
                _line_of(tuple(error["loc"]), lines),
                _dotted(tuple(error["loc"])),
                _reason(error["msg"]),
            )
            for error in err.errors()
        ]
        raise MatrixError(source, problems) from err
    found = matrix_problems(matrix)
    if found:
        raise MatrixError(
            source,
            [MatrixProblem(_line_of(loc, lines), _dotted(loc), reason) for loc, reason in found],
        )
    return matrix


def matrix_problems(matrix: EscalationMatrix) -> list[tuple[Location, str]]:
    """What the schema cannot see: unknown departments, duplicates, no default route."""
    problems: list[tuple[Location, str]] = []
    known = ", ".join(sorted(matrix.departments))
    seen: dict[tuple[str, str], int] = {}
    for index, route in enumerate(matrix.routes):
        if route.department not in matrix.departments:
            problems.append(
                (
                    ("routes", index, "department"),
                    f"unknown department {route.department!r} (known: {known})",
                )
            )
        key = (route.category, str(route.severity))
        if key in seen:
            problems.append(
                (("routes", index), f"duplicates routes[{seen[key]}] ({key[0]}/{key[1]})")
            )
        seen.setdefault(key, index)
    if (ANY_ROUTE, ANY_ROUTE) not in seen:
        problems.append(
            (
                ("routes",),
                'no default route: add one with "category": "*" and "severity": "*" so every '
                "complaint reaches a department",
            )
        )
    return problems


def _reason(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _dotted(loc: Location) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _line_of(loc: Location, lines: dict[Location, int]) -> int | None:
    """The line of the deepest part of `loc` present in the file (a missing field: its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _line_index(text: str) -> dict[Location, int]:
    """The line of every value in a valid JSON text, by its path (object members: their key)."""
    decoder = json.JSONDecoder()
    lines: dict[Location, int] = {}

    def line(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def skip(offset: int) -> int:
        match = _WHITESPACE.match(text, offset)
        return match.end() if match else offset

    def value(offset: int, path: Location) -> int:
        offset = skip(offset)
        lines.setdefault(path, line(offset))
        if text[offset] == "{":
            offset = skip(offset + 1)
            if text[offset] == "}":
                return offset + 1
            while True:
                key_at = skip(offset)
                key, offset = decoder.raw_decode(text, key_at)
                key = str(key)
                lines[(*path, key)] = line(key_at)
                offset = skip(offset) + 1  # the colon
                offset = skip(value(offset, (*path, key)))
                if text[offset] == ",":
                    offset += 1
                    continue
                return offset + 1
        if text[offset] == "[":
            offset = skip(offset + 1)
            if text[offset] == "]":
                return offset + 1
            index = 0
            while True:
                offset = skip(value(offset, (*path, index)))
                index += 1
                if text[offset] == ",":
                    offset += 1
                    continue
                return offset + 1
        _, end = decoder.raw_decode(text, offset)
        return int(end)

    value(0, ())
    return lines
