-- The messages ledger keeps bodies with their client links redacted (a compliance reader must
-- not be able to act on a client's behalf). The outbox channel's messages, which a relay or
-- staff still have to deliver, keep their live body here, readable by the app role only.
-- depends: 0006_webhook_redelivery

CREATE TABLE outbox (
    message_id  bigint PRIMARY KEY REFERENCES messages (id),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
