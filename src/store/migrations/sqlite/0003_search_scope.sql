-- 0003_search_scope: the full-text index knows whose each note is.
-- Embedded in src/store/sqlite.c (migrations[]); tests/unit/test_store.c checks that
-- the files and the embedded copies produce the same schema.
--
-- A search used to find every note in the store containing the words and then keep
-- the caller's: its cost grew with the whole store (0.3 s for a common word among
-- 1,000,000 notes). Each note now carries scope tokens in the index: its owner's
-- ("u" hex(owner) "x" hex(org)) and, when shared with its organization, the
-- organization's ("s" hex(org)). A search matches the caller's scope tokens AND the
-- words, so the index intersects the caller's notes with the words' postings.
-- fts_scope is a virtual generated column: computed, never stored, never stale.
ALTER TABLE notes ADD COLUMN fts_scope TEXT GENERATED ALWAYS AS (
    'u' || hex(owner) || 'x' || hex(org) ||
    CASE WHEN visibility = 'org' AND org <> '' THEN ' s' || hex(org) ELSE '' END
) VIRTUAL;

DROP TABLE notes_fts;
CREATE VIRTUAL TABLE notes_fts USING fts5 (
    title, content, tags, fts_scope,
    content = 'notes', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO notes_fts (notes_fts) VALUES ('rebuild');
