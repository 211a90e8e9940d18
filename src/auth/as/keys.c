#include "auth/as/keys.h"

#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define MAX_KEYS 8

struct key {
    struct tn_signing_key row;
    EVP_PKEY *pkey;
};

struct tn_as_keys {
    struct tn_as_keys_config cfg;
    pthread_mutex_t mu;
    struct key keys[MAX_KEYS];
    size_t n;
    int64_t last_read;
};

static EVP_PKEY *pem_to_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

struct collect {
    struct key *keys;
    size_t n;
};

static void collect_cb(const struct tn_signing_key *row, void *ud)
{
    struct collect *c = ud;
    if (c->n >= MAX_KEYS)
        return;
    EVP_PKEY *k = pem_to_key(row->pem);
    if (!k) {
        tn_log(TN_LOG_ERROR, "a stored signing key cannot be read; skipped", "kid", row->kid, NULL);
        return;
    }
    c->keys[c->n].row = *row;
    c->keys[c->n].pkey = k;
    c->n++;
}

static void clear(struct tn_as_keys *k)
{
    for (size_t i = 0; i < k->n; i++) {
        EVP_PKEY_free(k->keys[i].pkey);
        OPENSSL_cleanse(k->keys[i].row.pem, sizeof k->keys[i].row.pem);
    }
    k->n = 0;
}

static enum tn_err create_key(struct tn_as_keys *k, int64_t signs_from)
{
    enum tn_err rc = TN_ERR_INTERNAL;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *b = BIO_new(BIO_s_mem());
    struct tn_signing_key row;
    memset(&row, 0, sizeof row);
    if (!pk || !b || PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1)
        goto done;
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    if (len <= 0 || (size_t)len >= sizeof row.pem)
        goto done;
    memcpy(row.pem, data, (size_t)len);
    if (tn_jwk_thumbprint(pk, row.kid) != TN_OK)
        goto done;
    snprintf(row.alg, sizeof row.alg, "ES256");
    row.created_at = tn_time_now_ms() / 1000;
    row.signs_from = signs_from;
    row.retire_at = signs_from + k->cfg.rotate_s;
    rc = tn_store_key_insert(k->cfg.store, &row);
    if (rc == TN_OK)
        tn_log(TN_LOG_INFO, "signing key created", "kid", row.kid, NULL);
done:
    OPENSSL_cleanse(row.pem, sizeof row.pem);
    BIO_free(b);
    EVP_PKEY_free(pk);
    return rc;
}

/* Reads the store; creates a first key, or the successor when the current one is near
 * its end, and deletes keys whose tokens have all expired. Called with mu held. */
static enum tn_err reload(struct tn_as_keys *k, int64_t now)
{
    for (int pass = 0; pass < 2; pass++) {
        clear(k);
        struct collect c = {k->keys, 0};
        enum tn_err rc = tn_store_key_list(k->cfg.store, collect_cb, &c);
        if (rc != TN_OK)
            return rc;
        k->n = c.n;
        k->last_read = now;
        int64_t newest_retire = 0;
        for (size_t i = 0; i < k->n; i++)
            if (k->keys[i].row.retire_at > newest_retire)
                newest_retire = k->keys[i].row.retire_at;
        bool changed = false;
        if (k->n == 0) {
            if ((rc = create_key(k, now)) != TN_OK)
                return rc;
            changed = true;
        } else if (newest_retire - now < k->cfg.lead_s) {
            /* the successor signs when the current key retires, published from now */
            int64_t from = newest_retire > now + k->cfg.lead_s ? newest_retire : now + k->cfg.lead_s;
            if ((rc = create_key(k, from < newest_retire ? newest_retire : from)) != TN_OK)
                return rc;
            changed = true;
        }
        for (size_t i = 0; i < k->n; i++) {
            if (k->keys[i].row.retire_at + k->cfg.token_ttl_s + 300 < now) {
                tn_store_key_delete(k->cfg.store, k->keys[i].row.kid);
                changed = true;
            }
        }
        if (!changed)
            return TN_OK;
    }
    return TN_OK;
}

enum tn_err tn_as_keys_open(const struct tn_as_keys_config *cfg, struct tn_as_keys **out)
{
    *out = NULL;
    struct tn_as_keys *k = calloc(1, sizeof *k);
    if (!k)
        return TN_ERR_NOMEM;
    k->cfg = *cfg;
    pthread_mutex_init(&k->mu, NULL);
    enum tn_err rc = reload(k, tn_time_now_ms() / 1000);
    if (rc != TN_OK) {
        tn_as_keys_free(k);
        return rc;
    }
    *out = k;
    return TN_OK;
}

void tn_as_keys_free(struct tn_as_keys *k)
{
    if (!k)
        return;
    clear(k);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

bool tn_as_keys_refresh(struct tn_as_keys *k, int64_t now, bool force)
{
    pthread_mutex_lock(&k->mu);
    bool changed = false;
    if (force || now - k->last_read >= 30) {
        char before[MAX_KEYS * 48] = "", after[MAX_KEYS * 48] = "";
        for (size_t i = 0; i < k->n; i++)
            strncat(before, k->keys[i].row.kid, sizeof before - strlen(before) - 1);
        reload(k, now);
        for (size_t i = 0; i < k->n; i++)
            strncat(after, k->keys[i].row.kid, sizeof after - strlen(after) - 1);
        changed = strcmp(before, after) != 0;
    }
    pthread_mutex_unlock(&k->mu);
    return changed;
}

/* The key that signs now: started signing, not retired; the most recent such. */
static struct key *current(struct tn_as_keys *k, int64_t now)
{
    struct key *best = NULL;
    for (size_t i = 0; i < k->n; i++) {
        struct key *c = &k->keys[i];
        if (c->row.signs_from <= now && now < c->row.retire_at &&
            (!best || c->row.signs_from > best->row.signs_from))
            best = c;
    }
    /* never leave the server unable to sign: fall back to the newest started key */
    for (size_t i = 0; !best && i < k->n; i++)
        if (k->keys[i].row.signs_from <= now)
            best = &k->keys[i];
    return best;
}

enum tn_err tn_as_keys_sign(struct tn_as_keys *k, json_t *claims, char **out)
{
    *out = NULL;
    int64_t now = tn_time_now_ms() / 1000;
    tn_as_keys_refresh(k, now, false);
    pthread_mutex_lock(&k->mu);
    struct key *c = current(k, now);
    enum tn_err rc = c ? tn_jwt_sign(c->pkey, c->row.alg, c->row.kid, "at+jwt", claims, out)
                       : TN_ERR_INTERNAL;
    pthread_mutex_unlock(&k->mu);
    return rc;
}

json_t *tn_as_keys_jwks_json(struct tn_as_keys *k)
{
    tn_as_keys_refresh(k, tn_time_now_ms() / 1000, false);
    json_t *arr = json_array();
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < k->n; i++) {
        json_t *j = tn_jwk_public_json(k->keys[i].pkey, k->keys[i].row.kid, k->keys[i].row.alg);
        if (j)
            json_array_append_new(arr, j);
    }
    pthread_mutex_unlock(&k->mu);
    return json_pack("{s:o}", "keys", arr);
}

struct tn_jwks *tn_as_keys_jwks_copy(struct tn_as_keys *k)
{
    json_t *doc = tn_as_keys_jwks_json(k);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct tn_jwks *set = NULL;
    if (text)
        tn_jwks_parse(text, strlen(text), &set, NULL);
    free(text);
    return set;
}
