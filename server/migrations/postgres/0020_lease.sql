-- Background work that one instance does at a time (sending email and back-channel logouts,
-- housekeeping): the instance holding a job's lease does it, renewing the lease as it goes; a
-- lease that was not renewed in time passes to another instance.
CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    -- Unix milliseconds.
    expires_at BIGINT NOT NULL
);
