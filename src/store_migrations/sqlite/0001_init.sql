-- 0001_init: current entries, the change history and the store's revision.
-- Runs inside one transaction together with the version bump (store_sqlite.c); it must not
-- contain BEGIN or COMMIT. Text compares as BINARY (byte order), which is the order of loads.

-- The current value of every key. WITHOUT ROWID: the primary key is the table's only b-tree.
CREATE TABLE kv (
    ns         TEXT    NOT NULL COLLATE BINARY,
    section    TEXT    NOT NULL COLLATE BINARY,
    key        TEXT    NOT NULL COLLATE BINARY,
    value      TEXT    NOT NULL,
    create_rev INTEGER NOT NULL,
    mod_rev    INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (ns, section, key)
) WITHOUT ROWID;

-- One row per committed revision: when, who and from where. Kept apart from the events so an
-- import of 100,000 keys stores its timestamp and actor once, not 100,000 times.
CREATE TABLE revisions (
    revision INTEGER PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    remote   TEXT    NOT NULL
);
-- Revisions by wall-clock time ("what changed since yesterday").
CREATE INDEX revisions_by_time ON revisions (ts_ms);

-- One row per changed key per revision; seq orders the events inside a revision.
CREATE TABLE history (
    revision  INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    op        TEXT    NOT NULL CHECK (op IN ('set', 'delete')),
    ns        TEXT    NOT NULL COLLATE BINARY,
    section   TEXT    NOT NULL COLLATE BINARY,
    key       TEXT    NOT NULL COLLATE BINARY,
    old_value TEXT,
    new_value TEXT,
    PRIMARY KEY (revision, seq)
) WITHOUT ROWID;

-- History of one key (or one section, by prefix), newest or oldest first.
CREATE INDEX history_by_key ON history (ns, section, key, revision);

-- Named integers; 'revision' is the highest committed revision (0 for an empty store).
CREATE TABLE meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (name, value) VALUES ('revision', 0);
