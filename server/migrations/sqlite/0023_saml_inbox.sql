-- SAML responses posted to a Reply URL, held for the moment between Entra's cross-site POST
-- (which carries no SameSite=Lax cookie) and the same-site GET that finishes the sign-in with
-- the browser's attempt. Each is taken once, by the hash of a handle only that browser was
-- given, and expires within minutes.
CREATE TABLE saml_inbox (
    handle_hash TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    response TEXT NOT NULL,
    relay_state TEXT,
    -- Unix milliseconds.
    expires_at BIGINT NOT NULL
);
