/* Backup and restore of the SQLite store: whole-file operations on
 * DATA_DIR/teamnotes.db, for `teamnotes backup` and `teamnotes restore` (src/cli/backup.c).
 *
 * Backup: SQLite's online backup API, with the source held in ONE read transaction for
 * the whole copy. In WAL mode a reader never blocks a writer, so a server keeps
 * committing while the copy runs; the copy is the snapshot at the transaction's start,
 * whatever is committed meanwhile. Without that transaction each step would open its
 * own, and a write between two steps would restart the copy from page 1: under a steady
 * write load it might never finish. Steps are STEP_PAGES long with a pause between them,
 * so the copy's reads share the disk with the writers instead of saturating it.
 *
 * Restore: the candidate is copied next to the live file and checked there, so that what
 * is checked is what is installed, and a file refused never makes us open the live one
 * (opening it would checkpoint a WAL left by a crash: the same data, other bytes).
 * Then the live database is locked with locking_mode=EXCLUSIVE. The server holds its
 * connections open for its whole life (a pool, never emptied), and every open
 * connection in WAL mode holds a shared lock on the file, so the exclusive lock is
 * refused exactly while a server (or another command) has the database open; and while
 * we hold it, no server can start on it. On commit the live database's WAL is folded
 * into it (journal_mode=DELETE), it is kept under another name, its -wal/-shm are
 * removed (an old WAL left beside the new file would be replayed onto it: its frames
 * carry no mark of which file they belong to), and the candidate is renamed over it. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/migrations.h"

enum {
    STEP_PAGES = 256,     /* 1 MiB of 4 KiB pages per step */
    STEP_PAUSE_US = 2000, /* between steps */
    RETRY_US = 10000,     /* after BUSY or LOCKED */
    RETRIES = 500,        /* 5 s of BUSY/LOCKED in a row, then give up */
};

static void errf(struct tn_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(struct tn_buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tn_buf_reset(err);
    tn_buf_puts(err, msg);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", a, b);
    return p;
}

static bool busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

/* The first column of the first row of `sql` as text into out[0..cap) ("" when none). */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", v ? v : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    char v[32];
    *out = 0;
    int rc = query_text(db, sql, v, sizeof v);
    if (rc == SQLITE_OK)
        *out = strtoll(v, NULL, 10);
    return rc;
}

/* A database error in words, for `err`. */
static enum tn_err db_fail(sqlite3 *db, int rc, const char *shown, const char *what,
                           struct tn_buf *err)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        errf(err, "%s is not an SQLite database", shown);
        return TN_ERR_BAD_INPUT;
    case SQLITE_CORRUPT:
        errf(err, "%s is damaged: %s", shown, msg);
        return TN_ERR_BAD_INPUT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        errf(err, "%s stayed locked (%s): %s", shown, what, msg);
        return TN_ERR_BUSY;
    case SQLITE_NOMEM:
        return TN_ERR_NOMEM;
    default:
        errf(err, "cannot %s %s: %s", what, shown, msg);
        return TN_ERR_IO;
    }
}

/* Runs `sql` (no rows), retrying while the database is busy. */
static int exec_retry(sqlite3 *db, const char *sql)
{
    int rc;
    for (int i = 0; busy(rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) && i < RETRIES; i++)
        usleep(RETRY_US);
    return rc;
}

/* Makes `db` one self-contained file: reads it first (a copy of a WAL database says
 * WAL in its header, and SQLite switches to WAL on the first read), then leaves WAL
 * mode, which folds the WAL in and deletes it. */
static int make_single_file(sqlite3 *db)
{
    char v[32];
    int rc = query_text(db, "SELECT count(*) FROM sqlite_master", v, sizeof v);
    if (rc == SQLITE_OK)
        rc = query_text(db, "PRAGMA journal_mode = DELETE", v, sizeof v);
    if (rc == SQLITE_OK && strcmp(v, "delete") != 0)
        rc = SQLITE_ERROR;
    return rc;
}

static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
        yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

/* Checks that `db` (called `shown` in messages) is a sound teamnotes database this binary
 * can open, and fills `info`. */
