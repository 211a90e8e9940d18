-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- Every change to a note is announced to every instance sharing the database (delivered
-- at commit), so that each can tell its subscriptions/listen streams of that owner.
CREATE FUNCTION notes_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('teamnotes_notes', COALESCE(NEW.owner, OLD.owner));
    RETURN NULL;
END
$$;
CREATE TRIGGER notes_changed AFTER INSERT OR UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION notes_announce();
