-- The system of record: cases, their timelines, every message and every staff task.

CREATE TABLE cases (
    case_id      text PRIMARY KEY,             -- the workflow id, e.g. appointment-A-1001
    kind         text NOT NULL,                -- appointment | complaint
    business_id  text NOT NULL,
    status       text NOT NULL,
    client_id    text NOT NULL,
    provider_id  text,
    starts_at    timestamptz,
    details      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_client_idx ON cases (client_id);
CREATE INDEX cases_status_idx ON cases (kind, status);

-- Append-only: one row per timeline entry; (case_id, seq) makes a retried write a no-op.
CREATE TABLE timeline_events (
    case_id    text NOT NULL REFERENCES cases (case_id),
    seq        integer NOT NULL,
    at         timestamptz NOT NULL,
    kind       text NOT NULL,
    actor_kind text NOT NULL,
    actor_id   text NOT NULL,
    detail     text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (case_id, seq)
);

-- Every message, whatever the channel; the idempotency key makes a retry never send twice.
CREATE TABLE messages (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    case_id          text NOT NULL,
    template         text NOT NULL,
    channel          text NOT NULL,
    recipient_role   text NOT NULL,
    recipient        text NOT NULL,
    locale           text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL,            -- pending | sent | failed
    provider_id      text,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    requested_at     timestamptz NOT NULL,         -- when the workflow asked for it (Temporal time)
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX messages_case_idx ON messages (case_id, created_at);

CREATE TABLE staff_tasks (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    case_id          text NOT NULL,
    kind             text NOT NULL,
    assignee         text NOT NULL,
    title            text NOT NULL,
    details          text NOT NULL DEFAULT '',
    due_at           timestamptz NOT NULL,
    data             jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'open',   -- open | done
    outcome          text,
    note             text,
    closed_by        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz
);
CREATE INDEX staff_tasks_open_idx ON staff_tasks (assignee, status, due_at);
