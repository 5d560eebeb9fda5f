-- Provider calendar feeds: the current token version per provider. A feed URL is valid while
-- the row is active and its token was signed for this version; revoking moves the version.
-- depends: 0006_webhook_redelivery

CREATE TABLE calendar_feed_tokens (
    provider_id  text PRIMARY KEY,
    version      integer NOT NULL DEFAULT 1,
    active       boolean NOT NULL DEFAULT true,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- The feed reads one provider's upcoming appointments.
CREATE INDEX cases_provider_start_idx ON cases (provider_id, starts_at)
    WHERE kind = 'appointment';
