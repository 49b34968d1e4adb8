-- Each email domain an organization lists for email-first sign-in, and its proof: the value
-- its DNS TXT record must hold, and when, how and by whom it was proven. A token's claims never
-- prove a domain, so the proofs the test sign-in recorded before this are not carried over.
CREATE TABLE email_domain (
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    -- The value of the `_gatehouse-challenge.<domain>` TXT record that proves it.
    challenge TEXT NOT NULL,
    -- Unix milliseconds; NULL while waiting for proof.
    proven_at BIGINT,
    -- `dns`, or `operator:<email>` for an operator's approval.
    proven_by TEXT,
    -- The last re-check, and since when a re-check has found the record missing.
    checked_at BIGINT,
    missing_since BIGINT,
    PRIMARY KEY (organization_id, domain)
);
-- A proven domain belongs to one organization.
CREATE UNIQUE INDEX email_domain_proven_once ON email_domain (domain) WHERE proven_at IS NOT NULL;
