-- 0002_history_queries: what history queries, past reads and compaction need.
-- Runs inside one transaction together with the version bump (store_sqlite.c).

-- Events of one namespace in revision order ("what changed in payments", reads of a namespace
-- at a past revision, diffs). seq makes the order total; section lets a section filter be
-- checked inside the index, without a lookup of the row.
CREATE INDEX history_by_ns ON history (ns, revision, seq, section);

-- Revisions written by one actor, newest or oldest first.
CREATE INDEX revisions_by_actor ON revisions (actor, revision);

-- The compaction horizon: every event of a revision <= 'compacted' is gone, so the state can
-- still be read at 'compacted' itself but at nothing older. 0 until the first compaction.
INSERT INTO meta (name, value) VALUES ('compacted', 0);
