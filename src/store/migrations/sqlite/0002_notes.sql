-- 0002_notes: notes, their tags, their full-text index, and the audit log.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- A note belongs to its owner: the user key AND the organization it was written in
-- (DESIGN.md §4: every notes query is keyed by (org, user)). Every statement on notes
-- names both. seq is the stable rowid the full-text index refers to (an implicit rowid
-- could be renumbered by VACUUM); id is the public identifier.
--
-- The full-text index and note_tags are kept in sync by the store inside the same
-- transaction as each write, not by triggers: with PRAGMA trusted_schema = OFF (set on
-- every connection) SQLite refuses FTS5 and JSON functions inside triggers.

CREATE TABLE notes (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE CHECK (id <> ''),
    owner       TEXT NOT NULL CHECK (owner <> ''),
    org         TEXT NOT NULL,
    title       TEXT NOT NULL,
    content     TEXT NOT NULL CHECK (content <> ''),
    tags        TEXT NOT NULL,
    visibility  TEXT NOT NULL CHECK (visibility = 'private' OR (visibility = 'org' AND org <> '')),
    version     INTEGER NOT NULL CHECK (version >= 1),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- An owner's notes, newest first; pages continue strictly after (updated_at, id).
CREATE INDEX notes_owner ON notes (owner, org, updated_at DESC, id DESC);
-- The notes shared with an organization, newest first.
CREATE INDEX notes_shared ON notes (org, updated_at DESC, id DESC) WHERE visibility = 'org';

-- Nothing may move a note to another owner or rename it.
CREATE TRIGGER notes_fixed BEFORE UPDATE OF seq, id, owner, org, created_at ON notes
BEGIN
    SELECT RAISE(ABORT, 'a note keeps its id and owner');
END;

-- One row per distinct tag of a note (notes.tags is the JSON array as given).
CREATE TABLE note_tags (
    note  INTEGER NOT NULL REFERENCES notes (seq) ON DELETE CASCADE,
    tag   TEXT NOT NULL,
    PRIMARY KEY (note, tag)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE notes_fts USING fts5 (
    title, content, tags,
    content = 'notes', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Append-only: who did what to which note. Never note text.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    user_key   TEXT NOT NULL,
    org        TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    tool       TEXT NOT NULL,
    note_id    TEXT NOT NULL,
    outcome    TEXT NOT NULL
               CHECK (outcome IN ('ok', 'denied', 'not_found', 'conflict', 'invalid', 'error'))
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
