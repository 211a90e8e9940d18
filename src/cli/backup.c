/* teamnotes backup FILE | restore FILE.
 *
 * The signing keys of the built-in authorization server are in the database, sealed
 * with the server secret: SECRET_KEY, or DATA_DIR/secret.key when it is unset (see
 * src/auth/as/keys.h). A database without that secret starts no server. So:
 *  - backup, without SECRET_KEY, copies DATA_DIR/secret.key next to the backup as
 *    FILE.secret.key (0600) and says so; with SECRET_KEY it says to keep SECRET_KEY.
 *  - restore checks, before anything is replaced, that every signing key of the backup
 *    opens with the secret the server will use: SECRET_KEY; else FILE.secret.key, which
 *    it then installs as DATA_DIR/secret.key (the previous one kept); else the
 *    DATA_DIR/secret.key already there. A backup whose keys do not open is refused.
 * SQL and file replacement live in src/store/backup.c. */
#include "cli/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/as/keys.h"
#include "core/config.h"
#include "core/util.h"
#include "store/store.h"

static const char usage[] =
    "Usage:\n"
    "  teamnotes backup FILE    a consistent copy of the SQLite store, while the server runs\n"
    "  teamnotes restore FILE   put a backup back (the server must be stopped)\n"
    "Storage options (--data-dir, --database-url) are those of `teamnotes serve`.\n"
    "With DATABASE_URL use pg_dump/pg_restore instead (docs/OPERATIONS.md).\n";

/* The server secret as serve.c derives it: SECRET_KEY through HMAC-SHA-256, or the 32
 * bytes of a secret.key file. */
struct secret {
    uint8_t key[32];
    char from[4200]; /* where it came from, for messages */
    bool set;
};

static void secret_from_env(struct secret *s, const char *k)
{
    tn_hmac_sha256(s->key, (const uint8_t *)"teamnotes-secret", 16, k, strlen(k));
    snprintf(s->from, sizeof s->from, "SECRET_KEY");
    s->set = true;
}

/* 1: read; 0: no such file; -1: unreadable or not 32 bytes (message printed). */
static int secret_from_file(struct secret *s, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "teamnotes: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t extra;
    ssize_t n = read(fd, s->key, 32);
    ssize_t more = n == 32 ? read(fd, &extra, 1) : 0;
    close(fd);
    if (n != 32 || more != 0) {
        sodium_memzero(s->key, 32);
        fprintf(stderr, "teamnotes: %s is not a teamnotes secret key (32 bytes)\n", path);
        return -1;
    }
    snprintf(s->from, sizeof s->from, "%s", path);
    s->set = true;
    return 1;
}

/* Copies a 32-byte key file to `to` (mode 0600) through a temporary file, fsynced; with
 * `dir_owner`, owned by the owner of its directory (DATA_DIR). */
