-- Email to people (such as an organization's admins warned that a domain proof is missing),
-- written in the same transaction as the change that causes it and sent by background work
-- through the operator's SMTP server: nothing is lost when the server stops, and a failed
-- delivery is tried again with a growing delay.
CREATE TABLE outbox_email (
    id TEXT PRIMARY KEY,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The next attempt (Unix milliseconds); a sender that takes the message moves it ahead.
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    sent_at BIGINT,
    -- Set when Gatehouse stopped trying; `last_error` says why.
    gave_up_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_email_due_idx ON outbox_email (next_attempt_at)
    WHERE sent_at IS NULL AND gave_up_at IS NULL;
