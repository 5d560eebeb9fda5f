-- The sends not gone out yet (`status = 'pending'`), oldest first: `GET /messages?status=pending`,
-- `promptly messages --pending` and the worker's pending-send gauges read them often, while the
-- ledger's rows are nearly all sent.
-- depends: 0019_legal_holds

CREATE INDEX messages_pending_idx ON messages (created_at, id) WHERE status = 'pending';