static enum tn_err check_db(sqlite3 *db, const char *shown, struct tn_store_file_info *info,
                            struct tn_buf *err)
{
    char v[512];
    /* integrity_check's first row is "ok", or the first problem found */
    int rc = query_text(db, "PRAGMA integrity_check(1)", v, sizeof v);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, shown, "check", err);
    if (strcmp(v, "ok") != 0) {
        for (char *p = v; *p; p++)
            if (*p == '\n')
                *p = ' ';
        errf(err, "%s fails the integrity check: %s", shown, v);
        return TN_ERR_BAD_INPUT;
    }
    int64_t version = 0;
    if (!has_table(db, "schema_version") || !has_table(db, "users") ||
        !has_table(db, "signing_keys")) {
        errf(err,
             "%s is not a teamnotes database (no schema_version, users or signing_keys "
             "table)",
             shown);
        return TN_ERR_BAD_INPUT;
    }
    if ((rc = query_int(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &version)) !=
        SQLITE_OK)
        return db_fail(db, rc, shown, "read", err);
    if (version < 1) {
        errf(err, "%s is not a teamnotes database (no schema version recorded)", shown);
        return TN_ERR_BAD_INPUT;
    }
    if (version > tn_store_sqlite_migrations_count) {
        errf(err,
             "%s has schema version %lld but this teamnotes knows only up to %d: it was "
             "written by a newer teamnotes; restore it with that version (or newer)",
             shown, (long long)version, tn_store_sqlite_migrations_count);
        return TN_ERR_CONFIG;
    }
    info->schema_version = (int)version;
    if ((rc = query_int(db, "SELECT count(*) FROM users", &info->users)) != SQLITE_OK ||
        (rc = query_int(db, "SELECT count(*) FROM signing_keys", &info->signing_keys)) !=
            SQLITE_OK ||
        (has_table(db, "notes") &&
         (rc = query_int(db, "SELECT count(*) FROM notes", &info->notes)) != SQLITE_OK))
        return db_fail(db, rc, shown, "read", err);
    return TN_OK;
}

/* Copies all of `src` into `dst` with the online backup API: when `stepped`, STEP_PAGES at
 * a time with STEP_PAUSE_US between steps (the caller holds a read transaction on src, so
 * every step reads the same snapshot), else in one step. BUSY and LOCKED are retried for
 * RETRIES * RETRY_US. */
static int copy_db(sqlite3 *dst, sqlite3 *src, bool stepped)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b)
        return sqlite3_errcode(dst);
    int rc, tries = 0;
    for (;;) {
        rc = sqlite3_backup_step(b, stepped ? STEP_PAGES : -1);
        if (rc == SQLITE_DONE)
            break;
        if (busy(rc) && ++tries <= RETRIES) {
            usleep(RETRY_US);
            continue;
        }
        if (rc != SQLITE_OK)
            break;
        tries = 0;
        usleep(STEP_PAUSE_US);
    }
    int frc = sqlite3_backup_finish(b);
    return rc == SQLITE_DONE ? frc : rc;
}

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return ENOMEM;
    int rc = fsync_path(dirname(p), true);
    free(p);
    return rc;
}

/* Creates `path` empty with mode 0600; EEXIST when it is there. SQLite then opens the file
 * as it is, and an empty file is an empty database. */
static int create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int open_db(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (*db)
        sqlite3_extended_result_codes(*db, 1);
    return rc;
}

