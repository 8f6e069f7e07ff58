-- History benchmark, part 3: the query plan of every statement shape that
-- src/store_sqlite_history.c builds, as SQLite plans it on the benchmark's store.
--   sqlite3 -readonly build/bench/history/data/confhub.db < bench/history_plans.sql
-- The text mirrors history_sql(), state_sql() and changes_sql() (parameters: ?1 ns,
-- ?2 section, ?3 key, ?4 prefix or revision, ?5 from, ?6 to, ?7 actor, ?8 op, ?9 ?10 cursor,
-- ?11 limit, ?12 since, ?13 until; a cursor also narrows ?5..?6); keep the two in step when
-- either changes.
-- "SEARCH ... USING INDEX" reads a range of an index; "SCAN h"/"SCAN r" over the table would be
-- a pass over every event or revision ("SCAN c"/"SCAN r" over a MATERIALIZED CTE is a pass over
-- the rows that CTE's own SEARCH found).

.print '== newest page, no filter'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== one key'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 AND h.section = ?2 AND h.key = ?3 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== one section'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM (SELECT k.revision, k.seq FROM history k INDEXED BY history_by_key WHERE k.ns = ?1 AND k.section = ?2 AND k.revision >= ?5 AND k.revision <= ?6 ORDER BY k.revision DESC, k.seq DESC LIMIT ?11) p JOIN history h ON h.revision = p.revision AND h.seq = p.seq JOIN revisions r ON r.revision = h.revision WHERE 1 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== one section, with an op or actor filter'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h INDEXED BY history_by_key JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 AND h.section = ?2 AND h.op = ?8 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== one namespace'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== one namespace, section prefix'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 AND instr(h.section, ?4) = 1 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== actor'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE r.revision >= ?5 AND r.revision <= ?6 AND r.actor = ?7 ORDER BY r.revision DESC, h.seq DESC LIMIT ?11;
.print '== actor within one namespace'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 AND r.actor = ?7 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== actor, cursor (page N)'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE r.revision >= ?5 AND r.revision <= ?6 AND r.actor = ?7 AND (h.revision, h.seq) < (?9, ?10) ORDER BY r.revision DESC, h.seq DESC LIMIT ?11;
.print '== op=delete'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.op = ?8 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== time window (since/until are first turned into revision bounds ?5 ?6)'
EXPLAIN QUERY PLAN SELECT revision FROM revisions WHERE ts_ms >= ?1 ORDER BY ts_ms, revision LIMIT 1;
EXPLAIN QUERY PLAN SELECT revision FROM revisions WHERE ts_ms <= ?1 ORDER BY ts_ms DESC, revision DESC LIMIT 1;
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND r.ts_ms >= ?12 AND r.ts_ms <= ?13 ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== cursor (page N), no filter'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND (h.revision, h.seq) < (?9, ?10) ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== cursor (page N), one namespace'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 AND (h.revision, h.seq) < (?9, ?10) ORDER BY h.revision DESC, h.seq DESC LIMIT ?11;
.print '== order=asc from a revision, one namespace'
EXPLAIN QUERY PLAN SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns, h.section, h.key, h.old_value, h.new_value FROM history h JOIN revisions r ON r.revision = h.revision WHERE h.revision >= ?5 AND h.revision <= ?6 AND h.ns = ?1 ORDER BY h.revision, h.seq LIMIT ?11;
.print '== state of a key at R'
EXPLAIN QUERY PLAN WITH c AS MATERIALIZED (SELECT h.ns, h.section, h.key, h.old_value, min(h.revision) FROM history h WHERE h.revision > ?4 AND h.ns = ?1 AND h.section = ?2 AND h.key = ?3 GROUP BY h.ns, h.section, h.key) SELECT kv.ns, kv.section, kv.key, kv.value FROM kv WHERE 1 AND kv.ns = ?1 AND kv.section = ?2 AND kv.key = ?3 AND NOT EXISTS (SELECT 1 FROM c WHERE c.ns = kv.ns AND c.section = kv.section AND c.key = kv.key) UNION ALL SELECT ns, section, key, old_value FROM c WHERE old_value IS NOT NULL ORDER BY 1, 2, 3;
.print '== state of a section at R'
EXPLAIN QUERY PLAN WITH c AS MATERIALIZED (SELECT h.ns, h.section, h.key, h.old_value, min(h.revision) FROM history h INDEXED BY history_by_key WHERE h.revision > ?4 AND h.ns = ?1 AND h.section = ?2 GROUP BY h.ns, h.section, h.key) SELECT kv.ns, kv.section, kv.key, kv.value FROM kv WHERE 1 AND kv.ns = ?1 AND kv.section = ?2 AND NOT EXISTS (SELECT 1 FROM c WHERE c.ns = kv.ns AND c.section = kv.section AND c.key = kv.key) UNION ALL SELECT ns, section, key, old_value FROM c WHERE old_value IS NOT NULL ORDER BY 1, 2, 3;
.print '== state of a namespace at R'
EXPLAIN QUERY PLAN WITH c AS MATERIALIZED (SELECT h.ns, h.section, h.key, h.old_value, min(h.revision) FROM history h INDEXED BY history_by_ns WHERE h.revision > ?4 AND h.ns = ?1 GROUP BY h.ns, h.section, h.key) SELECT kv.ns, kv.section, kv.key, kv.value FROM kv WHERE 1 AND kv.ns = ?1 AND NOT EXISTS (SELECT 1 FROM c WHERE c.ns = kv.ns AND c.section = kv.section AND c.key = kv.key) UNION ALL SELECT ns, section, key, old_value FROM c WHERE old_value IS NOT NULL ORDER BY 1, 2, 3;
.print '== diff of a namespace between two revisions'
EXPLAIN QUERY PLAN WITH r AS MATERIALIZED (SELECT h.ns, h.section, h.key, h.revision, h.old_value, h.new_value FROM history h WHERE h.revision > ?4 AND h.revision <= ?5 AND h.ns = ?1), f AS (SELECT ns, section, key, old_value, min(revision) FROM r GROUP BY ns, section, key), l AS (SELECT ns, section, key, new_value, max(revision) FROM r GROUP BY ns, section, key) SELECT f.ns, f.section, f.key, f.old_value, l.new_value FROM f JOIN l USING (ns, section, key) WHERE f.old_value IS NOT l.new_value ORDER BY 1, 2, 3;
