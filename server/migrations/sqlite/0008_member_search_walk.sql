-- A search matching most of an organization is paged by walking the list's order index, which
-- then needs the searchable text too: the walk reads the index alone, never the rows.
DROP INDEX member_org_name_list_idx;
DROP INDEX member_org_email_list_idx;
DROP INDEX member_org_last_sso_list_idx;
CREATE INDEX member_org_name_list_idx ON member (organization_id, display_name_normalized, id,
    sso_enabled, directory_object_id, last_sso_sign_in_at, search_text);
CREATE INDEX member_org_email_list_idx ON member (organization_id, email_normalized, id,
    sso_enabled, directory_object_id, last_sso_sign_in_at, search_text);
CREATE INDEX member_org_last_sso_list_idx ON member (organization_id, last_sso_sign_in_at, id,
    sso_enabled, directory_object_id, search_text);

-- The searchable text can be written with the row (a large import does): the triggers then
-- leave it alone instead of rewriting the row and every index that holds it.
DROP TRIGGER member_search_text_insert;
CREATE TRIGGER member_search_text_insert AFTER INSERT ON member
WHEN NEW.search_text IS NOT NEW.display_name_normalized || ' ' || NEW.email_normalized || ' ' ||
    COALESCE(LOWER(NEW.directory_upn), '') || ' ' || COALESCE(NEW.directory_object_id, '')
BEGIN
    UPDATE member SET search_text = NEW.display_name_normalized || ' ' || NEW.email_normalized
        || ' ' || COALESCE(LOWER(NEW.directory_upn), '') || ' ' || COALESCE(NEW.directory_object_id, '')
    WHERE rowid = NEW.rowid;
END;
