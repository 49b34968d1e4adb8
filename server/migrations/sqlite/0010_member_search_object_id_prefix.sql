-- A search finds an Object ID by its beginning instead of anywhere inside the searchable text.
-- An Object ID is random hexadecimal: searching "ada" or "bead" matched about one member in a
-- hundred by a few letters somewhere in their Object ID, and every search tested 36 characters
-- of noise per member. The search index still holds the Object ID column for the prefix test.
DROP TRIGGER member_search_text_insert;
DROP TRIGGER member_search_text_update;
-- Name, email and UPN in lower case. An import writes the text with the row; the trigger then
-- leaves it alone.
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
UPDATE member SET search_text = display_name_normalized || ' ' || email_normalized || ' ' ||
    COALESCE(LOWER(directory_upn), '');
