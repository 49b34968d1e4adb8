-- The expiry warnings sent for a connection's credentials: one row per credential and
-- threshold (30, 14, 7 and 1 days before, and 0 once expired). The primary key is what makes
-- each warning go out once, even when several instances check at the same moment.
CREATE TABLE credential_warning (
    organization_id TEXT NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
    -- Which credential: its kind and what identifies it (a secret's hint and expiry, a
    -- certificate's thumbprint).
    credential TEXT NOT NULL,
    threshold_days BIGINT NOT NULL,
    -- Unix milliseconds.
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, credential, threshold_days)
);
