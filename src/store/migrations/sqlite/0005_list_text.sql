-- 0005_list_text: a page of notes with their text, read from the index alone.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- Lists now carry each note's text (its first 2,000 characters), which 0004's index did
-- not hold: every row of a page was read from the table again (bench/scale.sh: a list
-- on 1,000,000 notes at 16 connections took 1.85x as long as on an empty store, p50
-- 2.00x). The index also holds the text now (SQLite 3.40 does not read an indexed
-- expression such as substr(content, ...) from an index, so the column itself): a page
-- is a few neighbouring index entries again, and a note's text is stored twice.
DROP INDEX notes_owner;
CREATE INDEX notes_owner ON notes (owner, org, updated_at DESC, id DESC,
                                   title, tags, visibility, version, created_at, content);
