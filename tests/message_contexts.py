"""Message contexts for rendering any template in tests: every variable a template reads,
given its longest plausible value and each flag the value that adds a line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment, FileSystemLoader, meta

from promptly.domain import links
from promptly.domain.common import Locale
from promptly.domain.keys import LINKS, Keyring
from promptly.domain.rendering import TEMPLATES

KEYS = Keyring.of(LINKS, "link-secret-for-the-sms-rule-tests-0123456789")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

LONG = "Łukasz Wiśniewski-Żółtowski i Syn"  # 33 characters, diacritics
DATES = {
    "start",
    "estimate",
    "closes_at",
    "sla_deadline",
    "verdict_deadline",
    "ack_deadline",
    "deadline",
    "supervisor_at",
    "filed_at",
    "answer_deadline",
    "answer_latest",
    "received_at",
    "resumed_at",
    "hold_until",
    "no_show_at",
    "decide_by",
    "charged_from",
}


def every_line(template: str, locale: Locale) -> dict[str, Any]:
    """A context for `template` that renders its every line with its longest values: each
    variable its templates (the email's and the SMS's) read, by name."""
    env = Environment(loader=FileSystemLoader(TEMPLATES / locale.value))
    env.filters.update(when=str, when_short=str, duration=str, relinked=links.relink)  # parsed only
    names: set[str] = set()
    for path in (f"{template}.j2", f"sms/{template}.j2"):
        try:
            source = env.loader.get_source(env, path)[0]  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - no such variant
            continue
        names |= meta.find_undeclared_variables(env.parse(source))
    base_url = "https://umow.przychodnia-example.pl"
    token = links.sign_compact(
        KEYS,
        links.LinkClaims(  # as a visit's links are signed: its start and its moves
            case_id="appointment-A-2026-000123",
            action="reschedule",
            expires_at=NOW + timedelta(days=14),
            for_start=NOW + timedelta(days=3),
            moves=12,
        ),
    )
    context: dict[str, Any] = {}
    for name in names:
        if name in DATES:
            context[name] = "2026-12-02T10:30:00+01:00"
        elif name == "links":
            context[name] = {
                a: f"{base_url}/c/{token}"
                for a in ("confirm", "cancel", "reschedule", "survey", "calendar")
            }
        elif name in (
            "late_change_within",
            "no_show_after",
            "answer_within",
            "supervisor_after",
            "escalated_after",
        ):
            context[name] = 48 * 3600  # two digits of hours
        elif name in ("minutes", "escalation_level", "attempt"):
            context[name] = 45
        elif name in ("confirmed", "reopened", "business_hours_only", "changes_free", "late_now"):
            context[name] = False  # the longer text: the one that states the terms
        elif name in (
            "prepayment_required",
            "late_reschedule_charged",
            "escalated_in_office_hours",
        ):
            context[name] = True  # every line a flag adds, at once
        elif name == "reference":
            context[name] = "A-2026-000123"  # the id the links carry
        elif name == "service":
            context[name] = "Konsultacja fizjoterapeutyczna z oceną postawy ciała"
        elif name == "location":
            context[name] = "ul. Świętokrzyska 12/14 lok. 3, 00-916 Warszawa-Śródmieście"
        else:
            context[name] = LONG
    return context
