"""Settings: worker tuning, metrics and logs, the payload codec, outbound webhooks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, model_validator

from promptly.domain.common import NonNegativeDuration, PositiveDuration

if TYPE_CHECKING:
    from promptly.codec import EncryptionCodec

MIN_WEBHOOK_SECRET = 16
# This machine's names: a URL there reaches no one else (`[::1]` as pydantic gives an IPv6 host).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class OperationsSettings(BaseModel):
    def pool_size(self) -> int:
        return self.database_pool_size or max(self.max_concurrent_activities, 2)

    max_concurrent_activities: int = Field(
        default=20, ge=1, description="Activities one worker runs at once (sized for 1–2 CPUs)."
    )
    max_concurrent_workflow_tasks: int = Field(
        default=10, ge=2, description="Workflow tasks one worker processes at once (at least 2)."
    )
    max_cached_workflows: int = Field(
        # Measured (make bench, `memory` line): with Promptly's modules passed through the
        # sandbox, a cached appointment holds 0.2–0.45 MiB of worker RSS over an idle worker's
        # ~120 MiB (0.7–0.9 MiB while the sandbox re-imported them), so 200 keeps a worker
        # under ~210 MiB however many cases are open; cases past the cache are replayed from
        # history when they wake.
        default=200,
        ge=0,
        description="Sticky cache: workflows kept in memory between tasks (0 turns it off); "
        "0.2–0.45 MiB of worker memory each (docs/performance.md).",
    )
    sticky_queue_timeout: PositiveDuration = Field(
        # A task for a cached workflow goes to this worker's own queue first; after a crash
        # nobody polls it, and the task waits out this timeout before any worker may take it
        # (SDK default 10 s, measured in the chaos benchmark: docs/chaos.md).
        default=timedelta(seconds=3),
        description="How long a workflow task waits for the worker that has its workflow "
        "cached before any worker may take it (replaying the history): shorter recovers "
        "faster after a crash, at the cost of more replays when a busy worker is slow to poll.",
    )
    database_pool_size: int | None = Field(
        default=None,
        ge=1,
        description="PostgreSQL connections a worker or API process keeps at most; unset: one "
        "per concurrent activity (max_concurrent_activities), so no activity waits for one.",
    )
    workflow_sandbox: bool = Field(
        default=True,
        description="Run workflows in the SDK's sandbox, with Promptly's own modules passed "
        "through (imported once per process; ruff and the replays of stored histories check "
        "them). false also skips the sandbox's per-task CPU (docs/performance.md).",
    )
    graceful_shutdown_timeout: NonNegativeDuration = Field(
        default=timedelta(seconds=30),
        description="On SIGTERM: how long running activities may finish before they are "
        "cancelled and handed back to the server for retry elsewhere.",
    )
    metrics_bind: str | None = Field(
        default=None,
        description="host:port of the worker's Prometheus /metrics endpoint (SDK and business "
        "metrics), e.g. 0.0.0.0:9464; only `promptly worker` binds it (the API and the CLI "
        "ignore it); unset: no endpoint.",
    )
    worker_health_file: Path | None = Field(
        default=None,
        description="A file `promptly worker` writes the time into each time Temporal answers "
        "it (every 10 s); `python -m promptly.worker_health` exits 1 when that time is over 45 s "
        "old (compose's health check of the worker). Unset: not written.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for a terminal, json (one object a line) in production."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )


class PlaintextPayloads(RuntimeError):
    """The worker or the API was started without codec keys and without the explicit opt-out."""


class CodecSettings(BaseModel):
    """Client PII encrypted in Temporal (promptly/codec.py)."""

    codec_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='AES-GCM keys by id, JSON: {"2026-11": "<base64 of 32 random bytes>"}; '
        "unset: `promptly worker` and `promptly api` refuse to start (unless "
        "plaintext_payloads). Keep retired keys while histories "
        "written under them are retained. With secrets_dir, the keys of its codec-keys.json "
        "are added (one id with two different keys is refused).",
    )
    codec_key_id: str | None = Field(
        default=None,
        description="The key id new payloads are encrypted with (one of codec_keys); unset "
        "with secrets_dir: the `current` of its codec-keys.json.",
    )
    codec_strict: bool = Field(
        default=False,
        description="Refuse payloads that are not encrypted (compose turns it on): a payload "
        "sent to Temporal around the API, with no codec, fails instead of being processed. "
        "Leave off while histories from before encryption are still running.",
    )
    plaintext_payloads: bool = Field(
        default=False,
        description="Let `promptly worker` and `promptly api` start without codec_keys: client "
        "names, emails, phones and visit instructions then go to Temporal as plain JSON, readable "
        "in its histories, database, backups and UI by anyone with access to them. Only for a "
        "Temporal that holds no real client data.",
    )
    codec_ui_origin: str = Field(
        default="http://localhost:8233",
        description="The Temporal UI origin allowed (CORS) to call the codec server endpoints.",
    )

    @model_validator(mode="after")
    def _codec_keys_are_usable(self) -> Self:
        from promptly.codec import parse_key

        if self.codec_strict and not self.codec_keys:
            raise ValueError("codec_strict needs codec_keys: nothing could be decrypted")
        for key_id, key in self.codec_keys.items():
            parse_key(key_id, key.get_secret_value())
        if self.codec_keys and self.codec_key_id not in self.codec_keys:
            raise ValueError(
                f"codec_key_id must name one of codec_keys ({', '.join(sorted(self.codec_keys))})"
                f", got {self.codec_key_id!r}"
            )
        if self.codec_key_id is not None and not self.codec_keys:
            raise ValueError("codec_key_id is set but codec_keys is empty")
        return self

    def refuse_plaintext_payloads(self) -> None:
        """PlaintextPayloads when no codec would encrypt client data and nobody opted out: the
        check of the `promptly worker` and `promptly api` processes (library use, such as
        `create_worker` in tests, is left to its caller)."""
        if not self.codec_keys and not self.plaintext_payloads:
            raise PlaintextPayloads(
                "no codec keys: client data would reach Temporal unencrypted, so the worker and "
                "the API refuse to start; add keys with `promptly secrets generate --codec --dir "
                "DIR` and PROMPTLY_SECRETS_DIR=DIR (or set PROMPTLY_CODEC_KEYS and "
                "PROMPTLY_CODEC_KEY_ID), or opt out explicitly with "
                "PROMPTLY_PLAINTEXT_PAYLOADS=true."
            )

    def payload_codec(self) -> EncryptionCodec | None:
        """The codec when keys are configured, else None (payloads unencrypted)."""
        from promptly.codec import EncryptionCodec, parse_key

        if not self.codec_keys or self.codec_key_id is None:
            return None
        keys = {k: parse_key(k, v.get_secret_value()) for k, v in self.codec_keys.items()}
        return EncryptionCodec(keys, self.codec_key_id, strict=self.codec_strict)


class WebhookSettings(BaseModel):
    """Status changes POSTed to the back office (activities/webhooks.py)."""

    webhook_urls: list[AnyHttpUrl] = Field(
        default_factory=list,
        description="Back-office URLs every case status change is POSTed to, JSON: "
        '["https://crm.example.com/promptly"]; empty: webhooks off (nothing recorded or sent).',
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="One HMAC-SHA256 key of the Promptly-Signature header for every URL (at "
        "least 16 characters). Unset (recommended): each URL has its own secret, derived from "
        "link_secret; `promptly webhooks secret URL` prints it for that receiver. With several "
        "URLs a shared secret lets any receiver forge events to the others.",
    )
    webhook_timeout: PositiveDuration = Field(
        default=timedelta(seconds=10),
        le=timedelta(seconds=30),
        description="How long one webhook POST may take; slower counts as failed and is retried.",
    )

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Self:
        # An unsigned webhook lets anyone who finds the receiver's URL forge status changes:
        # without webhook_secret, each URL's own secret (from the master secret) signs.
        if not self.webhook_urls:
            return self
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        if secret is not None and len(secret) < MIN_WEBHOOK_SECRET:
            raise ValueError(
                f"webhook_secret must have at least {MIN_WEBHOOK_SECRET} characters; or unset "
                "PROMPTLY_WEBHOOK_SECRET: each URL then has its own secret (`promptly webhooks "
                "secret URL`)"
            )
        # Case events name clients: in clear over the network only to this machine.
        for url in self.webhook_urls:
            if url.scheme != "https" and url.host not in LOCAL_HOSTS:
                raise ValueError(
                    f"webhook URL {url.scheme}://{url.host}… must use https (plain http is "
                    "allowed for localhost only)"
                )
        return self
