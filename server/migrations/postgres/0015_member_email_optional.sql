-- A member may have no email: one created on first sign-in takes the directory's email only
-- when the directory says it is verified (`xms_edov`) or its domain is proven for the
-- organization; otherwise an admin sets it. `email` is NULL then and `email_normalized` empty
-- (so the list sorts and searches as before), and an email is unique in its organization only
-- when there is one.
ALTER TABLE member ALTER COLUMN email DROP NOT NULL;
ALTER TABLE member DROP CONSTRAINT member_email_key;
CREATE UNIQUE INDEX member_email_key ON member (organization_id, email_normalized)
    WHERE email_normalized <> '';
