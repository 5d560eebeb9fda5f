"""Once messages reach real clients (a real SendGrid or Twilio), the laptop defaults are refused
at start, one line per variable: links to localhost and placeholder addresses would otherwise
go out to clients, and Twilio's signatures over a wrong public URL would refuse every reply.
The fakes on localhost (tests, `make run`) are not real providers and keep the defaults."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from promptly.config import Settings, settings_problems
from tests.helpers import promptly_process

REAL = {
    "PROMPTLY_PUBLIC_BASE_URL": "https://promptly.clinic.pl",
    "PROMPTLY_EMAIL_FROM": "no-reply@clinic.pl",
    "PROMPTLY_SUPERVISOR_EMAIL": "supervisor@clinic.pl",
    "PROMPTLY_FRONT_DESK_EMAIL": "front-desk@clinic.pl",
}
TWILIO = {
    "PROMPTLY_TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
    "PROMPTLY_TWILIO_AUTH_TOKEN": "t" * 32,
    "PROMPTLY_TWILIO_FROM": "+48500000000",
}
DEFAULT_URL_REFUSED = (
    "refused settings: PROMPTLY_PUBLIC_BASE_URL is http://localhost:8000, on this machine, but "
    "messages go to clients through {through}: set it to the https:// address clients (and "
    "Twilio) reach the API at"
)
PLACEHOLDERS_REFUSED = [
    "refused settings: PROMPTLY_EMAIL_FROM is no-reply@promptly.example, a placeholder, but "
    "email goes through SendGrid: set a real address (a sender SendGrid verified)",
    "refused settings: PROMPTLY_SUPERVISOR_EMAIL is supervisor@promptly.example, a placeholder, "
    "but email goes through SendGrid: set a real address",
    "refused settings: PROMPTLY_FRONT_DESK_EMAIL is front-desk@promptly.example, a placeholder, "
    "but email goes through SendGrid: set a real address",
]


@pytest.fixture(autouse=True)
def no_channel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        if name.startswith(("sendgrid", "twilio", "email", "public", "supervisor", "front")):
            monkeypatch.delenv(f"PROMPTLY_{name.upper()}", raising=False)


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        Settings()
    except ValidationError as refused:
        return settings_problems(refused)
    return []


def test_a_real_sendgrid_with_the_defaults_is_refused_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _problems(monkeypatch, PROMPTLY_SENDGRID_API_KEY="SG.real") == [
        DEFAULT_URL_REFUSED.format(through="SendGrid"),
        *PLACEHOLDERS_REFUSED,
    ]


def test_a_real_twilio_with_a_local_or_plain_http_public_url_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _problems(monkeypatch, **TWILIO) == [DEFAULT_URL_REFUSED.format(through="Twilio")]
    assert _problems(monkeypatch, PROMPTLY_PUBLIC_BASE_URL="http://promptly.clinic.pl") == [
        "refused settings: PROMPTLY_PUBLIC_BASE_URL is http://promptly.clinic.pl, not https, but "
        "messages go to clients through Twilio: client links carry signed tokens, serve them "
        "over https"
    ]


def test_real_values_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _problems(monkeypatch, PROMPTLY_SENDGRID_API_KEY="SG.real", **TWILIO, **REAL) == []


def test_fakes_on_this_machine_keep_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' SendGrid fake and `make run`'s Twilio fake listen on localhost."""
    assert (
        _problems(
            monkeypatch,
            PROMPTLY_SENDGRID_API_KEY="SG.test",
            PROMPTLY_SENDGRID_HOST="http://127.0.0.1:8123",
            PROMPTLY_TWILIO_BASE_URL="http://localhost:8234",
            **TWILIO,
        )
        == []
    )


def test_the_worker_refuses_to_start_with_exit_2_one_line_each() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTLY_")}
    env["PROMPTLY_SENDGRID_API_KEY"] = "SG.real"
    done = promptly_process("worker", env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"promptly: {line}"
        for line in [DEFAULT_URL_REFUSED.format(through="SendGrid"), *PLACEHOLDERS_REFUSED]
    ]