enum tn_err tn_store_backup(const char *data_dir, const char *dest, struct tn_store_file_info *info,
                            struct tn_buf *err)
{
    memset(info, 0, sizeof *info);
    enum tn_err e = TN_ERR_NOMEM;
    sqlite3 *src = NULL, *dst = NULL;
    bool made_tmp = false, in_txn = false;
    char *live = join(data_dir, "/teamnotes.db");
    char *tmp = join(dest, ".tmp");
    if (!live || !tmp)
        goto done;
    struct stat sb;
    if (stat(live, &sb) != 0) {
        errf(err, "no database at %s: %s", live, strerror(errno));
        e = errno == ENOENT ? TN_ERR_NOT_FOUND : TN_ERR_IO;
        goto done;
    }
    int rc = create_private(tmp);
    if (rc != 0) {
        errf(err, "cannot create %s: %s%s", tmp, strerror(rc),
             rc == EEXIST ? " (left by an interrupted backup? remove it)" : "");
        e = TN_ERR_IO;
        goto done;
    }
    made_tmp = true;
    /* read-write without create: a read-only connection could not join the WAL of a
     * database nobody has open (it cannot make the -shm file) */
    if ((rc = open_db(live, SQLITE_OPEN_READWRITE, &src)) != SQLITE_OK) {
        e = db_fail(src, rc, live, "open", err);
        goto done;
    }
    sqlite3_busy_timeout(src, 5000);
    if ((rc = open_db(tmp, SQLITE_OPEN_READWRITE, &dst)) != SQLITE_OK) {
        e = db_fail(dst, rc, tmp, "open", err);
        goto done;
    }
    /* one read transaction for the whole copy: its snapshot is what the copy holds */
    char v[32];
    if ((rc = exec_retry(src, "BEGIN")) == SQLITE_OK) {
        in_txn = true;
        for (int i = 0;
             busy(rc = query_text(src, "SELECT count(*) FROM sqlite_master", v, sizeof v)) &&
             i < RETRIES;
             i++)
            usleep(RETRY_US);
    }
    if (rc != SQLITE_OK) {
        e = db_fail(src, rc, live, "read", err);
        goto done;
    }
    if ((rc = copy_db(dst, src, true)) != SQLITE_OK) {
        e = db_fail(busy(rc) || (rc & 0xff) == SQLITE_CORRUPT ? src : dst, rc, live, "copy", err);
        goto done;
    }
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    in_txn = false;
    sqlite3_close(src);
    src = NULL;
    if ((rc = make_single_file(dst)) != SQLITE_OK) {
        e = db_fail(dst, rc, tmp, "finish", err);
        goto done;
    }
    if ((e = check_db(dst, tmp, info, err)) != TN_OK)
        goto done;
    if ((rc = sqlite3_close(dst)) != SQLITE_OK) {
        e = db_fail(dst, rc, tmp, "close", err);
        goto done;
    }
    dst = NULL;
    e = TN_ERR_IO;
    if ((rc = fsync_path(tmp, false)) != 0 || chmod(tmp, 0600) != 0) {
        errf(err, "cannot write %s: %s", tmp, strerror(rc ? rc : errno));
        goto done;
    }
    if (rename(tmp, dest) != 0) {
        errf(err, "cannot rename %s to %s: %s", tmp, dest, strerror(errno));
        goto done;
    }
    made_tmp = false;
    if ((rc = fsync_dir_of(dest)) != 0) {
        errf(err, "cannot sync the directory of %s: %s", dest, strerror(rc));
        goto done;
    }
    if (stat(dest, &sb) == 0)
        info->bytes = (int64_t)sb.st_size;
    e = TN_OK;
done:
    if (in_txn)
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(src);
    sqlite3_close(dst);
    if (made_tmp) {
        unlink(tmp);
        char *j = join(tmp, "-journal");
        if (j)
            unlink(j);
        free(j);
    }
    free(live);
    free(tmp);
    return e;
}

/* ---------- restore ---------- */

struct tn_store_restore {
    char *data_dir;
    char *live;    /* data_dir/teamnotes.db */
    char *tmp;     /* the candidate, next to it */
    char *src;     /* as the operator named it, for messages */
    sqlite3 *lock; /* the live database, locked exclusively; NULL when there is none */
    sqlite3 *cand; /* the candidate, open until commit */
    bool made_tmp;
    bool locked; /* tn_store_restore_lock succeeded */
};

static void unlink_suffix(const char *path, const char *suffix)
{
    char *p = join(path, suffix);
    if (p)
        unlink(p);
    free(p);
}

void tn_store_restore_free(struct tn_store_restore *r)
{
    if (!r)
        return;
    sqlite3_close(r->cand);
    if (r->made_tmp) {
        unlink(r->tmp);
        unlink_suffix(r->tmp, "-journal");
        unlink_suffix(r->tmp, "-wal");
        unlink_suffix(r->tmp, "-shm");
    }
    sqlite3_close(r->lock); /* releases the lock */
    free(r->data_dir);
    free(r->live);
    free(r->tmp);
    free(r->src);
    free(r);
}

