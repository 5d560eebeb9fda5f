"""Every text pattern the API checks says what it means: a refusal names the meaning, never
the regular expression (promptly/domain/text_patterns.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from promptly.api.app import create_app
from promptly.config import Settings
from promptly.domain import text_patterns
from promptly.domain.common import Person
from promptly.domain.text_patterns import MEANINGS, TextPattern
from promptly.services.errors import validation_problems

PATTERNS = [value for value in vars(text_patterns).values() if isinstance(value, TextPattern)]


def _patterns_in(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return found.union(*(_patterns_in(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_patterns_in(value) for value in schema))
    return set()


def test_every_pattern_in_the_api_says_what_it_means(settings: Settings) -> None:
    in_schema = _patterns_in(create_app(settings, dev_tools=True).openapi())
    assert in_schema, "the schema names the patterns it checks"
    assert in_schema - MEANINGS.keys() == set()


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.meaning[:24])
def test_a_meanings_example_fits_its_pattern(pattern: TextPattern) -> None:
    assert pattern.regex in MEANINGS
    examples = re.findall(r"\(e\.g\. ([^)]+)\)", pattern.meaning)
    for example in examples:
        assert re.match(pattern.regex, example), (example, pattern.regex)


def test_a_refused_phone_number_is_told_how_to_write_it() -> None:
    client = {"id": "C-1", "name": "Anna", "phone": "600-100-200", "timezone": "UTC"}
    with pytest.raises(ValidationError) as refused:
        Person.model_validate(client)
    problems = dict(validation_problems(refused.value.errors()))
    assert problems["phone"] == (
        "must be an international number: '+', the country code and the number, "
        "7 to 15 digits in all, without spaces (e.g. +48600100200)"
    )
    assert "^" not in " ".join(problems.values())  # no regular expression anywhere
