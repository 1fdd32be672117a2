-- Step 2: operational tables (settings and the slow-query log).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE slow_queries (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    name      TEXT NOT NULL,
    sql       TEXT NOT NULL,
    micros    INTEGER NOT NULL CHECK (micros >= 0)
);
CREATE INDEX idx_slow_queries_at ON slow_queries(at);
