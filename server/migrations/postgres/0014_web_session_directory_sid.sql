-- The directory's session id (the ID token's `sid`) of a session started with SSO: the
-- directory's front-channel logout names only it, and every Gatehouse session it started ends.
ALTER TABLE web_session ADD COLUMN directory_sid TEXT;
CREATE INDEX web_session_directory_sid_idx ON web_session (directory_sid);
