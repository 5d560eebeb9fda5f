"""Process settings, read from `PROMPTLY_*` environment variables by the worker, API and CLI.

Workflows never read these: the worker hands the rules to each new case through the
`current_policy` activity, so they are recorded in its history.
"""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptly.domain import escalation, keys, policy
from promptly.domain.inquiries import InquiryPolicy
from promptly.domain.models import (
    DEFAULT_ROOT_CAUSES,
    ActorKind,
    AppointmentPolicy,
    BusinessCalendar,
    ComplaintPolicy,
    EscalationMatrix,
    HourRange,
    Timezone,
)

if TYPE_CHECKING:
    from promptly.codec import EncryptionCodec

SIX_MONTHS = timedelta(days=183)
MIN_WEBHOOK_SECRET = 16
# Published values (old defaults, .env.example): whoever has read them could forge anything.
PUBLIC_SECRETS = frozenset(
    {
        "dev-only-link-secret-change-me",
        "change-me-to-a-long-random-string",
        "change-me",
    }
)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
LINK_SECRET_FILE = "link-secret"
CODEC_KEYS_FILE = "codec-keys.json"


class MissingSecret(RuntimeError):
    """The worker or the API was started without a usable master secret."""


def check_secret(name: str, value: str) -> None:
    """Refuse a secret that is short or was published; the message never echoes the value."""
    if len(value.encode()) < keys.MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} must be at least {keys.MIN_SECRET_BYTES} bytes of random data "
            "(openssl rand -base64 48)"
        )
    if value in PUBLIC_SECRETS or "change-me" in value.lower():
        raise ValueError(f"{name} is a published example value: generate a random one")


