-- Time-limited links an operator hands to a customer: whoever opens one creates an admin
-- account for that one organization and lands in the SSO setup wizard. Only a hash is kept.
CREATE TABLE setup_link (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    used_at BIGINT,
    used_by TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX setup_link_org_idx ON setup_link (organization_id, created_at);
