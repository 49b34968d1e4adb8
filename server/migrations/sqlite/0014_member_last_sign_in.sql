-- A member's last SSO sign-in moves to a table of its own (as on PostgreSQL, where a sign-in's
-- update of it rewrote the member in every index on `member`). Here a sign-in updates a row
-- with two indexes instead of four of the list's wide ones, and never touches `member`.
CREATE TABLE member_last_sign_in (
    member_id TEXT PRIMARY KEY REFERENCES member (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    -- Unix milliseconds; NULL until the member's first SSO sign-in.
    last_sso_sign_in_at BIGINT,
    -- Copies of the member's columns the list filters and searches on, kept equal by the
    -- triggers below, so that the list in last sign-in order reads this table's index alone.
    sso_enabled BIGINT NOT NULL,
    directory_object_id TEXT,
    search_text TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO member_last_sign_in
    SELECT id, organization_id, last_sso_sign_in_at, sso_enabled, directory_object_id, search_text
    FROM member;
-- The members list in last sign-in order (read backwards: newest first, never signed in last),
-- filtered and searched, and the recent sign-ins filter.
CREATE INDEX member_last_sign_in_list_idx ON member_last_sign_in
    (organization_id, last_sso_sign_in_at, member_id, sso_enabled, directory_object_id, search_text);

-- Every member has a row, made with the member. It reads the member as it is when the trigger
-- runs: the searchable text's own trigger may have written it already, or may write it after
-- (and the copies' trigger then follows).
CREATE TRIGGER member_last_sign_in_row AFTER INSERT ON member BEGIN
    INSERT INTO member_last_sign_in
        (member_id, organization_id, sso_enabled, directory_object_id, search_text)
        SELECT id, organization_id, sso_enabled, directory_object_id, search_text
        FROM member WHERE rowid = NEW.rowid;
END;
-- The copies follow the member's changes.
CREATE TRIGGER member_last_sign_in_copies
AFTER UPDATE OF sso_enabled, directory_object_id, search_text ON member BEGIN
    UPDATE member_last_sign_in
        SET sso_enabled = NEW.sso_enabled, directory_object_id = NEW.directory_object_id,
            search_text = NEW.search_text
        WHERE member_id = NEW.id;
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

-- The members in last sign-in order, with every column the list filters, searches and sorts
-- on. The member's own row is read (a left join on its key, which SQLite leaves out otherwise)
-- only for a name or email order: the recent sign-ins filter's.
CREATE VIEW member_by_last_sign_in AS
    SELECT s.organization_id, s.member_id AS id, s.last_sso_sign_in_at, s.sso_enabled,
        s.directory_object_id, s.search_text, m.display_name_normalized, m.email_normalized
    FROM member_last_sign_in s LEFT JOIN member m ON m.id = s.member_id;
