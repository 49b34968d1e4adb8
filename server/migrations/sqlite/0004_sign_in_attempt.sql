-- One OpenID Connect sign-in in progress: created when Gatehouse sends the browser to the
-- directory, consumed once by the callback, useless after ten minutes. `state_hash` is the
-- SHA-256 of the state parameter; `browser_key_hash` binds the attempt to the browser that
-- started it.
CREATE TABLE sign_in_attempt (
    state_hash TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    -- 'test' (the wizard's test sign-in).
    purpose TEXT NOT NULL,
    browser_key_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- The last test sign-in of the draft, kept beside the draft so it does not change its version.
ALTER TABLE sso_connection ADD COLUMN test_sign_in TEXT;
