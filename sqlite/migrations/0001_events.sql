-- The events table as ClawMetry created it, before hash chains.
-- A store made by an older version already has this table; the statement
-- then does nothing.
CREATE TABLE IF NOT EXISTS events (
    id           TEXT PRIMARY KEY,
    agent_type   TEXT NOT NULL DEFAULT 'openclaw',
    node_id      TEXT NOT NULL,
    agent_id     TEXT NOT NULL DEFAULT 'main',
    session_id   TEXT,
    workspace_id TEXT,
    event_type   TEXT NOT NULL,
    ts           TEXT NOT NULL,
    data         TEXT,
    cost_usd     REAL,
    token_count  INTEGER,
    model        TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
