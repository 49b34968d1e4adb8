-- An organization's SSO connection with its directory. The draft is what admins edit; the
-- active configuration is what serves sign-ins, replaced only by an atomic activation.
-- Configurations are JSON documents; the client secret inside is sealed with the master key.
CREATE TABLE sso_connection (
    organization_id TEXT PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    -- 'draft' (never activated), 'active' or 'disabled'.
    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'disabled')),
    draft_config TEXT NOT NULL,
    -- Raised by every save; a save or activation naming an older version is refused.
    draft_version BIGINT NOT NULL,
    active_config TEXT,
    activated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
