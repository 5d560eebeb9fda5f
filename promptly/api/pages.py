"""The small server-rendered pages behind client links, in English and Polish.

No JavaScript: every action is a plain form POST. Pages are never cached, never framed,
never indexed, and send no referrer (the link's token is in the URL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, StrictUndefined

from promptly.api.page_texts import TEXT
from promptly.domain.common import Locale

_TEMPLATE = """<!doctype html>
<html lang="{{ locale }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ page.title }} · Promptly</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#222}
main{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem}
main.problem{border-color:#d88}
/* A long URL or address in the notes wraps rather than push the page past a phone's width. */
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.25rem 1rem}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
label{display:block;margin:.75rem 0 .25rem}
textarea,input{font:inherit;width:100%;box-sizing:border-box;padding:.4rem}
button{font:inherit;font-size:1.1rem;margin-top:1rem;padding:.6rem 1.2rem;border:0;
border-radius:6px;background:#176;color:#fff;cursor:pointer}
.scale{display:flex;flex-wrap:wrap;gap:.3rem}.scale button{min-width:2.8rem;padding:.5rem}
.error{color:#a11;font-weight:bold}.note{color:#555;font-size:.9rem}
</style>
</head>
<body>
<main{% if page.problem %} class="problem"{% endif %}>
<h1>{{ page.title }}</h1>
{% for line in page.lines %}<p>{{ line }}</p>
{% endfor %}
{% if page.details %}<dl>
{% for label, value in page.details %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>{% endif %}
{% if page.form %}<form method="post" action="{{ page.form.action }}">
{% if page.form.error %}<p class="error">{{ page.form.error }}</p>{% endif %}
{% if page.form.kind == "cancel" %}<label for="reason">{{ t["cancel.reason"] }}</label>
<textarea id="reason" name="reason" rows="3" maxlength="2000"></textarea>
{% elif page.form.kind == "reschedule" %}<label for="new_start">{{ page.form.label }}</label>
<input id="new_start" name="new_start" type="datetime-local" required
 value="{{ page.form.value }}">
{% elif page.form.kind == "late" %}<label for="minutes">{{ page.form.label }}</label>
<input id="minutes" name="minutes" type="number" min="1" max="480" required
 value="{{ page.form.value }}">
{% elif page.form.kind == "api_key" %}<label for="key">{{ page.form.label }}</label>
<input id="key" name="key" type="password" required autocomplete="off">
{% elif page.form.kind == "survey" %}<p>{{ t["survey.question"] }}</p>
<label for="comment">{{ t["survey.comment"] }}</label>
<textarea id="comment" name="comment" rows="3" maxlength="4000"></textarea>
<div class="scale">{% for n in range(11) %}
<button type="submit" name="nps" value="{{ n }}">{{ n }}</button>{% endfor %}
</div>
{% endif %}
{% if page.form.button %}<button type="submit">{{ page.form.button }}</button>{% endif %}
</form>{% endif %}
{% if page.note %}<p class="note">{{ page.note }}</p>{% endif %}
{% if page.options %}<nav><p>{{ t["options"] }}</p><ul>
{% for label, href in page.options %}<li><a href="{{ href }}">{{ label }}</a></li>
{% endfor %}</ul></nav>{% endif %}
{% if page.contact %}<p class="contact">{{ t["contact"] }}
<a href="mailto:{{ page.contact }}">{{ page.contact }}</a></p>{% endif %}
</main>
</body>
</html>
"""

_environment = Environment(autoescape=True, undefined=StrictUndefined)
_page_template = _environment.from_string(_TEMPLATE)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Form:
    kind: str  # confirm | cancel | reschedule | late | survey | api_key | logout
    action: str
    button: str = ""
    label: str = ""
    value: str = ""
    error: str = ""


@dataclass(frozen=True)
class Page:
    title: str
    status_code: int = 200
    lines: list[str] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    form: Form | None = None
    note: str = ""
    problem: bool = False
    # Links to the case's other actions, (label, URL): one message link reaches them all.
    options: list[tuple[str, str]] = field(default_factory=list)
    # The office's address a problem page gives the client to write to (front_desk_email).
    contact: str = ""


def text(locale: Locale, key: str, **values: Any) -> str:
    return TEXT[locale][key].format(**values)


def when(moment: datetime, timezone: str, locale: Locale) -> str:
    return format_datetime(
        moment, "EEEE, d MMMM y, HH:mm", tzinfo=ZoneInfo(timezone), locale=locale.value
    )


def status_label(locale: Locale, status: str) -> str:
    return TEXT[locale].get(f"status.{status}", status)


def problem(locale: Locale, kind: str, status_code: int, *extra: str, **values: Any) -> Page:
    """A page saying why a link cannot be used: never a trace, always what to do next."""
    return Page(
        title=text(locale, f"problem.{kind}"),
        status_code=status_code,
        lines=[*extra, text(locale, f"problem.{kind}.text", **values)],
        problem=True,
    )


def render(page: Page, locale: Locale) -> HTMLResponse:
    html = _page_template.render(page=page, locale=locale.value, t=TEXT[locale])
    return HTMLResponse(html, status_code=page.status_code, headers=SECURITY_HEADERS)


def locale_from(accept_language: str | None) -> Locale:
    """The reader's language before we know whose link it is (Accept-Language)."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return Locale.PL if first.startswith("pl") else Locale.EN


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of one of our pages' url-encoded forms (first value of each)."""
    try:
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    except ValueError:  # more fields than any of our forms has: not from our page
        return {}
    # Nobody types a NUL into a page; PostgreSQL could not store one.
    return {name: values[0].replace("\x00", "") for name, values in parsed.items()}
