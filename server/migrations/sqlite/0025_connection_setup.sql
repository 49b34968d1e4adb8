-- The automatic setup of an organization's connection, one at a time per organization. The
-- instance that started it drives it (the admin's token is in its memory only, never here);
-- any instance reads its progress and records the admin's answer.
CREATE TABLE connection_setup (
    organization_id TEXT PRIMARY KEY REFERENCES organization(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    -- What the wizard shows (JSON): stage, code, directory, steps, messages. No secrets.
    progress TEXT NOT NULL,
    -- The admin's answer to "create it in this directory?" (JSON), once given.
    decision TEXT,
    -- Unix milliseconds: when the driving instance last wrote (a stale one has stopped).
    heartbeat_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
