-- After a no-show the client's next visit is prepaid (no-show policy). The flag lives on the
-- client, not the case, so a later booking finds it; the waiver of that no-show clears it.
-- depends: 0008_sms_and_replies

ALTER TABLE clients
    ADD COLUMN prepayment_required boolean NOT NULL DEFAULT false,
    ADD COLUMN prepayment_case_id  text,          -- the no-show that set it
    ADD COLUMN prepayment_since    timestamptz;
