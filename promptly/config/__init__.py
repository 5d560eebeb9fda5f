"""Process settings, read from `PROMPTLY_*` environment variables by the worker, API and CLI.

Workflows never read these: the worker hands the rules to each new case through the
`current_policy` activity, so they are recorded in its history.

`Settings` is one flat model (every field a `PROMPTLY_*` variable); its fields and rules are
written by topic in the modules of this package, one mixin each. Pydantic lays the fields out
from the last base to the first, so the bases are listed in the reverse of the order
.env.example shows them.
"""

from __future__ import annotations

from typing import Self

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptly.config.access import AccessSettings, ApiKey, ApiRole
from promptly.config.connections import ConnectionSettings
from promptly.config.operations import (
    LOCAL_HOSTS,
    MIN_WEBHOOK_SECRET,
    CodecSettings,
    OperationsSettings,
    WebhookSettings,
)
from promptly.config.policies import SIX_MONTHS, AppointmentSettings, ComplaintSettings
from promptly.config.reach import unsafe_for_real_clients
from promptly.config.signing import (
    CODEC_KEYS_FILE,
    LINK_SECRET_FILE,
    PUBLIC_SECRETS,
    MissingSecret,
    SigningSettings,
    _private_file,
    check_secret,
)
from promptly.domain.webhooks import WebhookSigning

__all__ = [
    "CODEC_KEYS_FILE",
    "LINK_SECRET_FILE",
    "LOCAL_HOSTS",
    "MIN_WEBHOOK_SECRET",
    "PUBLIC_SECRETS",
    "SIX_MONTHS",
    "ApiKey",
    "ApiRole",
    "MissingSecret",
    "Settings",
    "_private_file",
    "check_secret",
]


class Settings(
    WebhookSettings,
    CodecSettings,
    OperationsSettings,
    ComplaintSettings,
    AccessSettings,
    AppointmentSettings,
    SigningSettings,
    ConnectionSettings,
    BaseSettings,
):
    # Errors name the field and the reason but never echo the input: it can hold secrets.
    model_config = SettingsConfigDict(
        env_prefix="PROMPTLY_", extra="ignore", hide_input_in_errors=True
    )

    def refuse_unsafe_start(self) -> None:
        """What `promptly worker` and `promptly api` check before they start: a master secret
        (MissingSecret, the one a fresh setup meets first), then codec keys or the explicit
        opt-out (PlaintextPayloads)."""
        self.master_secret()
        self.refuse_plaintext_payloads()

    def webhook_signing(self) -> WebhookSigning:
        """The secrets signing webhook deliveries: webhook_secret for every URL when set, else
        each URL's own, derived from the master secret (MissingSecret without one)."""
        if self.webhook_secret is not None:
            return WebhookSigning(shared=self.webhook_secret.get_secret_value())
        previous = self.link_secret_previous
        return WebhookSigning(
            master=self.master_secret(),
            previous=previous.get_secret_value() if previous is not None else None,
            previous_until=self.link_secret_previous_until,
        )

    @model_validator(mode="after")
    def _real_providers_get_real_settings(self) -> Self:
        problems = unsafe_for_real_clients(self, self)  # config/reach.py: when it applies
        if problems:
            raise ValueError("\n".join(problems))
        return self


def settings_problems(invalid: ValidationError) -> list[str]:
    """One line per refused value, named as the operator set it: `refused setting
    PROMPTLY_NO_SHOW_AFTER: must not be a negative duration, got -0:05:00`. A nested error
    keeps its path after the variable (`PROMPTLY_API_KEYS.root.role`); a rule between
    settings reads `refused settings: <its reason>`. A reason of several lines (a matrix file's
    problems) gives one line each, under the same head."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    lines = []
    for error in invalid.errors(include_input=False, include_url=False):
        reasons = error["msg"].removeprefix("Value error, ").splitlines()
        if not error["loc"]:  # a rule between settings names them in its reason
            lines += [f"refused settings: {reason}" for reason in reasons]
            continue
        head, *rest = error["loc"]
        where = ".".join([f"{prefix}{head}".upper(), *map(str, rest)])
        lines += [f"refused setting {where}: {reason}" for reason in reasons]
    return lines
