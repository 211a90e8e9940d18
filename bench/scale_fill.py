#!/usr/bin/env python3
"""Fills a teamnotes SQLite store with notes directly, for bench/scale.sh.

    scale_fill.py DB ISSUER USERS PER_USER [SEED]

DB must already carry the server's schema (start the server on the data dir once). The
rows are what the server itself writes for save_note (src/store/sqlite.c, note_insert_body)
for an external-issuer principal without an organization: the notes row (owner is the
principal's key, ISSUER + "|" + "user<i>", see src/core/principal.c; org ''; visibility
'private'; version 1; times in milliseconds; id "n_" + base64url of 16 random bytes; tags
the compact JSON array as given), its notes_fts entry (rowid = seq; title, content, tags)
and one note_tags row per distinct tag. All in one transaction: the full-text index is
built with FTS5's 'rebuild', which tokenizes every row as the server's inserts would, but
leaves the index in fewer, larger segments than a year of one-note commits would.

Words come from a fixed vocabulary of VOCAB pseudo-words drawn with Zipf weights (rank r
has weight 1/(r+1)), so searches have common and selective words. On stdout: one line
"word RANK COUNT WORD" per rank in REPORT_RANKS (COUNT = notes containing it), for the
caller to pick query words.
"""
import base64
import bisect
import itertools
import json
import random
import sqlite3
import sys
import time

VOCAB = 4000
REPORT_RANKS = (0, 1, 5, 50, 300, 1000, 3000)
TAGS = ["work", "home", "ideas", "todo", "meeting", "project", "reading", "travel",
        "recipe", "health", "finance", "draft", "urgent", "later", "research", "design",
        "ops", "review", "personal", "team"]


def vocabulary(rng):
    onset = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
             "w", "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr"]
    vowel = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    coda = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk", "ng"]
    words, seen = [], set()
    while len(words) < VOCAB:
        w = "".join(rng.choice(onset) + rng.choice(vowel) for _ in range(rng.randint(1, 3)))
        w += rng.choice(coda)
        if len(w) >= 3 and w not in seen:
            seen.add(w)
            words.append(w)
    return words


def main():
    db, issuer, users, per_user = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    rng = random.Random(seed)
    words = vocabulary(rng)
    cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(VOCAB)))
    total = cum[-1]
    rand = rng.random

    def draw(k):
        return [words[bisect.bisect(cum, rand() * total)] for _ in range(k)]

    n = users * per_user
    now = int(time.time() * 1000)
    year = 365 * 24 * 3600 * 1000
    step = max(1, year // max(1, n))
    start = now - n * step
    owners = [f"{issuer}|user{u}" for u in range(users)]

    def rows():
        # Interleaved in time: the k-th note is user (k % users)'s, as if everyone wrote
        # a note in turn over the past year.
        for k in range(n):
            title = " ".join(draw(rng.randint(2, 6))).capitalize()
            body = draw(rng.randint(12, 40))
            for i in range(9, len(body), 10):
                body[i] += "."
            content = " ".join(body).capitalize() + "."
            tags = json.dumps(rng.sample(TAGS, rng.choice((0, 1, 1, 2, 2, 3))),
                              separators=(",", ":"))
            nid = "n_" + base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()
            t = start + k * step
            yield (nid, owners[k % users], "", title, content, tags, "private", 1, t, t)

    c = sqlite3.connect(db, isolation_level=None)
    # Fill-time settings only: the server sets WAL and its own pragmas again on open.
    c.execute("PRAGMA journal_mode = DELETE")
    c.execute("PRAGMA synchronous = OFF")
    c.execute("PRAGMA cache_size = -1000000")
    c.execute("BEGIN")
    c.executemany("INSERT INTO notes (id, owner, org, title, content, tags, visibility, "
                  "version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                  rows())
    c.execute("INSERT INTO notes_fts (notes_fts) VALUES ('rebuild')")
    c.execute("INSERT INTO note_tags (note, tag) SELECT DISTINCT n.seq, j.value "
              "FROM notes AS n, json_each(n.tags) AS j")
    c.execute("COMMIT")
    for r in REPORT_RANKS:
        if r < VOCAB:
            cnt = c.execute("SELECT count(*) FROM notes_fts WHERE notes_fts MATCH ?",
                            ('"%s"' % words[r],)).fetchone()[0]
            print("word", r, cnt, words[r])
    c.close()


if __name__ == "__main__":
    main()
