-- Audit entries are never deleted, so the largest id plus one (what an INTEGER PRIMARY KEY takes
-- without AUTOINCREMENT) is always a new id. AUTOINCREMENT also kept the last id in
-- sqlite_sequence: one more page written by every entry, and so by every sign-in.
CREATE TABLE audit_event_by_id (
    id INTEGER PRIMARY KEY,
    organization_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO audit_event_by_id (id, organization_id, actor, action, target, outcome, detail,
    client_addr, created_at)
SELECT id, organization_id, actor, action, target, outcome, detail, client_addr, created_at
FROM audit_event;
DROP TABLE audit_event;
ALTER TABLE audit_event_by_id RENAME TO audit_event;
CREATE INDEX audit_event_org_idx ON audit_event (organization_id, id);
DELETE FROM sqlite_sequence WHERE name = 'audit_event';
