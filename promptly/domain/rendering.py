"""Renders message templates (templates/{locale}/{name}.j2) in the recipient's language.

A template's first line is the subject, the rest the body. Datetimes are shown in the
recipient's timezone and locale by the `when` filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from promptly.domain.models import Locale

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


@cache
def _environment(locale: Locale, timezone: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES / locale.value),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    tz = ZoneInfo(timezone)

    def when(value: datetime | str) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment, "EEEE, d MMMM y, HH:mm", tzinfo=tz, locale=locale.value)

    env.filters["when"] = when
    return env


def template_names() -> set[str]:
    return {path.stem for path in (TEMPLATES / Locale.EN.value).glob("*.j2")}


def render(
    template: str, locale: Locale, timezone: str, context: dict[str, Any]
) -> RenderedMessage:
    text = _environment(locale, timezone).get_template(f"{template}.j2").render(**context)
    subject, _, body = text.partition("\n")
    return RenderedMessage(subject=subject.strip(), body=body.strip() + "\n")
