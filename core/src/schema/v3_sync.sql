-- Step 3: sync bookkeeping.

-- On a terminal: per server and document, the server's heads this replica
-- is known to hold (the point a reconnect resumes from).
CREATE TABLE sync_state (
    peer     TEXT NOT NULL,
    doc_id   TEXT NOT NULL,
    synced   BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
) WITHOUT ROWID;

-- On the server: registered terminals. The secret token is kept only as
-- its SHA-256.
CREATE TABLE terminals (
    id          TEXT PRIMARY KEY,
    branch_id   TEXT NOT NULL,
    branch_code TEXT NOT NULL,
    code        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    last_seen   INTEGER,
    UNIQUE (branch_id, code)
);
CREATE INDEX idx_terminals_branch ON terminals(branch_id);
