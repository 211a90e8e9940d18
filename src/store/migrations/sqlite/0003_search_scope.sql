-- 0003_search_scope: the full-text index knows whose each note is.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- A search used to find every note in the store containing the words and then keep
-- the caller's: its cost grew with the whole store (0.3 s for a common word among
-- 1,000,000 notes). Each note now carries scope tokens in the index: its owner's in
-- scope_own ("u" hex(owner) "x" hex(org)) and, when shared with its organization, the
-- organization's in scope_org ("s" hex(org)). A search matches the caller's scope
-- tokens AND the words, so the index intersects the caller's notes with the words'
-- postings. Two columns, so that no column ever holds more than one matching scope
-- token: snippet() then always prefers a column of text. They are virtual generated
-- columns: computed, never stored, never stale.
ALTER TABLE notes ADD COLUMN scope_own TEXT GENERATED ALWAYS AS (
    'u' || hex(owner) || 'x' || hex(org)
) VIRTUAL;
ALTER TABLE notes ADD COLUMN scope_org TEXT GENERATED ALWAYS AS (
    CASE WHEN visibility = 'org' AND org <> '' THEN 's' || hex(org) ELSE '' END
) VIRTUAL;

DROP TABLE notes_fts;
CREATE VIRTUAL TABLE notes_fts USING fts5 (
    title, content, tags, scope_own, scope_org,
    content = 'notes', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO notes_fts (notes_fts) VALUES ('rebuild');
