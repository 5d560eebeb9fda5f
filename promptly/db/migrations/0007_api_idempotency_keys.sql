-- The answers of POSTs sent with an Idempotency-Key, so a repeat returns the first answer
-- (promptly/starter/api_idempotency.py). key_hash = SHA-256 of the caller's key name and the
-- key; fingerprint = SHA-256 of the path, query and body. status NULL: the first request runs.
-- Rows older than 24h are deleted as new keys come.
-- depends: 0006_webhook_redelivery

CREATE TABLE api_idempotency (
    key_hash     text PRIMARY KEY,
    fingerprint  text NOT NULL,
    status       integer,
    content_type text,
    body         bytea,
    location     text,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    answered_at  timestamptz
);

CREATE INDEX api_idempotency_claimed_at ON api_idempotency (claimed_at);
