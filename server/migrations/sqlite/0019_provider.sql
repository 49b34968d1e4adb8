-- Gatehouse as an OpenID Provider for the vendor's own applications.

-- An application of the vendor that signs people in through Gatehouse. Its id is its client ID.
CREATE TABLE application (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- `confidential` (authenticates with a client secret) or `public` (PKCE only).
    kind TEXT NOT NULL,
    -- JSON arrays of URIs, each matched exactly.
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri TEXT,
    -- JSON array of the organization ids it may serve; NULL: every organization.
    organization_ids TEXT,
    -- 1 when people signed in with a password (operators, break-glass admins) may reach it.
    allow_password_sessions BIGINT NOT NULL DEFAULT 0,
    -- `ES256` or `RS256`: how its ID tokens are signed.
    signing_alg TEXT NOT NULL,
    -- How long a refresh token works (never past the end of the person's Gatehouse session).
    refresh_token_lifetime_seconds BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A confidential application's client secrets: two may be valid while one is rotated out.
-- Secrets are 256 random bits, so their SHA-256 is all that is kept.
CREATE TABLE application_secret (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    -- The secret's last four characters, which the console shows.
    hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX application_secret_application_idx ON application_secret (application_id);

-- The keys that sign ID tokens. The private key is sealed with the master key. A key is
-- published from `created_at` and signs from `signs_from`, so that applications have fetched it
-- before they see it; a retired key stays published until the tokens it signed have expired.
CREATE TABLE signing_key (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    -- The public key as a JSON Web Key.
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    signs_from BIGINT NOT NULL,
    retired_at BIGINT
);

-- One authorization of an application for a member: its code, then what the code issued.
CREATE TABLE provider_grant (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    application_id TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    -- The `sid` claim: a random id of the Gatehouse session, never the session cookie.
    session_sid TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    -- PKCE S256 challenge, when the application sent one.
    code_challenge TEXT,
    nonce TEXT,
    -- When the person signed in (Unix milliseconds), for `auth_time`.
    auth_time BIGINT NOT NULL,
    -- 1 when they signed in with their directory (else with a password): turning the
    -- organization's single sign-on off then ends what the grant gives.
    by_directory BIGINT NOT NULL,
    code_expires_at BIGINT NOT NULL,
    code_used_at BIGINT,
    -- Set when a second use of the code, a refresh token used twice or the end of the
    -- session revokes everything the grant issued.
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX provider_grant_member_idx ON provider_grant (organization_id, member_id);
CREATE INDEX provider_grant_session_idx ON provider_grant (session_sid);

-- The access tokens a grant issued (for `userinfo`); only their SHA-256 is kept.
CREATE TABLE provider_access_token (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES provider_grant (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX provider_access_token_grant_idx ON provider_access_token (grant_id);

-- The refresh tokens of a grant: each works once and is replaced by the next (rotation); one
-- used again after its grace revokes the grant, so the whole family stops.
CREATE TABLE provider_refresh_token (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES provider_grant (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX provider_refresh_token_grant_idx ON provider_refresh_token (grant_id);

-- Back-channel logout tokens owed to applications (OpenID Connect Back-Channel Logout 1.0):
-- one per application and ended session, written in the transaction that ends the session's
-- grants, and sent by background work with retries.
CREATE TABLE provider_logout (
    application_id TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    session_sid TEXT NOT NULL,
    member_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    sent_at BIGINT,
    gave_up_at BIGINT,
    last_error TEXT,
    PRIMARY KEY (application_id, session_sid)
);
CREATE INDEX provider_logout_due_idx ON provider_logout (next_attempt_at)
    WHERE sent_at IS NULL AND gave_up_at IS NULL;
