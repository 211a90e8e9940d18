-- 0006_email_codes: one-time sign-in codes and links sent by email (issue #18).
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- code_hash and link_hash are keyed hashes (HMAC with the server secret, so a database
-- dump does not let anyone try the 10^6 codes offline); browser_hash binds the row to the
-- browser that asked (its tn_email cookie). req is the sealed authorization request the
-- sign-in continues. Single use: consumption is one conditional UPDATE of used_at.
CREATE TABLE email_codes (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    code_hash    BLOB NOT NULL CHECK (length(code_hash) = 32),
    link_hash    BLOB NOT NULL CHECK (length(link_hash) = 32),
    browser_hash BLOB NOT NULL CHECK (length(browser_hash) = 32),
    req          TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
CREATE INDEX email_codes_expires ON email_codes (expires_at);
