-- A send's attempt marks the moment it takes the message to its channel (`in_flight_since`)
-- and clears it with the attempt's outcome. A retry that finds it set knows the attempt before
-- it ended unrecorded (a killed worker, a lost connection): the provider may have the message,
-- so a channel that can look it up (Twilio) is asked before sending again.
-- depends: 0012_case_read_views

ALTER TABLE messages ADD COLUMN in_flight_since timestamptz;

-- An SMS reply is matched to our last message to its number (services/inbound.py): found by
-- the number, newest first, without reading the whole ledger.
CREATE INDEX messages_recipient_idx ON messages (recipient, id);
