"""Writes `.env.example` from the settings model, so the documented variables are the real ones.

    .venv/bin/python -m promptly.starter.env_example > .env.example

Every `Settings` field appears as `PROMPTLY_<NAME>` with its description and default; the
compose stack's own variables (PostgreSQL, Temporal, ports) and Temporal's environment
configuration come first. `tests/test_deploy.py` fails when the file and the model disagree.
"""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from typing import Any

from pydantic import SecretStr, TypeAdapter
from pydantic.fields import FieldInfo

from promptly.config import Settings

# Values set (uncommented) in the example: what a production stack must decide.
PRODUCTION_VALUES: dict[str, str] = {
    "public_base_url": "https://promptly.example.com",
    "link_secret": "change-me-to-a-long-random-string",
    "log_format": "json",
}

HEADER = """\
# Promptly: every setting, generated from promptly/config.py by
#   .venv/bin/python -m promptly.starter.env_example > .env.example
# Copy to .env (docker compose reads it) and fill in. Durations are seconds or ISO 8601 (PT48H),
# lists and maps are JSON. Commented lines show the defaults.

# --- the compose stack (docker-compose.yml) ---------------------------------------------------
POSTGRES_USER=promptly
POSTGRES_PASSWORD=change-me
# How long Temporal keeps closed workflow histories (Promptly's own record is in PostgreSQL).
TEMPORAL_RETENTION=720h
# Temporal UI: the codec server that decodes encrypted payloads (with PROMPTLY_CODEC_KEYS set:
# http://localhost:8000/codec, and PROMPTLY_CODEC_UI_ORIGIN=http://localhost:8080). Empty: none.
TEMPORAL_UI_CODEC_ENDPOINT=
# Host ports.
API_PORT=8000
TEMPORAL_PORT=7233
TEMPORAL_UI_PORT=8080
METRICS_PORT=9464

# --- Temporal connection (Temporal's environment configuration; wins over PROMPTLY_TEMPORAL_*)
# For Temporal Cloud or any other cluster, see README "Production".
# TEMPORAL_ADDRESS=promptly.a1b2c.tmprl.cloud:7233
# TEMPORAL_NAMESPACE=promptly.a1b2c
# TEMPORAL_API_KEY=
# TEMPORAL_TLS_CLIENT_CERT_PATH=/run/secrets/temporal-client.pem
# TEMPORAL_TLS_CLIENT_KEY_PATH=/run/secrets/temporal-client.key
# TEMPORAL_CONFIG_FILE=/run/secrets/temporal.toml
# TEMPORAL_PROFILE=default

# --- Promptly (PROMPTLY_*, promptly/config.py) -------------------------------------------------
"""


def env_name(field: str) -> str:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def iso_duration(value: timedelta) -> str:
    """Compact ISO 8601: P395D, PT48H, PT15M, PT30S."""
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0 and seconds >= 7 * 86400:
        return f"P{seconds // 86400}D"
    if seconds % 3600 == 0 and seconds:
        return f"PT{seconds // 3600}H"
    if seconds % 60 == 0 and seconds:
        return f"PT{seconds // 60}M"
    return f"PT{seconds}S"


def _default_text(info: FieldInfo) -> str:
    default: Any = info.get_default(call_default_factory=True)
    if default is None or isinstance(default, SecretStr):
        return ""
    if isinstance(default, timedelta):
        return iso_duration(default)
    value = TypeAdapter(Any if info.annotation is None else info.annotation).dump_python(
        default, mode="json"
    )
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def render() -> str:
    lines = [HEADER.rstrip("\n")]
    for name, info in Settings.model_fields.items():
        lines.append("")
        if info.description:
            lines += textwrap.wrap(
                info.description, width=98, initial_indent="# ", subsequent_indent="# "
            )
        if name in PRODUCTION_VALUES:
            lines.append(f"{env_name(name)}={PRODUCTION_VALUES[name]}")
        else:
            lines.append(f"# {env_name(name)}={_default_text(info)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