enum tn_err tn_store_restore_begin(const char *data_dir, const char *src,
                                   struct tn_store_restore **out, struct tn_store_file_info *info,
                                   struct tn_buf *err)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    enum tn_err e = TN_ERR_NOMEM;
    sqlite3 *from = NULL;
    struct tn_store_restore *r = calloc(1, sizeof *r);
    if (!r)
        goto done;
    char suffix[64];
    snprintf(suffix, sizeof suffix, "/teamnotes.db.restore-%d.tmp", (int)getpid());
    if (!(r->data_dir = strdup(data_dir)) || !(r->src = strdup(src)) ||
        !(r->live = join(data_dir, "/teamnotes.db")) || !(r->tmp = join(data_dir, suffix)))
        goto done;

    /* 1. the file to restore, copied next to the live one */
    struct stat sb;
    int rc;
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        errf(err, "cannot create %s: %s", data_dir, strerror(errno));
        e = TN_ERR_IO;
        goto done;
    }
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int en = fd < 0 ? errno : EINVAL;
        errf(err, "cannot read %s: %s", src, en == EINVAL ? "not a regular file" : strerror(en));
        if (fd >= 0)
            close(fd);
        e = en == ENOENT ? TN_ERR_NOT_FOUND : TN_ERR_IO;
        goto done;
    }
    close(fd);
    if ((rc = create_private(r->tmp)) != 0) {
        errf(err, "cannot create %s: %s", r->tmp, strerror(rc));
        e = TN_ERR_IO;
        goto done;
    }
    r->made_tmp = true;
    if ((rc = open_db(src, SQLITE_OPEN_READONLY, &from)) != SQLITE_OK) {
        e = db_fail(from, rc, src, "open", err);
        goto done;
    }
    sqlite3_busy_timeout(from, 5000);
    if ((rc = open_db(r->tmp, SQLITE_OPEN_READWRITE, &r->cand)) != SQLITE_OK) {
        e = db_fail(r->cand, rc, r->tmp, "open", err);
        goto done;
    }
    if ((rc = copy_db(r->cand, from, false)) != SQLITE_OK) {
        /* NOTADB and CORRUPT come from reading the source */
        e = db_fail(busy(rc) || (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT
                        ? from
                        : r->cand,
                    rc, src, "copy", err);
        goto done;
    }
    sqlite3_close(from);
    from = NULL;

    /* 2. the copy checked: what is checked is what will be installed */
    if ((rc = make_single_file(r->cand)) != SQLITE_OK) {
        e = db_fail(r->cand, rc, src, "read", err);
        goto done;
    }
    if ((e = check_db(r->cand, src, info, err)) != TN_OK)
        goto done;
    info->bytes = (int64_t)sb.st_size;
    *out = r;
    r = NULL;
    e = TN_OK;
done:
    sqlite3_close(from);
    tn_store_restore_free(r);
    return e;
}

enum tn_err tn_store_restore_lock(struct tn_store_restore *r, struct tn_buf *err)
{
    enum tn_err e = TN_OK;
    int rc;
    struct stat lsb;
    if (stat(r->live, &lsb) == 0) {
        if ((rc = open_db(r->live, SQLITE_OPEN_READWRITE, &r->lock)) != SQLITE_OK) {
            e = db_fail(r->lock, rc, r->live, "open", err);
            goto done;
        }
        char v[32];
        sqlite3_busy_timeout(r->lock, 0);
        rc = query_text(r->lock, "PRAGMA locking_mode = EXCLUSIVE", v, sizeof v);
        if (rc == SQLITE_OK) /* the first read takes the lock */
            rc = query_text(r->lock, "SELECT count(*) FROM sqlite_master", v, sizeof v);
        if (busy(rc)) {
            errf(err,
                 "%s is in use: stop the server (and any other teamnotes command using "
                 "this DATA_DIR) before restoring",
                 r->live);
            e = TN_ERR_BUSY;
            goto done;
        }
        if (rc != SQLITE_OK) {
            e = db_fail(r->lock, rc, r->live, "lock", err);
            goto done;
        }
    } else if (errno != ENOENT) {
        errf(err, "cannot read %s: %s", r->live, strerror(errno));
        e = TN_ERR_IO;
        goto done;
    }
    r->locked = true;
done:
    if (e != TN_OK) {
        sqlite3_close(r->lock);
        r->lock = NULL;
    }
    return e;
}

