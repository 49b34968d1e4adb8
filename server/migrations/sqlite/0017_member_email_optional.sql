-- A member may have no email: one created on first sign-in takes the directory's email only
-- when the directory says it is verified (`xms_edov`) or its domain is proven for the
-- organization; otherwise an admin sets it. `email` is NULL then and `email_normalized` empty
-- (so the list sorts and searches as before), and an email is unique in its organization only
-- when there is one.
--
-- SQLite changes a column's constraints by rebuilding the table. The table that refers to
-- `member` (and the view over both) is set aside meanwhile, so that dropping the old table
-- cascades to nothing.
CREATE TABLE member_last_sign_in_kept AS SELECT * FROM member_last_sign_in;
DROP VIEW member_by_last_sign_in;
DROP TABLE member_last_sign_in;

CREATE TABLE member_rebuilt (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    email TEXT,
    email_normalized TEXT NOT NULL,
    display_name TEXT NOT NULL,
    display_name_normalized TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash TEXT,
    directory_tenant_id TEXT,
    directory_object_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sso_enabled BIGINT NOT NULL DEFAULT 0,
    directory_upn TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
INSERT INTO member_rebuilt (id, organization_id, email, email_normalized, display_name,
    display_name_normalized, role, status, password_hash, directory_tenant_id,
    directory_object_id, created_at, updated_at, sso_enabled, directory_upn, search_text)
    SELECT id, organization_id, email, email_normalized, display_name, display_name_normalized,
        role, status, password_hash, directory_tenant_id, directory_object_id, created_at,
        updated_at, sso_enabled, directory_upn, search_text
    FROM member;
DROP TABLE member;
ALTER TABLE member_rebuilt RENAME TO member;

CREATE UNIQUE INDEX member_email_key ON member (organization_id, email_normalized)
    WHERE email_normalized <> '';
CREATE UNIQUE INDEX member_directory_identity_key
    ON member (organization_id, directory_tenant_id, directory_object_id)
    WHERE directory_object_id IS NOT NULL;
CREATE INDEX member_email_idx ON member (email_normalized);
CREATE INDEX member_org_search_idx ON member (organization_id, search_text, id,
    display_name_normalized, email_normalized, sso_enabled, directory_object_id);
CREATE INDEX member_org_name_list_idx ON member (organization_id, display_name_normalized, id,
    sso_enabled, directory_object_id, search_text);
CREATE INDEX member_org_email_list_idx ON member (organization_id, email_normalized, id,
    sso_enabled, directory_object_id, search_text);

-- The searchable text: name, email and UPN in lower case (as 0010 made it).
CREATE TRIGGER member_search_text_insert AFTER INSERT ON member
WHEN NEW.search_text IS NOT NEW.display_name_normalized || ' ' || NEW.email_normalized || ' ' ||
    COALESCE(LOWER(NEW.directory_upn), '')
BEGIN
    UPDATE member SET search_text = NEW.display_name_normalized || ' ' || NEW.email_normalized
        || ' ' || COALESCE(LOWER(NEW.directory_upn), '')
    WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER member_search_text_update
AFTER UPDATE OF display_name_normalized, email_normalized, directory_upn ON member
BEGIN
    UPDATE member SET search_text = NEW.display_name_normalized || ' ' || NEW.email_normalized
        || ' ' || COALESCE(LOWER(NEW.directory_upn), '')
    WHERE rowid = NEW.rowid;
END;

-- The last sign-ins, back as 0014 made them.
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
INSERT INTO member_last_sign_in (member_id, organization_id, last_sso_sign_in_at, sso_enabled,
    directory_object_id, search_text)
    SELECT member_id, organization_id, last_sso_sign_in_at, sso_enabled, directory_object_id,
        search_text
    FROM member_last_sign_in_kept;
DROP TABLE member_last_sign_in_kept;
CREATE INDEX member_last_sign_in_list_idx ON member_last_sign_in
    (organization_id, last_sso_sign_in_at, member_id, sso_enabled, directory_object_id, search_text);
CREATE TRIGGER member_last_sign_in_row AFTER INSERT ON member BEGIN
    INSERT INTO member_last_sign_in
        (member_id, organization_id, sso_enabled, directory_object_id, search_text)
        SELECT id, organization_id, sso_enabled, directory_object_id, search_text
        FROM member WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER member_last_sign_in_copies
AFTER UPDATE OF sso_enabled, directory_object_id, search_text ON member BEGIN
    UPDATE member_last_sign_in
        SET sso_enabled = NEW.sso_enabled, directory_object_id = NEW.directory_object_id,
            search_text = NEW.search_text
        WHERE member_id = NEW.id;
END;
CREATE VIEW member_by_last_sign_in AS
    SELECT s.organization_id, s.member_id AS id, s.last_sso_sign_in_at, s.sso_enabled,
        s.directory_object_id, s.search_text, m.display_name_normalized, m.email_normalized
    FROM member_last_sign_in s LEFT JOIN member m ON m.id = s.member_id;
