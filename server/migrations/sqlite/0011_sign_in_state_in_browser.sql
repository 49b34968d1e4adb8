-- A sign-in in progress now lives in the browser that started it, in a sealed cookie (the
-- organization, nonce, PKCE verifier, where to return and when it expires). The server keeps
-- only the states that were used, each written in the transaction of the outcome it led to:
-- a sign-in is one write instead of three (attempt started, attempt used, session).
DROP TABLE sign_in_attempt;
CREATE TABLE used_sign_in_state (
    -- SHA-256 of the state parameter.
    state_hash TEXT PRIMARY KEY,
    -- After this the state's cookie is refused anyway, and the row can go.
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
