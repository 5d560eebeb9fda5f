-- A receipt (or a read-out) saying a message did not reach its client passes it on another
-- way, unless the case has moved past it since: a reminder of a visit cancelled or moved, an
-- inquiry's acknowledgement once answered (promptly/domain/moot_messages.py). The ledger row
-- then keeps the receipt and why nothing followed, and the API's sweep of waiting receipts
-- leaves it alone. NULL: nothing was judged moot (passed on, or nothing to pass on).
-- depends: 0015_billing_reason_purge

ALTER TABLE messages ADD COLUMN delivery_moot text;
