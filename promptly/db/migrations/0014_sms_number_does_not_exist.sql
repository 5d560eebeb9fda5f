-- A number Twilio calls invalid (21211) is no phone number at all: no SMS and no call reaches
-- it, so a message for it goes by email or to the front desk, never to a call task for it. A
-- landline (21614) keeps `no_such_number` false: it takes no SMS but can be called.
-- depends: 0013_message_attempt_in_flight

ALTER TABLE sms_numbers ADD COLUMN no_such_number boolean NOT NULL DEFAULT false;
