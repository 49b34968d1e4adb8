-- Foundation: operators, organizations, members, one-time links, sessions and the audit log.
-- Times are Unix milliseconds (BIGINT) so the same queries run on SQLite and PostgreSQL.

-- The vendor's staff who run Gatehouse. They belong to no organization.
CREATE TABLE operator (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The link printed at first start to create the first operator. Only a hash is kept.
CREATE TABLE first_run_link (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

-- One customer account of the vendor.
CREATE TABLE organization (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_normalized TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT organization_slug_key UNIQUE (slug)
);
CREATE INDEX organization_name_idx ON organization (name_normalized);

-- A person's account inside an organization. Admins have a password for break-glass sign-in.
-- (directory_tenant_id, directory_object_id) is the mapping to a directory user.
CREATE TABLE member (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    display_name TEXT NOT NULL,
    display_name_normalized TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash TEXT,
    directory_tenant_id TEXT,
    directory_object_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT member_email_key UNIQUE (organization_id, email_normalized)
);
CREATE UNIQUE INDEX member_directory_identity_key
    ON member (organization_id, directory_tenant_id, directory_object_id)
    WHERE directory_object_id IS NOT NULL;
CREATE INDEX member_email_idx ON member (email_normalized);
CREATE INDEX member_org_name_idx ON member (organization_id, display_name_normalized);

-- An invitation for a person to become an admin of one organization.
CREATE TABLE admin_invite (
    token_hash TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Server-side sessions (tower-sessions records as JSON).
CREATE TABLE web_session (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_session_expiry_idx ON web_session (expires_at);

-- Every change and every sign-in attempt. No foreign key: entries outlive what they name.
CREATE TABLE audit_event (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_event_org_idx ON audit_event (organization_id, id);
