/* The server secret (tn_serve_secret, serve.h), split from serve.c: read by `serve` and
 * by the commands that seal or open what it protects (`org sso set`). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/serve.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

/* The server secret, protecting MRTR state and (through a key derived from it) the
 * signing keys in the store: SECRET_KEY, or 32 random bytes kept in DATA_DIR so that
 * every instance sharing the directory (and a restarted one) accepts the same state.
 * With PostgreSQL the instances share no directory, so SECRET_KEY is required. */
enum tn_err tn_serve_secret(const struct tn_config *cfg, uint8_t key[32], size_t *len)
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    if (!k[0] && tn_config_str(cfg, TN_CFG_DATABASE_URL)[0]) {
        tn_log(TN_LOG_ERROR,
               "DATABASE_URL is set but SECRET_KEY is not: give every instance the "
               "same SECRET_KEY of 32+ random characters (e.g. `openssl rand -hex "
               "32`); it encrypts the signing keys in the database",
               NULL);
        return TN_ERR_CONFIG;
    }
    if (k[0]) {
        size_t n = strlen(k);
        tn_hmac_sha256(key, (const uint8_t *)"teamnotes-secret", 16, k, n);
        *len = 32;
        return TN_OK;
    }
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tn_log(TN_LOG_ERROR, "cannot create DATA_DIR", "dir", dir, "error", strerror(errno), NULL);
        return TN_ERR_IO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, key, 32);
        close(fd);
        if (n == 32) {
            *len = 32;
            return TN_OK;
        }
        tn_log(TN_LOG_ERROR, "secret key file is damaged; remove it to create a new one", "path",
               path, NULL);
        return TN_ERR_IO;
    }
    tn_random(key, 32);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, key, 32) != 32 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        tn_log(TN_LOG_ERROR, "cannot write the secret key", "path", path, NULL);
        return TN_ERR_IO;
    }
    close(fd);
    /* link() fails with EEXIST if another instance won the race: then use its key */
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EEXIST) {
            fd = open(path, O_RDONLY | O_CLOEXEC);
            ssize_t n = fd >= 0 ? read(fd, key, 32) : -1;
            if (fd >= 0)
                close(fd);
            if (n == 32) {
                *len = 32;
                return TN_OK;
            }
        }
        tn_log(TN_LOG_ERROR, "cannot store the secret key", "path", path, "error", strerror(e),
               NULL);
        return TN_ERR_IO;
    }
    unlink(tmp);
    *len = 32;
    return TN_OK;
}
