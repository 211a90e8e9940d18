-- 0004_list_covering: a page of notes read from the index alone.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- notes_owner gave the order of an owner's notes, but each of a page's 20 rows was
-- then read from the table: 20 more B-tree descents, and with many users 20 pages
-- scattered over the file (bench/scale.sh: a list on 1,000,000 notes over 10,000
-- users took twice as long as on an empty store). The index now also holds every
-- column a listing shows, so a page is a few neighbouring index entries.
DROP INDEX notes_owner;
CREATE INDEX notes_owner ON notes (owner, org, updated_at DESC, id DESC,
                                   title, tags, visibility, version, created_at);