def _private_file(path: Path) -> str:
    """A secret file's text; refused when others may read or write it."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600")
    return path.read_text(encoding="utf-8")


class ApiRole(StrEnum):
    """What an HTTP API key may do (promptly/starter/api_auth.py has the route table)."""

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


class Settings(BaseSettings):
    # Errors name the field and the reason but never echo the input: it can hold secrets.
    model_config = SettingsConfigDict(
        env_prefix="PROMPTLY_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(
        default="postgresql://postgres@localhost:5432/postgres",
        description="PostgreSQL, the system of record (libpq URI; host= may name a socket dir).",
    )
    temporal_address: str = Field(default="localhost:7233", description="Temporal frontend.")
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    task_queue: str = Field(default="promptly", description="Task queue of every workflow.")

    sendgrid_api_key: SecretStr | None = Field(
        default=None, description="Email goes through SendGrid when set, else to the outbox."
    )
    sendgrid_host: str = Field(default="https://api.sendgrid.com", description="SendGrid API.")
    email_from: EmailStr = Field(default="no-reply@promptly.example", description="Sender.")
    supervisor_email: EmailStr = Field(default="supervisor@promptly.example")
    front_desk_email: EmailStr = Field(default="front-desk@promptly.example")

    twilio_account_sid: str | None = Field(
        default=None,
        description="SMS go through Twilio when this and the auth token are set, else to the "
        "outbox (recorded as queued_in_outbox).",
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Twilio auth token; also checks inbound Twilio signatures."
    )
    twilio_from: str | None = Field(default=None, description="Sender number (E.164).")
    twilio_messaging_service_sid: str | None = Field(
        default=None, description="Messaging Service SID, instead of twilio_from."
    )
    twilio_base_url: str = Field(
        default="https://api.twilio.com", description="Twilio's REST API (a local fake in dev)."
    )
    inbound_email_token: SecretStr | None = Field(
        default=None,
        description="Secret path token of POST /inbound/email/{token} (SendGrid Inbound Parse); "
        "unset: the route answers 404.",
    )
    inbound_per_minute: int = Field(
        default=20, ge=1, description="Inbound replies accepted per sender per minute (429 above)."
    )

    public_base_url: str = Field(
        default="http://localhost:8000", description="Where client links in messages point."
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="Master secret (at least 32 random bytes) every signing key is derived "
        "from: client links, list page tokens, codec sessions, calendar feeds. No default: the "
        "worker and the API refuse to start without one (`make run` generates it into .data/, "
        "the compose setup step into its secrets volume). Generate: openssl rand -base64 48.",
    )
    link_secret_previous: SecretStr | None = Field(
        default=None,
        description="After a rotation: the previous master secret, still accepted (never used "
        "to sign) until link_secret_previous_until.",
    )
    link_secret_previous_until: AwareDatetime | None = Field(
        default=None,
        description="End of the rotation's grace period (ISO 8601 with offset); required with "
        "link_secret_previous. Links live link_ttl, so link_ttl after the rotation is enough.",
    )
    secrets_dir: Path | None = Field(
        default=None,
        description="A directory of generated secrets (`promptly secrets generate`): its "
        "link-secret file fills link_secret and its codec-keys.json the codec keys, when those "
        "are not set directly. Files must not be readable by others.",
    )
    link_ttl: timedelta = Field(default=timedelta(days=14), description="Client link lifetime.")
    calendar_domain: str = Field(
        default="promptly.invalid",
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$",
        description="Domain in every calendar UID (case id @ domain). Set it once to your own "
        "domain and never change it: calendars would take every appointment for a new event.",
    )

    time_scale: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Multiplies every policy duration (demo: 0.005 plays 48h in ~15 minutes).",
    )
    confirmation_within: timedelta = timedelta(hours=24)
    provider_ack_within: timedelta = timedelta(hours=24)
    reminder_before: timedelta = timedelta(hours=48)
    quiet_hours_start: int = Field(default=21, ge=0, le=23)
    quiet_hours_end: int = Field(
        default=8, ge=0, le=24, description="Equal to quiet_hours_start: no quiet hours."
    )
    response_deadline_before: timedelta = timedelta(hours=24)
    call_attempts: int = Field(default=3, ge=1, le=10)
    call_interval: timedelta = timedelta(hours=2)
    office_timezone: Timezone = "Europe/Warsaw"
    business_hours_start: int = Field(default=8, ge=0, le=23)
    business_hours_end: int = Field(default=18, ge=1, le=24)
    business_days: list[int] = Field(
        default=[0, 1, 2, 3, 4], description="Open weekdays, 0 = Monday."
    )
    holidays: list[str] = Field(default_factory=list, description="ISO dates the office is shut.")
    no_show_after: timedelta = timedelta(minutes=15)
    client_late_limit: timedelta = Field(
        default=timedelta(minutes=15),
        description="A client running late moves the no-show moment by at most this much.",
    )
    late_change_within: timedelta = Field(
        default=timedelta(hours=24), description="Cancel/reschedule closer than this is late."
    )
    continue_after_reschedules: int = Field(
        default=10, ge=1, description="Start a fresh history after this many reschedules."
    )
    survey_after_end: timedelta = timedelta(hours=2)
    survey_reminder_after: timedelta = Field(
        default=timedelta(hours=24), description="The survey's one reminder, after it went out."
    )
    survey_closes_after: timedelta = Field(
        default=timedelta(days=7), description="An unanswered survey closes after this."
    )

    retention: timedelta = Field(
        default=timedelta(days=395), description="How long closed cases are kept (≥ 6 months)."
    )

    api_keys: dict[str, ApiKey] = Field(
        default_factory=dict,
        description='HTTP API keys by name, JSON: {"crm": {"key_sha256": "<hex>", "role": '
        '"backoffice"}}; roles backoffice, staff, compliance, admin.',
    )
    api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger HTTP request bodies get 413."
    )
    api_update_timeout: timedelta = Field(
        default=timedelta(seconds=30),
        description="How long the API waits for a workflow to accept and apply an update.",
    )
    status_reads: Literal["record", "workflow"] = Field(
        default="record",
        description="Where GET /appointments|complaints|inquiries/{id} reads a case: `record` "
        "(PostgreSQL, kept by the workflow; answers while workers are busy or down) or "
        "`workflow` (the `status` query). docs/status-reads.md.",
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
        if not found.get("codec_keys") and codec.exists():
            stored = json.loads(_private_file(codec))
            found["codec_keys"] = stored["keys"]
            found.setdefault("codec_key_id", stored["current"])
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

    @model_validator(mode="after")
    def _twilio_is_complete(self) -> Self:
        if self.twilio_account_sid is None:
            return self
        if self.twilio_auth_token is None:
            raise ValueError("twilio_account_sid is set: twilio_auth_token is required too")
        if not self.twilio_from and not self.twilio_messaging_service_sid:
            raise ValueError(
                "twilio_account_sid is set: set twilio_from (E.164) or twilio_messaging_service_sid"
            )
        return self

    @model_validator(mode="after")
    def _service_levels_are_sane(self) -> Self:
        if not timedelta(hours=24) <= self.reminder_before <= timedelta(hours=48):
            raise ValueError("reminder_before must be between 24h and 48h before the visit")
        if self.retention < SIX_MONTHS:
            raise ValueError("retention must be at least 6 months (183 days)")
        if self.survey_after_end > timedelta(hours=48):
            raise ValueError("survey_after_end must be at most 48h (the survey SLA)")
        if self.survey_reminder_after >= self.survey_closes_after:
            raise ValueError("survey_reminder_after must be shorter than survey_closes_after")
        if self.response_deadline_before >= self.reminder_before:
            raise ValueError("response_deadline_before must be shorter than reminder_before")
        return self

    def appointment_policy(self) -> AppointmentPolicy:
        rules = AppointmentPolicy(
            confirmation_within=self.confirmation_within,
            provider_ack_within=self.provider_ack_within,
            reminder_before=self.reminder_before,
            quiet_hours=None
            if self.quiet_hours_start == self.quiet_hours_end
            else HourRange(start_hour=self.quiet_hours_start, end_hour=self.quiet_hours_end),
            response_deadline_before=self.response_deadline_before,
            call_attempts=self.call_attempts,
            call_interval=self.call_interval,
            business=BusinessCalendar(
                timezone=self.office_timezone,
                hours=HourRange(
                    start_hour=self.business_hours_start, end_hour=self.business_hours_end
                ),
                weekdays=self.business_days,
                holidays=self.holidays,
            ),
            no_show_after=self.no_show_after,
            client_late_limit=self.client_late_limit,
            late_change_within=self.late_change_within,
            continue_after_reschedules=self.continue_after_reschedules,
            survey_after_end=self.survey_after_end,
            survey_reminder_after=self.survey_reminder_after,
            survey_closes_after=self.survey_closes_after,
        )
        return policy.scaled(rules, self.time_scale)

    # --- complaints ---------------------------------------------------------------------

    escalation_matrix: str | None = Field(
        default=None,
        description="Path of the JSON escalation matrix; the packaged "
        "promptly/domain/escalation_matrix.json when unset. Checked at worker start.",
    )
    complaint_update_every: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        le=timedelta(hours=24),
        description="Customer status update period while a complaint is open (at most 24h).",
    )
    complaint_verdict_within: timedelta = Field(
        default=timedelta(hours=72),
        gt=timedelta(0),
        description="After a proposed resolution: no verdict by then → ClosedUnconfirmed.",
    )
    complaint_survey_after: timedelta = Field(
        default=timedelta(hours=2),
        ge=timedelta(0),
        le=timedelta(hours=48),
        description="Follow-up survey after closing (within 48h).",
    )
    complaint_max_hold: timedelta = Field(
        default=timedelta(hours=72),
        gt=timedelta(0),
        description="A complaint hold ends on its own after this; the clock resumes and the "
        "customer is told.",
    )
    complaint_root_causes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROOT_CAUSES),
        min_length=1,
        description="Root causes staff may record when closing a complaint (JSON list).",
    )

    inquiry_answer_within: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        le=timedelta(hours=48),
        description="An inquiry unanswered this long alerts the front desk (24–48h standard).",
    )
    inquiry_supervisor_after: timedelta = Field(
        default=timedelta(hours=48),
        gt=timedelta(0),
        le=timedelta(hours=48),
        description="An inquiry unanswered this long alerts the supervisor.",
    )

    def inquiry_policy(self) -> InquiryPolicy:
        """Unscaled; the inquiry activities apply `time_scale`."""
        if self.inquiry_supervisor_after <= self.inquiry_answer_within:
            raise ValueError("inquiry_supervisor_after must be longer than inquiry_answer_within")
        return InquiryPolicy(
            answer_within=self.inquiry_answer_within,
            supervisor_after=self.inquiry_supervisor_after,
        )

    def complaint_matrix(self) -> EscalationMatrix:
        """The validated escalation matrix; MatrixError (file:line: path: reason) if not."""
        path = escalation.PACKAGED_MATRIX
        if self.escalation_matrix:
            path = Path(self.escalation_matrix)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise escalation.MatrixError(
                str(path), [escalation.MatrixProblem(None, "", f"cannot read the file: {err}")]
            ) from err
        return escalation.parse_matrix(text, str(path))

    def complaint_policy(self) -> ComplaintPolicy:
        """Unscaled; the routing activity applies `time_scale` with the matrix tiers."""
        return ComplaintPolicy(
            update_every=self.complaint_update_every,
            verdict_within=self.complaint_verdict_within,
            survey_after=self.complaint_survey_after,
            max_hold=self.complaint_max_hold,
            root_causes=[cause.strip().lower() for cause in self.complaint_root_causes],
        )

    # --- operations: worker tuning, metrics, logs ------------------------------------------

    def pool_size(self) -> int:
        return self.database_pool_size or max(self.max_concurrent_activities, 2)

    max_concurrent_activities: int = Field(
        default=20, ge=1, description="Activities one worker runs at once (sized for 1–2 CPUs)."
    )
    max_concurrent_workflow_tasks: int = Field(
        default=10, ge=2, description="Workflow tasks one worker processes at once (at least 2)."
    )
    max_cached_workflows: int = Field(
        # Measured (make bench, `memory` line): a cached appointment holds 440–630 KiB of worker
        # RSS over an idle worker's ~120 MiB, so 300 keeps a worker near 250–310 MiB however
        # many cases are open; cases past the cache are replayed from history when they wake.
        default=300,
        ge=0,
        description="Sticky cache: workflows kept in memory between tasks (0 turns it off); "
        "about 0.5 MiB of worker memory each (docs/performance.md).",
    )
    database_pool_size: int | None = Field(
        default=None,
        ge=1,
        description="PostgreSQL connections a worker or API process keeps at most; unset: one "
        "per concurrent activity (max_concurrent_activities), so no activity waits for one.",
    )
    workflow_sandbox: bool = Field(
        default=True,
        description="Run workflow code in the SDK's sandbox (checks determinism on every "
        "task). false saves the sandbox's per-task CPU (docs/performance.md); the replay "
        "tests keep checking in the sandbox either way.",
    )
    graceful_shutdown_timeout: timedelta = Field(
        default=timedelta(seconds=30),
        ge=timedelta(0),
        description="On SIGTERM: how long running activities may finish before they are "
        "cancelled and handed back to the server for retry elsewhere.",
    )
    metrics_bind: str | None = Field(
        default=None,
        description="host:port of the Prometheus /metrics endpoint (SDK and business "
        "metrics), e.g. 0.0.0.0:9464; unset: no endpoint.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for a terminal, json (one object a line) in production."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )

    # --- payload codec: client PII encrypted in Temporal (promptly/codec.py) ----------------

    codec_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='AES-GCM keys by id, JSON: {"2026-11": "<base64 of 32 random bytes>"}; '
        "unset: payloads go to Temporal unencrypted. Keep retired keys while histories "
        "written under them are retained.",
    )
    codec_key_id: str | None = Field(
        default=None, description="The key id new payloads are encrypted with (one of codec_keys)."
    )
    codec_strict: bool = Field(
        default=False,
        description="Refuse payloads that are not encrypted (compose turns it on): a payload "
        "sent to Temporal around the API, with no codec, fails instead of being processed. "
        "Leave off while histories from before encryption are still running.",
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

    def payload_codec(self) -> EncryptionCodec | None:
        """The codec when keys are configured, else None (payloads unencrypted)."""
        from promptly.codec import EncryptionCodec, parse_key

        if not self.codec_keys or self.codec_key_id is None:
            return None
        keys = {k: parse_key(k, v.get_secret_value()) for k, v in self.codec_keys.items()}
        return EncryptionCodec(keys, self.codec_key_id, strict=self.codec_strict)

    # --- outbound webhooks: status changes POSTed to the back office (activities/webhooks.py) --

    webhook_urls: list[AnyHttpUrl] = Field(
        default_factory=list,
        description="Back-office URLs every case status change is POSTed to, JSON: "
        '["https://crm.example.com/promptly"]; empty: webhooks off (nothing recorded or sent).',
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key of the Promptly-Signature header; required with "
        "webhook_urls (at least 16 characters; receivers verify with the same key).",
    )
    webhook_timeout: timedelta = Field(
        default=timedelta(seconds=10),
        gt=timedelta(0),
        le=timedelta(seconds=30),
        description="How long one webhook POST may take; slower counts as failed and is retried.",
    )

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Self:
        # An unsigned webhook lets anyone who finds the receiver's URL forge status changes.
        if not self.webhook_urls:
            return self
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if len(secret) < MIN_WEBHOOK_SECRET:
            raise ValueError(
                "webhook_urls are set, so webhook_secret is required (at least "
                f"{MIN_WEBHOOK_SECRET} characters): set PROMPTLY_WEBHOOK_SECRET to a long random "
                "string and give it to the receivers, or unset PROMPTLY_WEBHOOK_URLS"
            )
        # Case events name clients: in clear over the network only to this machine.
        for url in self.webhook_urls:
            if url.scheme != "https" and url.host not in LOCAL_HOSTS:
                raise ValueError(
                    f"webhook URL {url.scheme}://{url.host}… must use https (plain http is "
                    "allowed for localhost only)"
                )
        return self
