-- What each billing row charges or lifts, so a billing system can reconcile it: the fee
-- (no_show | late_cancellation | late_reschedule; a waiver's the fee it lifts, a fee_stands
-- row's the fee it keeps), its amount and currency (the visit's price: a late change or a
-- no-show is charged as held), and the visit's provider. A late reschedule's row keeps its
-- outcome `late_cancel` (what the slot records) and says `late_reschedule` here, so the purge
-- blanking its reason loses nothing. NULL: a decision that charges no fee (held, a free
-- cancellation), a visit booked without a price, or a row written before these columns.
-- The index lists a period's rows (GET /billing).
-- depends: 0020_pending_messages

ALTER TABLE billing_outcomes
    ADD COLUMN fee text,
    ADD COLUMN amount numeric(12, 2),
    ADD COLUMN currency text,
    ADD COLUMN provider_id text;
CREATE INDEX billing_outcomes_decided_idx ON billing_outcomes (decided_at, id);
