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
