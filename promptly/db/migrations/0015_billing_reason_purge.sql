-- The retention purge blanks the free-text reason of a purged case's billing outcomes (a
-- cancellation reason may name the client and why they could not come: "in hospital"); the
-- rows stay with their ids, outcome and who decided when, the accounting record. The table is
-- append-only for the application (INSERT and SELECT, promptly/db/privileges.py), so this runs
-- with the rights of the schema owner, as purge_timeline_events does, and only for cases whose
-- case row is already gone: it follows a purge, it cannot strip a live case's record. The
-- search_path is pinned so no object of another schema can stand in.
-- depends: 0014_sms_number_does_not_exist

CREATE FUNCTION purge_billing_reasons(purged_case_ids text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    blanked bigint;
BEGIN
    UPDATE public.billing_outcomes b SET reason = ''
     WHERE b.case_id = ANY(purged_case_ids) AND b.reason <> ''
       AND NOT EXISTS (SELECT 1 FROM public.cases c WHERE c.case_id = b.case_id);
    GET DIAGNOSTICS blanked = ROW_COUNT;
    RETURN blanked;
END;
$$;

REVOKE ALL ON FUNCTION purge_billing_reasons(text[]) FROM PUBLIC;
