-- Sessions are only ever found by their id. Kept in the id's own b-tree (WITHOUT ROWID), a
-- session started or ended changes one page less: the table and its primary-key index were two.
CREATE TABLE web_session_by_id (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO web_session_by_id (id, data, expires_at) SELECT id, data, expires_at FROM web_session;
DROP TABLE web_session;
ALTER TABLE web_session_by_id RENAME TO web_session;
CREATE INDEX web_session_expiry_idx ON web_session (expires_at);
