-- End-user sign-in with the organization's directory.

-- Where to send the person after a sign-in (a relative path on Gatehouse), when asked.
ALTER TABLE sign_in_attempt ADD COLUMN return_to TEXT;

-- In "selected members only" mode, whether this member may use SSO (1) or not (0).
ALTER TABLE member ADD COLUMN sso_enabled BIGINT NOT NULL DEFAULT 0;
-- When this member last signed in with SSO; the newest one is the connection's last sign-in.
ALTER TABLE member ADD COLUMN last_sso_sign_in_at BIGINT;
CREATE INDEX member_last_sso_idx ON member (organization_id, last_sso_sign_in_at);

-- The connection's last error, for the overview.
ALTER TABLE sso_connection ADD COLUMN last_error TEXT;
ALTER TABLE sso_connection ADD COLUMN last_error_at BIGINT;

-- The email domains of the active configuration that the directory has proven, for the
-- email-first sign-in page. Rewritten by every activation.
CREATE TABLE sso_domain (
    domain TEXT NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    PRIMARY KEY (domain, organization_id)
);