enum tn_err tn_store_restore_keys(struct tn_store_restore *r, tn_store_restore_key_cb fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    enum tn_err e = TN_ERR_IO;
    if (sqlite3_prepare_v2(r->cand, "SELECT kid, pem FROM signing_keys ORDER BY created_at, kid",
                           -1, &st, NULL) != SQLITE_OK)
        goto done;
    int rc;
    e = TN_OK;
    while (e == TN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kid = (const char *)sqlite3_column_text(st, 0);
        const char *pem = (const char *)sqlite3_column_text(st, 1);
        e = fn(kid ? kid : "", pem ? pem : "", ud);
    }
    if (e == TN_OK && rc != SQLITE_DONE)
        e = TN_ERR_IO;
done:
    sqlite3_finalize(st);
    return e;
}

enum tn_err tn_store_restore_commit(struct tn_store_restore *r, char *kept, size_t cap,
                                    struct tn_buf *err)
{
    kept[0] = '\0';
    enum tn_err e = TN_ERR_IO;
    int rc;
    char *keep = NULL;
    if (!r->locked || !r->cand) {
        errf(err, "restore: commit without the lock or a candidate");
        e = TN_ERR_INTERNAL;
        goto done;
    }
    if ((rc = sqlite3_close(r->cand)) != SQLITE_OK) {
        e = db_fail(r->cand, rc, r->tmp, "close", err);
        goto done;
    }
    r->cand = NULL;
    if ((rc = fsync_path(r->tmp, false)) != 0) {
        errf(err, "cannot write %s: %s", r->tmp, strerror(rc));
        goto done;
    }
    struct stat lsb;
    if (r->lock && stat(r->live, &lsb) == 0 &&
        (lsb.st_uid != geteuid() || lsb.st_gid != getegid()) &&
        chown(r->tmp, lsb.st_uid, lsb.st_gid) != 0) {
        /* run as root for a service's DATA_DIR: the file must stay the service user's */
        errf(err, "cannot give %s the owner of %s: %s", r->tmp, r->live, strerror(errno));
        goto done;
    }
    if (r->lock) {
        /* the live database made whole (its WAL folded in and deleted) before it is kept */
        if ((rc = make_single_file(r->lock)) != SQLITE_OK) {
            e = db_fail(r->lock, rc, r->live, "checkpoint", err);
            goto done;
        }
        char when[64];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(when, sizeof when, ".before-restore-%Y%m%dT%H%M%SZ", &tm);
        /* a second name for the old file; link() never replaces an existing one, so a
         * second restore within the same second gets "-2", ... */
        for (int i = 1; i <= 100; i++) {
            if (i > 1)
                snprintf(when + n, sizeof when - n, "-%d", i);
            free(keep);
            if (!(keep = join(r->live, when))) {
                e = TN_ERR_NOMEM;
                goto done;
            }
            if ((rc = link(r->live, keep) == 0 ? 0 : errno) != EEXIST)
                break;
        }
        if (rc != 0) {
            errf(err, "cannot keep the current database as %s: %s", keep, strerror(rc));
            goto done;
        }
        snprintf(kept, cap, "%s", keep);
        /* nothing of the old database may be replayed onto the new one */
        unlink_suffix(r->live, "-wal");
        unlink_suffix(r->live, "-shm");
    }
    if (rename(r->tmp, r->live) != 0) {
        errf(err, "cannot rename %s to %s: %s", r->tmp, r->live, strerror(errno));
        if (keep)
            unlink(keep); /* the live file is still the old one */
        kept[0] = '\0';
        goto done;
    }
    r->made_tmp = false;
    if ((rc = fsync_path(r->data_dir, true)) != 0) {
        errf(err, "cannot sync %s: %s", r->data_dir, strerror(rc));
        goto done;
    }
    e = TN_OK;
done:
    free(keep);
    return e;
}
