-- Who entered a decision, not only whom it credits: the API key (or `cli`) it came through, as
-- the timeline's `actor_via` keeps it. After the retention purge the billing row is the only
-- trace of a fee decision, so it must not read as the provider's own when the front desk's key
-- entered it. The promise ledger shows its actor the same way. NULL: no key was involved (the
-- workflow itself, or a row written before this column).
-- A `fee_stands` row records a fee kept after the client's excuse or a late move: it confirms
-- the charged outcome before it (the no-show or late change), it is not a new charge.
-- depends: 0017_early_sms_receipts

ALTER TABLE billing_outcomes ADD COLUMN decided_via text;
ALTER TABLE promises ADD COLUMN actor_via text;
