-- The members list at 100,000 members: one searchable text per member, and indexes that hold
-- every column the list filters and sorts on, so a page is read from the index alone.

-- Name, email, UPN and Object ID in lower case, kept by triggers (a stored column: SQLite can
-- scan its index alone, which it cannot do for a virtual generated column).
ALTER TABLE member ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE member SET search_text = display_name_normalized || ' ' || email_normalized || ' ' ||
    COALESCE(LOWER(directory_upn), '') || ' ' || COALESCE(directory_object_id, '');
CREATE TRIGGER member_search_text_insert AFTER INSERT ON member BEGIN
    UPDATE member SET search_text = NEW.display_name_normalized || ' ' || NEW.email_normalized
        || ' ' || COALESCE(LOWER(NEW.directory_upn), '') || ' ' || COALESCE(NEW.directory_object_id, '')
    WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER member_search_text_update
AFTER UPDATE OF display_name_normalized, email_normalized, directory_upn, directory_object_id ON member
BEGIN
    UPDATE member SET search_text = NEW.display_name_normalized || ' ' || NEW.email_normalized
        || ' ' || COALESCE(LOWER(NEW.directory_upn), '') || ' ' || COALESCE(NEW.directory_object_id, '')
    WHERE rowid = NEW.rowid;
END;
-- Everything a search filters, sorts and counts on, so a search reads this index alone.
CREATE INDEX member_org_search_idx ON member (organization_id, search_text, id,
    display_name_normalized, email_normalized, sso_enabled, directory_object_id, last_sso_sign_in_at);

DROP INDEX member_org_name_idx;
DROP INDEX member_last_sso_idx;
CREATE INDEX member_org_name_list_idx ON member
    (organization_id, display_name_normalized, id, sso_enabled, directory_object_id, last_sso_sign_in_at);
CREATE INDEX member_org_email_list_idx ON member
    (organization_id, email_normalized, id, sso_enabled, directory_object_id, last_sso_sign_in_at);
CREATE INDEX member_org_last_sso_list_idx ON member
    (organization_id, last_sso_sign_in_at, id, sso_enabled, directory_object_id);
