-- Legal holds: compliance staff keep a case, or every case of a client, from the retention
-- purge (a dispute, a regulator's request, a lawsuit) until they release it. A hold is never
-- deleted: released, it keeps who released it and when, as the record of why a case outlived
-- its retention. `case_id` is a workflow id (appointment-A-1001); exactly one of the two.
-- depends: 0018_decided_via

CREATE TABLE legal_holds (
    id           bigserial PRIMARY KEY,
    case_id      text,
    client_id    text,
    reason       text NOT NULL,
    held_by      text NOT NULL,             -- e.g. "staff:audit", "staff:ewa via cli"
    held_at      timestamptz NOT NULL DEFAULT now(),
    released_by  text,
    released_at  timestamptz,
    release_note text NOT NULL DEFAULT '',
    CHECK ((case_id IS NULL) <> (client_id IS NULL)),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);
CREATE INDEX legal_holds_case_idx ON legal_holds (case_id) WHERE released_at IS NULL;
CREATE INDEX legal_holds_client_idx ON legal_holds (client_id) WHERE released_at IS NULL;
