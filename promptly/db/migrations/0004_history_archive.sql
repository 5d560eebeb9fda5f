-- Closed workflows' full Temporal histories, kept in PostgreSQL for the retention period
-- (DESIGN.md §5), and the timeline made append-only: its rows change only in the purge.
-- depends: 0002_billing_and_surveys

CREATE TABLE history_archive (
    case_id        text NOT NULL,                 -- the workflow id, e.g. appointment-A-1001
    run_id         text NOT NULL,                 -- one row per run (continue-as-new: several)
    workflow_type  text NOT NULL,
    status         text NOT NULL,                 -- COMPLETED, TERMINATED, CONTINUED_AS_NEW, …
    started_at     timestamptz NOT NULL,
    closed_at      timestamptz NOT NULL,
    history        json NOT NULL,                 -- WorkflowHistory.to_json() as fetched
    archived_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, run_id)
);
CREATE INDEX history_archive_closed_idx ON history_archive (closed_at);

-- Timeline rows are never updated, and deleted only by the retention purge, which sets
-- `promptly.purge` to 'on' for its own transaction (SET LOCAL).
CREATE FUNCTION timeline_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('promptly.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'timeline_events is append-only: % refused (only the retention purge deletes)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER timeline_events_append_only
    BEFORE UPDATE OR DELETE ON timeline_events
    FOR EACH ROW EXECUTE FUNCTION timeline_events_append_only();

CREATE TRIGGER timeline_events_no_truncate
    BEFORE TRUNCATE ON timeline_events
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_events_append_only();
