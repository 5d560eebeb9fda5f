-- The retention purge removes timelines through this function, so the application's role needs
-- no DELETE on timeline_events at all (promptly/db/privileges.py grants it INSERT and SELECT
-- only): it runs with the rights of the schema owner that created it, for whole cases only,
-- never single entries. The search_path is pinned so no object of another schema can stand in.
-- depends: 0004_history_archive

CREATE FUNCTION purge_timeline_events(purged_case_ids text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    PERFORM set_config('promptly.purge', 'on', true);
    DELETE FROM public.timeline_events WHERE case_id = ANY(purged_case_ids);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('promptly.purge', 'off', true);
    RETURN removed;
END;
$$;

REVOKE ALL ON FUNCTION purge_timeline_events(text[]) FROM PUBLIC;
