-- Watcher cursors: how far each source file has been read. A cursor is
-- written in the transaction that commits the events read up to it, so
-- that a watcher restarted after a crash resumes where the committed
-- events end. It is not part of any chain: the watcher's own bookkeeping.
CREATE TABLE IF NOT EXISTS cursors (
    source      TEXT NOT NULL,     -- the file's format: claude_code, codex, openclaw
    path        TEXT NOT NULL,     -- the file's path as the watcher found it
    byte_offset INTEGER NOT NULL,  -- just past the last line whose events are committed
    file_id     TEXT NOT NULL,     -- the file's identity (device:inode); '' unknown
    size        INTEGER NOT NULL,  -- the file's size when the cursor was written
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, path)
) WITHOUT ROWID;
