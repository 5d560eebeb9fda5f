-- Billing-relevant outcomes of each appointment slot, and survey answers.
-- depends: 0001_initial

-- Append-only: a waiver after a no-show is a new row; the latest row per case is current.
CREATE TABLE billing_outcomes (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    case_id          text NOT NULL,
    appointment_id   text NOT NULL,
    client_id        text NOT NULL,
    outcome          text NOT NULL,   -- held | late_cancel | no_show | waived | cancelled_free | provider_cancelled
    decided_by_kind  text NOT NULL,
    decided_by_id    text NOT NULL,
    reason           text NOT NULL,
    decided_at       timestamptz NOT NULL
);
CREATE INDEX billing_outcomes_case_idx ON billing_outcomes (case_id, decided_at);
CREATE INDEX billing_outcomes_client_idx ON billing_outcomes (client_id, decided_at);

CREATE TABLE survey_responses (
    survey_id    text PRIMARY KEY,          -- one answer per survey
    case_id      text NOT NULL,             -- the appointment's workflow id
    client_id    text NOT NULL,
    nps          integer NOT NULL CHECK (nps BETWEEN 0 AND 10),
    comment      text NOT NULL,
    answered_at  timestamptz NOT NULL
);
