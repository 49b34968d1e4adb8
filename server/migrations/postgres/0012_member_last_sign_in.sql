-- A member's last SSO sign-in moves to a table of its own. In `member` it was a column of the
-- members list's indexes, so every sign-in's update of it was a new version of the member in
-- every index on `member` (about ten, the trigram index among them, with dozens of entries per
-- member): most of a sign-in's own work in the database. Here a sign-in updates a row with two
-- indexes, and never touches `member`.
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
);
INSERT INTO member_last_sign_in
    SELECT id, organization_id, last_sso_sign_in_at, sso_enabled, directory_object_id, search_text
    FROM member;
-- The members list in last sign-in order (read backwards: newest first, never signed in last),
-- filtered and searched, and the recent sign-ins filter.
CREATE INDEX member_last_sign_in_list_idx ON member_last_sign_in
    (organization_id, last_sso_sign_in_at NULLS FIRST, member_id, sso_enabled, directory_object_id)
    INCLUDE (search_text);

-- Every member has a row, made with the member.
CREATE FUNCTION member_last_sign_in_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_last_sign_in
        (member_id, organization_id, sso_enabled, directory_object_id, search_text)
        SELECT id, organization_id, sso_enabled, directory_object_id, search_text FROM inserted;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_last_sign_in_rows AFTER INSERT ON member
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION member_last_sign_in_rows();
-- The copies follow the member's changes.
CREATE FUNCTION member_last_sign_in_copies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE member_last_sign_in s
        SET sso_enabled = m.sso_enabled, directory_object_id = m.directory_object_id,
            search_text = m.search_text
        FROM changed m
        WHERE s.member_id = m.id
            AND (s.sso_enabled, s.directory_object_id, s.search_text)
                IS DISTINCT FROM (m.sso_enabled, m.directory_object_id, m.search_text);
    RETURN NULL;
END
$$;
CREATE TRIGGER member_last_sign_in_copies AFTER UPDATE ON member
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION member_last_sign_in_copies();

-- The list's name and email indexes without the last sign-in (dropping the column drops them).
ALTER TABLE member DROP COLUMN last_sso_sign_in_at;
CREATE INDEX member_org_name_list_idx ON member
    (organization_id, display_name_normalized, id, sso_enabled, directory_object_id)
    INCLUDE (search_text);
CREATE INDEX member_org_email_list_idx ON member
    (organization_id, email_normalized, id, sso_enabled, directory_object_id)
    INCLUDE (search_text);

-- The members in last sign-in order, with every column the list filters, searches and sorts
-- on. The member's own row is read (a left join on its key, which the database leaves out
-- otherwise) only for a name or email order: the recent sign-ins filter's.
CREATE VIEW member_by_last_sign_in AS
    SELECT s.organization_id, s.member_id AS id, s.last_sso_sign_in_at, s.sso_enabled,
        s.directory_object_id, s.search_text, m.display_name_normalized, m.email_normalized
    FROM member_last_sign_in s LEFT JOIN member m ON m.id = s.member_id;
