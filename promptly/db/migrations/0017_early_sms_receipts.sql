-- A delivery receipt can come before the ledger knows its SMS by Twilio's id: the id is written
-- when the send is marked sent, and after a worker was killed that happens only when the
-- retry's look-up runs, while a fast `failed` callback may already have come. Twilio posts a
-- receipt once, so it is kept here, keyed by that id, until the API's sweep finds the id on the
-- ledger and records it there (then deletes it), or for a week at most
-- (promptly/services/waiting_inbound.py). No phone number, no text: the id, the status, when.
-- depends: 0016_receipt_moot

CREATE TABLE early_sms_receipts (
    provider_id  text PRIMARY KEY,          -- Twilio MessageSid
    status       text NOT NULL,             -- sent | delivered | undelivered | failed
    error_code   text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX early_sms_receipts_received_idx ON early_sms_receipts (received_at);
