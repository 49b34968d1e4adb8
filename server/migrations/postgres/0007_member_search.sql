-- The members list at 100,000 members: one searchable text per member, and indexes that hold
-- every column the list filters and sorts on, so a page is read from the index alone.

-- Name, email, UPN and Object ID in lower case, computed by the database (never out of date).
ALTER TABLE member ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    display_name_normalized || ' ' || email_normalized || ' ' ||
    COALESCE(LOWER(directory_upn), '') || ' ' || COALESCE(directory_object_id, '')
) STORED;
-- Trigrams find the rows containing the searched text without reading every row.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX member_search_trgm_idx ON member USING gin (search_text gin_trgm_ops);

DROP INDEX member_org_name_idx;
DROP INDEX member_last_sso_idx;
CREATE INDEX member_org_name_list_idx ON member
    (organization_id, display_name_normalized, id, sso_enabled, directory_object_id, last_sso_sign_in_at);
CREATE INDEX member_org_email_list_idx ON member
    (organization_id, email_normalized, id, sso_enabled, directory_object_id, last_sso_sign_in_at);
CREATE INDEX member_org_last_sso_list_idx ON member
    (organization_id, last_sso_sign_in_at NULLS FIRST, id, sso_enabled, directory_object_id);
