"""Settings: where PostgreSQL and Temporal are, and the email and SMS channels."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, EmailStr, Field, SecretStr, field_validator, model_validator

from promptly.config.signing import check_secret


class ConnectionSettings(BaseModel):
    database_url: str = Field(
        default="postgresql://postgres@localhost:5432/postgres",
        description="PostgreSQL, the system of record (libpq URI; host= may name a socket dir), "
        "as the application's role. A password goes in a passfile "
        "(?passfile=/path/to/pgpass, mode 0600), not in the URL.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="The schema owner's connection, for migrations (`promptly db upgrade`, the "
        "worker at start): it owns the tables and grants database_url's role only what it "
        "needs (docs/security.md). Unset: database_url's role migrates and owns the tables.",
    )
    migrate_at_start: bool = Field(
        default=True,
        description="The worker applies pending migrations when it starts. Compose turns it "
        "off: its db-setup step migrates as the owner, whose password the worker never holds.",
    )
    temporal_address: str = Field(default="localhost:7233", description="Temporal frontend.")
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    temporal_ui_url: str = Field(
        default="http://localhost:8233",
        description="The Temporal UI's address, for the links `promptly views` prints. "
        "`make run` writes its own (--ui-port) to .data/env; compose defaults to "
        "http://localhost:8080 (set it too when you change TEMPORAL_UI_PORT).",
    )
    task_queue: str = Field(default="promptly", description="Task queue of every workflow.")

    sendgrid_api_key: SecretStr | None = Field(
        default=None, description="Email goes through SendGrid when set, else to the outbox."
    )
    sendgrid_host: str = Field(default="https://api.sendgrid.com", description="SendGrid API.")
    email_from: EmailStr = Field(default="no-reply@promptly.example", description="Sender.")
    supervisor_email: EmailStr = Field(default="supervisor@promptly.example")
    front_desk_email: EmailStr = Field(
        default="front-desk@promptly.example",
        description="The front desk's address: staff alerts, and the address a client link's "
        "problem page gives clients to write to.",
    )

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
        description="Secret path token of POST /inbound/email/{token} (SendGrid Inbound Parse), "
        "at least 32 random bytes: openssl rand -hex 32. Unset: the route answers 404.",
    )
    inbound_per_minute: int = Field(
        default=20, ge=1, description="Inbound replies accepted per sender per minute (429 above)."
    )

    @field_validator("inbound_email_token")
    @classmethod
    def _inbound_email_token_is_strong(cls, token: SecretStr | None) -> SecretStr | None:
        # The token is the route's only credential: as strong as the master secret.
        if token is not None:
            check_secret("inbound_email_token", token.get_secret_value(), "openssl rand -hex 32")
        return token

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