static int write_secret(const struct secret *s, const char *to, bool dir_owner)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", to, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, s->key, 32) != 32 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        fprintf(stderr, "teamnotes: cannot write %s: %s\n", to, strerror(e));
        return -1;
    }
    close(fd);
    /* beside a DATA_DIR owned by the service user, written by root: the user's file */
    char *slash = strrchr(to, '/');
    char dir[4300];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - to) : 1, slash ? to : ".");
    struct stat sb;
    if (dir_owner && stat(dir[0] ? dir : "/", &sb) == 0 &&
        (sb.st_uid != geteuid() || sb.st_gid != getegid()) &&
        chown(tmp, sb.st_uid, sb.st_gid) != 0) {
        fprintf(stderr, "teamnotes: cannot give %s the owner of %s: %s\n", to, dir,
                strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, to) != 0) {
        fprintf(stderr, "teamnotes: cannot write %s: %s\n", to, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void print_info(const struct tn_store_file_info *i)
{
    printf("integrity ok, schema version %d, %lld notes, %lld users, %lld signing keys\n",
           i->schema_version, (long long)i->notes, (long long)i->users, (long long)i->signing_keys);
}

static int refuse_postgres(const char *cmd)
{
    fprintf(stderr,
            "teamnotes: %s works on the SQLite store only; with DATABASE_URL use PostgreSQL's "
            "tools: pg_dump --format=custom to back up, pg_restore --clean "
            "--single-transaction to restore (the exact commands are in docs/OPERATIONS.md), "
            "and keep SECRET_KEY: "
            "the signing keys in the database are sealed with it\n",
            cmd);
    return 1;
}

static int do_backup(const struct tn_config *cfg, const char *file)
{
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    struct tn_store_file_info info;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err e = tn_store_backup(dir, file, &info, &err);
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes: backup failed: %s\n", err.data ? err.data : tn_err_message(e));
        tn_buf_deinit(&err);
        return 1;
    }
    tn_buf_deinit(&err);
    printf("backup of %s/teamnotes.db written to %s (%lld bytes, mode 0600): ", dir, file,
           (long long)info.bytes);
    print_info(&info);
    if (tn_config_str(cfg, TN_CFG_SECRET_KEY)[0]) {
        printf("its signing keys are sealed with SECRET_KEY: keep SECRET_KEY with the backup "
               "(it is not in it); without it a restored database starts no server\n");
        return 0;
    }
    char path[4200], to[4200];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    snprintf(to, sizeof to, "%s.secret.key", file);
    struct secret s = {0};
    int got = secret_from_file(&s, path);
    int rc = 0;
    if (got == 1 && write_secret(&s, to, false) == 0) {
        printf("its signing keys are sealed with %s: copied to %s (mode 0600); keep the two "
               "files together, and as private as DATA_DIR\n",
               path, to);
    } else if (got == 0 && info.signing_keys == 0) {
        printf("no signing keys and no %s yet: nothing else to keep\n", path);
    } else {
        if (got == 0)
            fprintf(stderr,
                    "teamnotes: %s is missing: the signing keys in the backup cannot "
                    "be opened without it\n",
                    path);
        rc = 1;
    }
    sodium_memzero(&s, sizeof s);
    return rc;
}

struct key_check {
    uint8_t kek[32];
    char kid[48]; /* the first that did not open */
};

static enum tn_err key_opens(const char *kid, const char *pem, void *ud)
{
    struct key_check *k = ud;
    if (strncmp(pem, TN_AS_KEY_SEALED_PREFIX, strlen(TN_AS_KEY_SEALED_PREFIX)) != 0)
        return TN_OK; /* stored in plain text by an earlier version: sealed at start */
    char buf[2048];
    enum tn_err e = tn_as_key_unseal(k->kek, kid, pem, buf, sizeof buf);
    sodium_memzero(buf, sizeof buf);
    if (e != TN_OK)
        snprintf(k->kid, sizeof k->kid, "%s", kid);
    return e;
}

static int do_restore(const struct tn_config *cfg, const char *file)
{
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    const char *env_key = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    struct tn_store_restore *r = NULL;
    struct tn_store_file_info info;
    struct secret s = {0}, cur = {0};
    struct key_check kc = {0};
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    int rc = 1;
    char live_key[4200], file_key[4200], kept[4300] = "", kept_key[4300] = "";
    snprintf(live_key, sizeof live_key, "%s/secret.key", dir);
    snprintf(file_key, sizeof file_key, "%s.secret.key", file);

    enum tn_err e = tn_store_restore_begin(dir, file, &r, &info, &err);
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes: restore refused: %s\n",
                err.data ? err.data : tn_err_message(e));
        goto done;
    }
    /* the secret the server will use with the restored database */
    bool install = false;
    if (env_key[0]) {
        secret_from_env(&s, env_key);
    } else {
        int got = secret_from_file(&s, file_key);
        if (got < 0)
            goto done;
        if (got == 1) {
            int have = secret_from_file(&cur, live_key);
            if (have < 0)
                goto done;
            install = have == 0 || sodium_memcmp(cur.key, s.key, 32) != 0;
        } else if (secret_from_file(&s, live_key) < 0) {
            goto done;
        }
    }
    if (info.signing_keys > 0) {
        if (!s.set) {
            fprintf(stderr,
                    "teamnotes: restore refused: the signing keys in %s are sealed with a "
                    "secret that is not here: put the backup's secret key at %s, or set the "
                    "SECRET_KEY it was taken with\n",
                    file, file_key);
            goto done;
        }
        if (tn_as_keys_kek(kc.kek, s.key, 32) != TN_OK)
            goto done;
        if (tn_store_restore_keys(r, key_opens, &kc) != TN_OK) {
            fprintf(stderr,
                    "teamnotes: restore refused: signing key %s in %s does not open with %s: "
                    "restore with the secret the backup was taken with (%s, or the SECRET_KEY "
                    "then in use)\n",
                    kc.kid, file, s.from, file_key);
            goto done;
        }
    }
    if ((e = tn_store_restore_lock(r, &err)) != TN_OK) {
        fprintf(stderr, "teamnotes: restore refused: %s\n",
                err.data ? err.data : tn_err_message(e));
        goto done;
    }
    if ((e = tn_store_restore_commit(r, kept, sizeof kept, &err)) != TN_OK) {
        fprintf(stderr, "teamnotes: restore failed: %s\n", err.data ? err.data : tn_err_message(e));
        goto done;
    }
    printf("restored %s into %s/teamnotes.db: ", file, dir);
    print_info(&info);
    if (kept[0])
        printf("the previous database is kept as %s\n", kept);
    if (install) {
        if (cur.set) {
            char when[40];
            time_t t = time(NULL);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
            snprintf(kept_key, sizeof kept_key, "%s.before-restore-%s", live_key, when);
            if (link(live_key, kept_key) != 0) {
                fprintf(stderr, "teamnotes: cannot keep %s as %s: %s\n", live_key, kept_key,
                        strerror(errno));
                goto done;
            }
        }
        if (write_secret(&s, live_key, true) != 0)
            goto done;
        printf("its secret key %s is installed as %s\n", file_key, live_key);
        if (kept_key[0])
            printf("the previous secret key is kept as %s\n", kept_key);
    } else if (info.signing_keys > 0) {
        printf("its signing keys open with %s\n", s.from);
    }
    printf("tokens and sessions issued after the backup was taken are no longer valid; start "
           "the server\n");
    rc = 0;
