-- Two-way messaging: what Promptly knows of each client's contacts and SMS consent, the
-- replies clients send, and the delivery receipts of each message.
-- depends: 0006_webhook_redelivery

-- One row per client, kept current from the messages sent to them (the cases carry the
-- contacts; this is where an inbound reply finds its client).
CREATE TABLE clients (
    client_id   text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    email       text,
    phone       text,                       -- E.164
    locale      text NOT NULL DEFAULT 'en',
    timezone    text NOT NULL DEFAULT 'UTC',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clients_phone_idx ON clients (phone);
CREATE INDEX clients_email_idx ON clients (lower(email));

-- SMS consent per number: an opted-out number gets no SMS until it opts back in. A number
-- Twilio called invalid (21211, 21614) is kept here too, so later sends go another way.
CREATE TABLE sms_numbers (
    phone             text PRIMARY KEY,     -- E.164
    opted_out         boolean NOT NULL DEFAULT false,
    opted_out_at      timestamptz,
    opted_in_at       timestamptz,
    undeliverable     text,                 -- Twilio's reason when the number cannot take SMS
    last_message_sid  text,                 -- the reply that changed the consent
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Every reply received (SMS or email), once per provider message id.
CREATE TABLE inbound_messages (
    provider_id  text PRIMARY KEY,          -- Twilio MessageSid, or the email's Message-ID
    channel      text NOT NULL,             -- sms | email
    sender       text NOT NULL,
    client_id    text,
    case_id      text,
    body         text NOT NULL,
    intent       text NOT NULL,             -- confirm | reschedule | opt_out | opt_in | other
    outcome      text,                      -- what Promptly did, once it did it
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_messages_sender_idx ON inbound_messages (sender, received_at);

-- Delivery receipts (Twilio StatusCallback): the latest status of each sent message.
ALTER TABLE messages ADD COLUMN delivery_status text;        -- sent | delivered | undelivered | failed
ALTER TABLE messages ADD COLUMN delivery_error_code text;
ALTER TABLE messages ADD COLUMN delivery_updated_at timestamptz;
CREATE INDEX messages_provider_idx ON messages (provider_id);
