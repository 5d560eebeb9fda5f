-- Outbound webhooks: an outbox of case status changes, one row per (event, URL). The row is
-- written in the transaction that stores the timeline entry, so no change is lost or announced
-- twice; WebhookDispatchWorkflow POSTs the pending rows and records every attempt.
-- depends: 0004_history_archive

CREATE TABLE webhook_deliveries (
    id                bigserial PRIMARY KEY,
    event_id          text NOT NULL,                -- <case_id>/<seq>, the Promptly-Event-Id header
    url               text NOT NULL,
    case_id           text NOT NULL,
    seq               integer NOT NULL,             -- the timeline position: delivery order per case
    event_type        text NOT NULL,                -- appointment.status_changed, …
    payload           jsonb NOT NULL,               -- the event: ids only, no names or contacts
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_status_code  integer,                      -- null: no HTTP answer (timeout, refused)
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    UNIQUE (event_id, url)                          -- a retried record_case adds nothing
);
-- What the dispatcher claims: due rows, and the earlier pending rows of the same (url, case).
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (url, case_id, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_case_idx ON webhook_deliveries (case_id);
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, created_at);
