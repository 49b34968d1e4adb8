-- A member's last SSO sign-in moves to a narrow table of its own (as on PostgreSQL, where a
-- sign-in's update of it rewrote the member in every index on `member`). Here a sign-in
-- updates a row of three columns with two small indexes instead of four of the list's wide
-- ones, and never touches `member`.
CREATE TABLE member_last_sign_in (
    member_id TEXT PRIMARY KEY REFERENCES member (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    -- Unix milliseconds; NULL until the member's first SSO sign-in.
    last_sso_sign_in_at BIGINT
) WITHOUT ROWID;
INSERT INTO member_last_sign_in (member_id, organization_id, last_sso_sign_in_at)
    SELECT id, organization_id, last_sso_sign_in_at FROM member;
-- The members list in last sign-in order (read backwards: newest first, never signed in last),
-- and the recent sign-ins filter.
CREATE INDEX member_last_sign_in_list_idx ON member_last_sign_in
    (organization_id, last_sso_sign_in_at, member_id);

-- Every member has a row, so the list in last sign-in order is one index.
CREATE TRIGGER member_last_sign_in_row AFTER INSERT ON member BEGIN
    INSERT INTO member_last_sign_in (member_id, organization_id)
        VALUES (NEW.id, NEW.organization_id);
END;

-- The list's indexes without the last sign-in (SQLite drops a column no index holds).
DROP INDEX member_org_search_idx;
DROP INDEX member_org_name_list_idx;
DROP INDEX member_org_email_list_idx;
DROP INDEX member_org_last_sso_list_idx;
ALTER TABLE member DROP COLUMN last_sso_sign_in_at;
CREATE INDEX member_org_search_idx ON member (organization_id, search_text, id,
    display_name_normalized, email_normalized, sso_enabled, directory_object_id);
CREATE INDEX member_org_name_list_idx ON member (organization_id, display_name_normalized, id,
    sso_enabled, directory_object_id, search_text);
CREATE INDEX member_org_email_list_idx ON member (organization_id, email_normalized, id,
    sso_enabled, directory_object_id, search_text);

-- The members in last sign-in order, with the columns the list filters and searches on: read
-- from the sign-in table's index, each member's row fetched only when the list filters or
-- searches (a left join on the member's key, which SQLite leaves out otherwise).
CREATE VIEW member_by_last_sign_in AS
    SELECT s.organization_id, s.member_id AS id, s.last_sso_sign_in_at,
        m.display_name_normalized, m.email_normalized, m.sso_enabled, m.directory_object_id,
        m.search_text
    FROM member_last_sign_in s LEFT JOIN member m ON m.id = s.member_id;
