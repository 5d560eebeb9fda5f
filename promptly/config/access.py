"""Settings: the HTTP API's keys and limits."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from promptly.domain.common import ActorKind, PositiveDuration


class ApiRole(StrEnum):
    """What an HTTP API key may do (promptly/api/auth.py has the route table)."""

    BACKOFFICE = "backoffice"
    STAFF = "staff"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


class ApiKey(BaseModel):
    """One HTTP API key, stored as the SHA-256 of the key (hex), never the key itself."""

    model_config = ConfigDict(extra="forbid")

    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: ApiRole
    actor_kind: ActorKind | None = Field(
        default=None,
        description="Actor recorded for this key's actions; default staff, backoffice: system.",
    )
    acts_as: list[ActorKind] | None = Field(
        default=None,
        description="Actor kinds a request body may name with this key (its own kind always); "
        "default: only its own. Any other actor kind is refused with 403.",
    )


class AccessSettings(BaseModel):
    api_keys: dict[str, ApiKey] = Field(
        default_factory=dict,
        description='HTTP API keys by name, JSON: {"crm": {"key_sha256": "<hex>", "role": '
        '"backoffice"}}; roles backoffice, staff, compliance, admin.',
    )
    api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger HTTP request bodies get 413."
    )
    api_update_timeout: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="How long the API waits for a workflow to accept and apply an update.",
    )
    status_reads: Literal["record", "workflow"] = Field(
        default="record",
        description="Where GET /appointments|complaints|inquiries/{id} reads a case: `record` "
        "(PostgreSQL, kept by the workflow; answers while workers are busy or down) or "
        "`workflow` (the `status` query). docs/status-reads.md.",
    )
    link_limit_window: PositiveDuration = Field(
        default=timedelta(minutes=10),
        description="The sliding window of the client-link limits below (per API process).",
    )
    link_actions_per_link: int = Field(
        default=5,
        ge=1,
        description="Actions (POST /c/{token}) one client link may take per link_limit_window; "
        "more get a 429 page saying to try again later.",
    )
    link_actions_per_address: int = Field(
        default=30,
        ge=1,
        description="Client-link actions per client address (IPv6: per /64) across all links "
        "per link_limit_window; more get a 429 page.",
    )
    link_pages_per_address: int = Field(
        default=300,
        ge=1,
        description="Client-link pages and .ics files (GET /c/...) per client address (IPv6: "
        "per /64) per link_limit_window; more get 429.",
    )
    api_key_failures: int = Field(
        default=10,
        ge=1,
        description="Unknown API keys one client address (IPv6: per /64) may present within "
        "api_key_lockout; then its unknown keys get 429 until api_key_lockout has passed "
        "(known keys still pass).",
    )
    api_key_lockout: PositiveDuration = Field(
        default=timedelta(minutes=15),
        description="The window failed API keys count in, and how long an address that used "
        "up api_key_failures is refused.",
    )
