-- 0012_audit_indexes: the audit log keeps one index, by time.
-- 0011 added indexes by person and by tool for the admin console's filters, but its query
-- takes each filter as optional ("?1 IS NULL OR user_key = ?1 OR ..."), which no index can
-- serve: the plan reads audit_at between the two times and filters (EXPLAIN QUERY PLAN).
-- Meanwhile every tool call paid for both: two more b-tree inserts per audit record, and
-- with many people active at once each batch of records touched a leaf of the person
-- index per person (1.4 page writes per list_my_notes request at 64 connections against
-- 0.1 without them; docs/PERFORMANCE.md, second round).
DROP INDEX IF EXISTS audit_user_at;
DROP INDEX IF EXISTS audit_tool_at;
