-- 0012_audit_indexes: the audit log keeps its index by time.
-- 0009 added indexes by person and by tool for the admin console's filters, but its query
-- takes each filter as optional ("$1::text IS NULL OR user_key = $1 OR ..."), which a
-- prepared statement's generic plan cannot serve with those indexes; every tool call paid
-- for two more index inserts per audit record (docs/PERFORMANCE.md, second round).
DROP INDEX IF EXISTS audit_user_at;
DROP INDEX IF EXISTS audit_tool_at;
