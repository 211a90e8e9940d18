-- 0011_notify_after_commit: note writes are announced by the store after they commit,
-- not by a trigger inside them. Compiled into teamnotes by the build
-- (scripts/gen-migrations.py).
--
-- A transaction that NOTIFYs takes a database-wide lock at its commit and holds it
-- until the commit is on disk, so that notifications are queued in commit order. With
-- the trigger of 0003_notify every note write did: durable saves committed one after
-- another, each waiting for the previous one's WAL flush, instead of sharing flushes
-- (a tenth of the saves pgbench's writes reach on the same server; docs/PERFORMANCE.md,
-- second round). The store now sends pg_notify('teamnotes_notes', owner) as its own
-- small transaction right after a write commits, committed without waiting for the disk
-- (a notification does not outlive a server crash either way); an import announces
-- inside its transaction, as the trigger did. Channel and payload are unchanged, so
-- instances of the previous version hear the new ones' writes and the reverse.
DROP TRIGGER notes_changed ON notes;
DROP FUNCTION notes_announce();