done:
    tn_store_restore_free(r);
    sodium_memzero(&s, sizeof s);
    sodium_memzero(&cur, sizeof cur);
    sodium_memzero(&kc, sizeof kc);
    tn_buf_deinit(&err);
    return rc;
}

int tn_backup_main(const char *cmd, int argc, char **argv)
{
    /* storage options are the server's; the one other argument is the file */
    char *cfg_args[8];
    int n = 0;
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "--data-dir") || !strcmp(argv[i], "--database-url")) &&
            i + 1 < argc && n < 6) {
            cfg_args[n++] = argv[i];
            cfg_args[n++] = argv[++i];
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!file || !file[0]) {
        fputs(usage, stderr);
        return 2;
    }
    struct tn_config cfg;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    if (tn_config_load(&cfg, n, cfg_args, ".env", &err) != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid configuration");
        tn_buf_deinit(&err);
        return 2;
    }
    tn_buf_deinit(&err);
    int rc;
    if (tn_config_str(&cfg, TN_CFG_DATABASE_URL)[0])
        rc = refuse_postgres(cmd);
    else if (!strcmp(cmd, "backup"))
        rc = do_backup(&cfg, file);
    else
        rc = do_restore(&cfg, file);
    tn_config_deinit(&cfg);
    return rc;
}
