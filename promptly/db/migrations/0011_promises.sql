-- The promise ledger: one row per case and promise of the procedures, with the verdict the
-- workflow reached (kept, broken, waived, not_applicable; pending until decided). Written by
-- `record_case`; upserted by (case_id, promise) and only by a newer revision, so a retried or
-- late write never duplicates a row or turns a verdict back.
-- depends: 0010_timeline_purge_function

CREATE TABLE promises (
    case_id      text        NOT NULL,
    promise      text        NOT NULL,
    case_kind    text        NOT NULL,
    business_id  text        NOT NULL,
    client_id    text        NOT NULL,
    verdict      text        NOT NULL CHECK (verdict IN
                     ('pending', 'kept', 'broken', 'waived', 'not_applicable')),
    promised_at  timestamptz NOT NULL,
    due_at       timestamptz,
    met_at       timestamptz,
    decided_at   timestamptz,
    cause        text,
    actor_kind   text,
    actor_id     text,
    revision     integer     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, promise)
);

CREATE INDEX promises_due_at ON promises (due_at);
CREATE INDEX promises_broken_due_at ON promises (due_at) WHERE verdict = 'broken';
