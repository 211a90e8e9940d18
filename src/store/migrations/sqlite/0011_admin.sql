-- 0008_admin: what the admin console (#19) shows and records.
-- last_signin_at: when the person last signed in at the issuer (seconds; 0 never).
ALTER TABLE users ADD COLUMN last_signin_at INTEGER NOT NULL DEFAULT 0;
-- detail: what an administrative action acted on (an account, a client, a key, a role);
-- never note text. '' for the notes tools' records.
ALTER TABLE audit ADD COLUMN detail TEXT NOT NULL DEFAULT '';
-- the audit page's filters by person and by tool read newest first
CREATE INDEX audit_user_at ON audit (user_key, at);
CREATE INDEX audit_tool_at ON audit (tool, at);
