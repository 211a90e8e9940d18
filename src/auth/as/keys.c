#include "auth/as/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct tn_as_keys {
    EVP_PKEY *key;
    char kid[44];
    struct tn_jwks *jwks;
};

static EVP_PKEY *load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static enum tn_err create(const char *path, EVP_PKEY **out)
{
    *out = NULL;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!k)
        return TN_ERR_INTERNAL;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1 && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    if (f)
        fclose(f);
    else if (fd >= 0)
        close(fd);
    /* link() refuses to replace: if another instance created the key first, use theirs */
    if (!ok || link(tmp, path) != 0) {
        unlink(tmp);
        EVP_PKEY_free(k);
        if (ok) {
            *out = load(path);
            return *out ? TN_OK : TN_ERR_IO;
        }
        return TN_ERR_IO;
    }
    unlink(tmp);
    *out = k;
    return TN_OK;
}

enum tn_err tn_as_keys_open(const char *dir, struct tn_as_keys **out)
{
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tn_log(TN_LOG_ERROR, "cannot create DATA_DIR", "dir", dir, "error", strerror(errno), NULL);
        return TN_ERR_IO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/signing-key.pem", dir);
    struct tn_as_keys *k = calloc(1, sizeof *k);
    if (!k)
        return TN_ERR_NOMEM;
    enum tn_err rc = TN_OK;
    k->key = load(path);
    if (!k->key && access(path, F_OK) == 0) {
        tn_log(TN_LOG_ERROR, "the signing key file cannot be read; fix or remove it", "path", path, NULL);
        rc = TN_ERR_IO;
        goto done;
    }
    if (!k->key && (rc = create(path, &k->key)) != TN_OK) {
        tn_log(TN_LOG_ERROR, "cannot create the signing key", "path", path, NULL);
        goto done;
    }
    if ((rc = tn_jwk_thumbprint(k->key, k->kid)) != TN_OK ||
        (rc = tn_jwks_from_pkey(k->key, k->kid, "ES256", &k->jwks)) != TN_OK) {
        tn_log(TN_LOG_ERROR, "the signing key is not a P-256 key", "path", path, NULL);
        goto done;
    }
done:
    if (rc != TN_OK)
        tn_as_keys_free(k);
    else
        *out = k;
    return rc;
}

void tn_as_keys_free(struct tn_as_keys *k)
{
    if (!k)
        return;
    tn_jwks_free(k->jwks);
    EVP_PKEY_free(k->key);
    free(k);
}

const struct tn_jwks *tn_as_keys_jwks(const struct tn_as_keys *k) { return k->jwks; }

EVP_PKEY *tn_as_keys_signing(const struct tn_as_keys *k, const char **kid)
{
    if (kid)
        *kid = k->kid;
    return k->key;
}
