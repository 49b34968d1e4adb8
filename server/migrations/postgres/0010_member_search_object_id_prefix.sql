-- A search finds an Object ID by its beginning, from its own index, instead of anywhere inside
-- the searchable text. An Object ID is random hexadecimal: searching "ada" or "bead" matched
-- about one member in a hundred by a few letters somewhere in their Object ID, and every
-- search's trigrams had to be checked against 36 characters of noise per member.
DROP INDEX member_search_trgm_idx;
DROP INDEX member_org_name_list_idx;
DROP INDEX member_org_email_list_idx;
DROP INDEX member_org_last_sso_list_idx;
ALTER TABLE member DROP COLUMN search_text;

-- Name, email and UPN in lower case, computed by the database (never out of date).
ALTER TABLE member ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    display_name_normalized || ' ' || email_normalized || ' ' || COALESCE(LOWER(directory_upn), '')
) STORED;
CREATE INDEX member_search_trgm_idx ON member USING gin (search_text gin_trgm_ops);
CREATE INDEX member_org_name_list_idx ON member
    (organization_id, display_name_normalized, id, sso_enabled, directory_object_id, last_sso_sign_in_at)
    INCLUDE (search_text);
CREATE INDEX member_org_email_list_idx ON member
    (organization_id, email_normalized, id, sso_enabled, directory_object_id, last_sso_sign_in_at)
    INCLUDE (search_text);
CREATE INDEX member_org_last_sso_list_idx ON member
    (organization_id, last_sso_sign_in_at NULLS FIRST, id, sso_enabled, directory_object_id)
    INCLUDE (search_text);
-- Object IDs by their beginning (`LIKE 'prefix%'`), whatever the database's collation.
CREATE INDEX member_org_object_id_prefix_idx ON member
    (organization_id, directory_object_id text_pattern_ops);
