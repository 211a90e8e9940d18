-- 0002_notes: notes, their full-text index, row-level security, and the audit log.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
--
-- A note belongs to its owner: the user key AND the organization it was written in
-- (DESIGN.md §4: every notes query is keyed by (org, user)). Timestamps are milliseconds.
-- tags is the JSON array exactly as given; tag_set is the same parsed, for filtering.
-- search is the full-text vector of title (weight A), tags (B) and content, folded
-- (notes_fold) and with the 'simple' configuration: words are lower-cased, never stemmed
-- or dropped as stop words.

-- Letters with diacritics folded to their base letter (é to e, Å to A, ...): the Latin
-- letters whose canonical decomposition is an ASCII letter and combining marks. The
-- index and the query are both folded, so "creme brulee" finds "crème brûlée", as
-- SQLite's unicode61 tokenizer with remove_diacritics does. translate() is immutable,
-- so the generated column below may use this.
CREATE FUNCTION notes_fold(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate($1,
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíî'
        'ïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜ'
        'ĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐő'
        'ŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽ'
        'žƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻ'
        'ȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯ'
        'ȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣ'
        'ḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋ'
        'ṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳ'
        'ṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạ'
        'ẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉ'
        'ỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰự'
        'ỲỳỴỵỶỷỸỹ',
        'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiii'
        'inooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeG'
        'gGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOo'
        'RrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZ'
        'zOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAa'
        'AaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOo'
        'OoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHh'
        'HhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNn'
        'OoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUu'
        'UuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyAa'
        'AaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIi'
        'IiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUu'
        'YyYyYyYy') $$;

-- A search is every word of the query: the tsqueries of its words joined with AND.
CREATE AGGREGATE notes_all_words(tsquery) (SFUNC = tsquery_and, STYPE = tsquery);

CREATE TABLE notes (
    id          text COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    owner       text COLLATE "C" NOT NULL CHECK (owner <> ''),
    org         text COLLATE "C" NOT NULL,
    title       text NOT NULL CHECK (char_length(title) <= 200),
    content     text NOT NULL CHECK (content <> '' AND octet_length(content) <= 65536),
    tags        text NOT NULL,
    tag_set     jsonb GENERATED ALWAYS AS (tags::jsonb) STORED
                CHECK (jsonb_typeof(tag_set) = 'array' AND jsonb_array_length(tag_set) <= 16),
    visibility  text NOT NULL
                CHECK (visibility = 'private' OR (visibility = 'org' AND org <> '')),
    version     bigint NOT NULL CHECK (version >= 1),
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('simple'::regconfig, notes_fold(title)), 'A')
                    || setweight(jsonb_to_tsvector('simple'::regconfig, notes_fold(tags)::jsonb,
                                                   '["string"]'), 'B')
                    || to_tsvector('simple'::regconfig, notes_fold(content))) STORED
);
-- An owner's notes, newest first; pages continue strictly after (updated_at, id).
CREATE INDEX notes_owner ON notes (owner, org, updated_at DESC, id DESC);
-- The notes shared with an organization, newest first.
CREATE INDEX notes_shared ON notes (org, updated_at DESC, id DESC) WHERE visibility = 'org';
CREATE INDEX notes_search ON notes USING gin (search);
CREATE INDEX notes_tags ON notes USING gin (tag_set jsonb_path_ops);

-- Nothing may move a note to another owner or rename it.
CREATE FUNCTION notes_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.owner <> OLD.owner OR NEW.org <> OLD.org
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'a note keeps its id and owner' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER notes_fixed BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION notes_fixed();

-- Isolation enforced a second time, below the application. Every notes transaction of
-- the store begins with
--     SELECT set_config('teamnotes.user', <user key>, true),
--            set_config('teamnotes.org', <org or ''>, true)
-- (SET LOCAL semantics: gone at COMMIT), and these policies admit only the rows that
-- caller may see: their own (same user AND same org), plus, for reading, the notes shared
-- ('org') within their non-empty organization. Outside such a transaction the settings
-- are unset or '' and no row is visible. FORCE: the table's owner, which is the role the
-- store connects as, is bound by the policies too. A superuser or a BYPASSRLS role still
-- bypasses them; the store logs a warning when it connects as one.
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_select ON notes FOR SELECT
    USING (org = current_setting('teamnotes.org', true)
           AND (owner = current_setting('teamnotes.user', true)
                OR (visibility = 'org' AND org <> '')));
CREATE POLICY notes_insert ON notes FOR INSERT
    WITH CHECK (owner = current_setting('teamnotes.user', true)
                AND org = current_setting('teamnotes.org', true));
CREATE POLICY notes_update ON notes FOR UPDATE
    USING (owner = current_setting('teamnotes.user', true)
           AND org = current_setting('teamnotes.org', true))
    WITH CHECK (owner = current_setting('teamnotes.user', true)
                AND org = current_setting('teamnotes.org', true));
CREATE POLICY notes_delete ON notes FOR DELETE
    USING (owner = current_setting('teamnotes.user', true)
           AND org = current_setting('teamnotes.org', true));

-- Append-only: who did what to which note. Never note text. seq orders the records of
-- one instant.
CREATE TABLE audit (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         bigint NOT NULL,
    user_key   text NOT NULL,
    org        text NOT NULL,
    client_id  text NOT NULL,
    tool       text NOT NULL,
    note_id    text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('ok', 'denied', 'not_found', 'conflict',
                                                'invalid', 'error'))
);
CREATE INDEX audit_at ON audit (at DESC, seq DESC);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
