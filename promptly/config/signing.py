"""Settings: the master secret every signing key is derived from, and client links."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, Field, SecretStr, model_validator

from promptly.domain import keys
from promptly.domain.common import PositiveDuration

# Published values (old defaults, .env.example): whoever has read them could forge anything.
PUBLIC_SECRETS = frozenset(
    {
        "dev-only-link-secret-change-me",
        "change-me-to-a-long-random-string",
        "change-me",
    }
)
LINK_SECRET_FILE = "link-secret"
CODEC_KEYS_FILE = "codec-keys.json"


class MissingSecret(RuntimeError):
    """The worker or the API was started without a usable master secret."""


def check_secret(name: str, value: str, generate: str = "openssl rand -base64 48") -> None:
    """Refuse a secret that is short or was published; the message never echoes the value.
    `generate` is the command the message suggests (a token in a URL wants no `/` or `+`)."""
    if len(value.encode()) < keys.MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} must be at least {keys.MIN_SECRET_BYTES} bytes of random data ({generate})"
        )
    if value in PUBLIC_SECRETS or "change-me" in value.lower():
        raise ValueError(f"{name} is a published example value: generate a random one")


def _private_file(path: Path) -> str:
    """A secret file's text; refused when others may read or write it."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600")
    return path.read_text(encoding="utf-8")


def _key_text(value: Any) -> str:
    return str(value.get_secret_value() if isinstance(value, SecretStr) else value).strip()


def merged_codec_keys(given: Any, stored: dict[str, str], path: Path) -> dict[str, Any]:
    """The codec keys of PROMPTLY_CODEC_KEYS (`given`) and of the secrets dir's file together:
    a key added in either still leaves the other's keys to decrypt what they encrypted. The
    same id with two different keys is refused (naming the ids, never the keys)."""
    keys: dict[str, Any] = dict(stored)
    if not isinstance(given, dict):
        return keys
    clashes = sorted(
        key_id
        for key_id, key in given.items()
        if key_id in stored and _key_text(key) != _key_text(stored[key_id])
    )
    if clashes:
        raise ValueError(
            f"codec key id(s) {', '.join(map(repr, clashes))} have one key in "
            f"PROMPTLY_CODEC_KEYS and another in {path}: a key id names one key for good "
            "(payloads carry it); give a new key a new id"
        )
    return keys | given


class SigningSettings(BaseModel):
    public_base_url: str = Field(
        default="http://localhost:8000", description="Where client links in messages point."
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="Master secret (at least 32 random bytes) every signing key is derived "
        "from: client links, list page tokens, codec sessions, calendar feeds. No default: the "
        "worker and the API refuse to start without one (`make run` generates it into .data/, "
        "the compose secrets step into its volume). Generate: openssl rand -base64 48.",
    )
    link_secret_previous: SecretStr | None = Field(
        default=None,
        description="After a rotation: the previous master secret, still accepted (never used "
        "to sign) until link_secret_previous_until.",
    )
    link_secret_previous_until: AwareDatetime | None = Field(
        default=None,
        description="End of the rotation's grace period (ISO 8601 with offset); required with "
        "link_secret_previous. Links live link_ttl, and a visit's links until the day after the "
        "visit: the later of link_ttl after the rotation and the day after the farthest "
        "visit already booked keeps them all.",
    )
    secrets_dir: Path | None = Field(
        default=None,
        description="A directory of generated secrets (`promptly secrets generate`): its "
        "link-secret file fills link_secret when that is not set directly, and its "
        "codec-keys.json adds its keys to codec_keys (its `current` is codec_key_id unless that "
        "is set). Files must not be readable by others.",
    )
    link_ttl: PositiveDuration = Field(
        default=timedelta(days=14),
        description="Client link lifetime; a message about a visit keeps its links at least "
        "until a day after the visit's start.",
    )
    calendar_domain: str = Field(
        default="promptly.invalid",
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$",
        description="Domain in every calendar UID (case id @ domain). Set it once to your own "
        "domain and never change it: calendars would take every appointment for a new event.",
    )

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_dir(cls, data: Any) -> Any:
        """Fill unset secrets from `secrets_dir` (generated by `promptly secrets generate`)."""
        if not isinstance(data, dict) or not data.get("secrets_dir"):
            return data
        folder = Path(str(data["secrets_dir"]))
        found = dict(data)
        secret = folder / LINK_SECRET_FILE
        if not found.get("link_secret") and secret.exists():
            found["link_secret"] = _private_file(secret).strip()
        codec = folder / CODEC_KEYS_FILE
        if codec.exists():
            stored = json.loads(_private_file(codec))
            found["codec_keys"] = merged_codec_keys(found.get("codec_keys"), stored["keys"], codec)
            # The encrypting key: PROMPTLY_CODEC_KEY_ID when set, else the file's `current`.
            if not found.get("codec_key_id"):
                found["codec_key_id"] = stored["current"]
        return found

    @model_validator(mode="after")
    def _secrets_are_not_known(self) -> Self:
        if self.link_secret is not None:
            check_secret("link_secret", self.link_secret.get_secret_value())
        if self.link_secret_previous is not None:
            check_secret("link_secret_previous", self.link_secret_previous.get_secret_value())
            if self.link_secret_previous_until is None:
                raise ValueError(
                    "link_secret_previous needs link_secret_previous_until (the end of the "
                    "rotation's grace period)"
                )
        return self

    def keyring(self, purpose: str) -> keys.Keyring:
        """The keys of one purpose (keys.LINKS, PAGE_TOKENS, CODEC_SESSIONS, CALENDAR_FEEDS);
        MissingSecret when no master secret is set."""
        return keys.Keyring.of(
            purpose,
            self.master_secret(),
            self.link_secret_previous.get_secret_value() if self.link_secret_previous else None,
            self.link_secret_previous_until,
        )

    def master_secret(self) -> str:
        if self.link_secret is None:
            raise MissingSecret(
                "PROMPTLY_LINK_SECRET is not set: the worker and the API sign client links, "
                "page tokens and codec sessions with it and refuse to run without one. Set it "
                "to at least 32 random bytes (openssl rand -base64 48), or point "
                "PROMPTLY_SECRETS_DIR at the folder `promptly secrets generate` wrote "
                "(`make run` does this for you)."
            )
        return self.link_secret.get_secret_value()
