-- A member's last SSO sign-in moves to a narrow table of its own. In `member` it was a column
-- of the members list's indexes, so every sign-in's update of it was a new version of the
-- member in every index on `member` (about ten, the trigram index among them, with dozens of
-- entries per member): most of a sign-in's own work in the database. Here a sign-in updates a
-- row of three columns with two small indexes, and never touches `member`.
CREATE TABLE member_last_sign_in (
    member_id TEXT PRIMARY KEY REFERENCES member (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    -- Unix milliseconds; NULL until the member's first SSO sign-in.
    last_sso_sign_in_at BIGINT
);
INSERT INTO member_last_sign_in (member_id, organization_id, last_sso_sign_in_at)
    SELECT id, organization_id, last_sso_sign_in_at FROM member;
-- The members list in last sign-in order (read backwards: newest first, never signed in last),
-- and the recent sign-ins filter.
CREATE INDEX member_last_sign_in_list_idx ON member_last_sign_in
    (organization_id, last_sso_sign_in_at NULLS FIRST, member_id);

-- Every member has a row, so the list in last sign-in order is one index.
CREATE FUNCTION member_last_sign_in_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_last_sign_in (member_id, organization_id)
        SELECT id, organization_id FROM inserted;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_last_sign_in_rows AFTER INSERT ON member
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION member_last_sign_in_rows();

-- The list's name and email indexes without the last sign-in (dropping the column drops them).
ALTER TABLE member DROP COLUMN last_sso_sign_in_at;
CREATE INDEX member_org_name_list_idx ON member
    (organization_id, display_name_normalized, id, sso_enabled, directory_object_id)
    INCLUDE (search_text);
CREATE INDEX member_org_email_list_idx ON member
    (organization_id, email_normalized, id, sso_enabled, directory_object_id)
    INCLUDE (search_text);

-- The members in last sign-in order, with the columns the list filters and searches on: read
-- from the sign-in table's index, each member's row fetched only when the list filters or
-- searches (a left join on the member's key, which the database leaves out otherwise).
CREATE VIEW member_by_last_sign_in AS
    SELECT s.organization_id, s.member_id AS id, s.last_sso_sign_in_at,
        m.display_name_normalized, m.email_normalized, m.sso_enabled, m.directory_object_id,
        m.search_text
    FROM member_last_sign_in s LEFT JOIN member m ON m.id = s.member_id;
