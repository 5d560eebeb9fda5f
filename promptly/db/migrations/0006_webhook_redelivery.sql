-- An operator can send failed webhook deliveries again (after a receiver's long outage): the
-- give-up clock of a redelivered row starts when it was requeued, not when the event happened.
-- depends: 0005_webhooks

ALTER TABLE webhook_deliveries ADD COLUMN requeued_at timestamptz;
