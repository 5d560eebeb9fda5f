-- The API answers a case's GET from PostgreSQL (docs/status-reads.md): each case row keeps the
-- workflow's `status` view without its timeline (`view`), the workflow time and change count
-- it was written at (a slower, older write never replaces a newer one), and which timeline rows
-- belong to it. NULL view: not written by a worker that stores views; the API asks the workflow.
-- Timeline rows keep the API key an actor came through, as the workflow's timeline does.
-- depends: 0011_promises

ALTER TABLE cases
    ADD COLUMN view               jsonb,
    ADD COLUMN view_as_of         timestamptz,
    ADD COLUMN view_changes       integer,
    ADD COLUMN view_timeline_from integer NOT NULL DEFAULT 0,
    ADD COLUMN view_timeline_to   integer NOT NULL DEFAULT 0;

ALTER TABLE timeline_events ADD COLUMN actor_via text;
