#include "auth/as/keys.h"

#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define MAX_KEYS 8
#define KEK_LABEL "teamnotes signing keys v1"
#define PREFIX_LEN (sizeof TN_AS_KEY_SEALED_PREFIX - 1)
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* Longest stored text, NUL included (struct tn_signing_key). A sealed P-256 key takes
 * about 400 of it; an RSA key would not fit (ES256 is the only algorithm made here). */
#define STORED_MAX sizeof(((struct tn_signing_key *)0)->pem)

struct key {
    struct tn_signing_key row; /* its pem is wiped once pkey is made */
    EVP_PKEY *pkey;
};

struct tn_as_keys {
    struct tn_as_keys_config cfg; /* cfg.secret is not kept */
    uint8_t kek[32];
    pthread_mutex_t mu;
    struct key keys[MAX_KEYS];
    size_t n;
    int64_t last_read;
};

/* ---------- the sealed form ---------- */

enum tn_err tn_as_keys_kek(uint8_t out[32], const uint8_t *secret, size_t secret_len)
{
    sodium_memzero(out, 32);
    if (!secret || secret_len < crypto_generichash_KEYBYTES_MIN ||
        secret_len > crypto_generichash_KEYBYTES_MAX)
        return TN_ERR_CONFIG;
    /* A keyed BLAKE2b over the purpose: the same secret keys other things (the MRTR
     * state, the sign-in pages) through HMAC-SHA256; this subkey is of no use there. */
    if (crypto_generichash(out, 32, (const unsigned char *)KEK_LABEL, sizeof KEK_LABEL - 1, secret,
                           secret_len) != 0)
        return TN_ERR_INTERNAL;
    return TN_OK;
}

enum tn_err tn_as_key_seal(const uint8_t kek[32], const char *kid, const char *pem, char *out,
                           size_t cap)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    uint8_t box[NONCE_BYTES + STORED_MAX + TAG_BYTES];
    size_t n = pem ? strlen(pem) : 0;
    if (cap)
        out[0] = '\0';
    if (!kid || !kid[0] || n == 0)
        goto done;
    size_t blen = NONCE_BYTES + n + TAG_BYTES;
    size_t need = PREFIX_LEN + tn_b64url_encoded_len(blen) + 1;
    rc = TN_ERR_LIMIT;
    /* no longer than a row holds, or unseal would not take it */
    if (n >= STORED_MAX || need > STORED_MAX || need > cap)
        goto done;
    tn_random(box, NONCE_BYTES);
    unsigned long long clen = 0;
    /* the kid as associated data: a sealed key copied into another row does not open */
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, &clen, (const uint8_t *)pem, n,
                                               (const uint8_t *)kid, strlen(kid), NULL, box, kek);
    memcpy(out, TN_AS_KEY_SEALED_PREFIX, PREFIX_LEN);
    tn_b64url_encode(out + PREFIX_LEN, cap - PREFIX_LEN, box, NONCE_BYTES + (size_t)clen);
    rc = TN_OK;
done:
    sodium_memzero(box, sizeof box);
    return rc;
}

enum tn_err tn_as_key_unseal(const uint8_t kek[32], const char *kid, const char *sealed, char *pem,
                             size_t cap)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    uint8_t box[NONCE_BYTES + STORED_MAX + TAG_BYTES];
    size_t blen = 0;
    if (cap)
        sodium_memzero(pem, cap);
    if (!kid || !sealed || strncmp(sealed, TN_AS_KEY_SEALED_PREFIX, PREFIX_LEN) != 0)
        goto done;
    const char *b64 = sealed + PREFIX_LEN;
    size_t b64_len = strnlen(b64, STORED_MAX);
    if (b64_len >= STORED_MAX || tn_b64url_decode(box, sizeof box, &blen, b64, b64_len) != TN_OK ||
        blen <= NONCE_BYTES + TAG_BYTES)
        goto done;
    size_t n = blen - NONCE_BYTES - TAG_BYTES;
    rc = TN_ERR_LIMIT;
    if (n >= cap)
        goto done;
    unsigned long long mlen = 0;
    rc = TN_ERR_CONFIG;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)pem, &mlen, NULL, box + NONCE_BYTES,
                                                   blen - NONCE_BYTES, (const uint8_t *)kid,
                                                   strlen(kid), box, kek) != 0) {
        sodium_memzero(pem, cap);
        goto done;
    }
    pem[mlen] = '\0';
    rc = TN_OK;
done:
    sodium_memzero(box, sizeof box);
    return rc;
}

/* ---------- keys in the store ---------- */

static EVP_PKEY *pem_to_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

/* A row as a previous version stored it: the PEM itself. */
static bool is_plain(const char *stored) { return strncmp(stored, "-----BEGIN ", 11) == 0; }

/* The rows of one read, before they become keys. */
struct rows {
    struct tn_signing_key v[MAX_KEYS];
    size_t n;
};

static void collect_cb(const struct tn_signing_key *row, void *ud)
{
    struct rows *r = ud;
    if (r->n < MAX_KEYS)
        r->v[r->n++] = *row;
}

/* Says what to do about a row that does not become a key. */
static void complain(enum tn_err rc, const char *kid)
{
    if (rc == TN_ERR_CONFIG)
        tn_log(TN_LOG_ERROR,
               "the signing keys in the store were encrypted with a different SECRET_KEY (or "
               "altered): start with the SECRET_KEY they were written with (DATA_DIR/secret.key "
               "when SECRET_KEY is unset); no new key is made, as that would invalidate every "
               "token issued",
               "kid", kid, NULL);
    else
        tn_log(TN_LOG_ERROR, "a stored signing key cannot be read (unknown format or damaged)",
               "kid", kid, "error", tn_err_name(rc), NULL);
}

/* Opens one row into a key: a sealed row with the kek, a plain-text one as it is. */
static enum tn_err open_row(const struct tn_as_keys *k, const struct tn_signing_key *row,
                            EVP_PKEY **out)
{
    char pem[STORED_MAX];
    enum tn_err rc = TN_OK;
    *out = NULL;
    if (is_plain(row->pem))
        *out = pem_to_key(row->pem);
    else if ((rc = tn_as_key_unseal(k->kek, row->kid, row->pem, pem, sizeof pem)) == TN_OK)
        *out = pem_to_key(pem);
    if (rc == TN_OK && !*out)
        rc = TN_ERR_BAD_INPUT;
    sodium_memzero(pem, sizeof pem);
    return rc;
}

/* Seals a plain-text row in place. TN_ERR_NOT_FOUND when another instance rewrote or
 * deleted it first. */
static enum tn_err seal_row(const struct tn_as_keys *k, const struct tn_signing_key *row)
{
    char sealed[STORED_MAX];
    enum tn_err rc = tn_as_key_seal(k->kek, row->kid, row->pem, sealed, sizeof sealed);
    if (rc == TN_OK)
        rc = tn_store_key_replace(k->cfg.store, row->kid, row->pem, sealed);
    if (rc == TN_OK)
        tn_log(TN_LOG_INFO, "signing key encrypted in the store (it was in plain text)", "kid",
               row->kid, NULL);
    else if (rc != TN_ERR_NOT_FOUND)
        tn_log(TN_LOG_ERROR, "cannot encrypt a signing key stored in plain text", "kid", row->kid,
               "error", tn_err_name(rc), NULL);
    return rc;
}

static void clear_keys(struct key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        EVP_PKEY_free(keys[i].pkey);
        keys[i].pkey = NULL;
    }
}

/* Reads every key of the store into out[0..*n), then seals the rows still in plain
 * text; only once every row has opened, so that a wrong secret seals nothing. On
 * failure nothing is kept (*n = 0). */
static enum tn_err load(struct tn_as_keys *k, struct key *out, size_t *n)
{
    *n = 0;
    struct rows *r = malloc(sizeof *r);
    if (!r)
        return TN_ERR_NOMEM;
    enum tn_err rc = TN_OK;
    /* read again (once) when another instance sealed or deleted a row first */
    for (int pass = 0; pass < 2; pass++) {
        clear_keys(out, *n);
        *n = 0;
        r->n = 0;
        if ((rc = tn_store_key_list(k->cfg.store, collect_cb, r)) != TN_OK)
            break;
        for (size_t i = 0; i < r->n; i++) {
            if ((rc = open_row(k, &r->v[i], &out[i].pkey)) != TN_OK) {
                complain(rc, r->v[i].kid);
                break;
            }
            out[i].row = r->v[i];
            sodium_memzero(out[i].row.pem, sizeof out[i].row.pem);
            *n = i + 1;
        }
        bool raced = false;
        for (size_t i = 0; rc == TN_OK && i < r->n; i++) {
            if (is_plain(r->v[i].pem) && (rc = seal_row(k, &r->v[i])) == TN_ERR_NOT_FOUND) {
                raced = true;
                rc = TN_OK;
            }
        }
        if (rc != TN_OK || !raced)
            break;
    }
    if (rc != TN_OK) {
        clear_keys(out, *n);
        *n = 0;
    }
    sodium_memzero(r, sizeof *r);
    free(r);
    return rc;
}

static void clear(struct tn_as_keys *k)
{
    clear_keys(k->keys, k->n);
    k->n = 0;
}

static enum tn_err create_key(struct tn_as_keys *k, int64_t signs_from)
{
    enum tn_err rc = TN_ERR_INTERNAL;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    /* secure memory BIO: its buffer is wiped when freed */
    BIO *b = BIO_new(BIO_s_secmem());
    struct tn_signing_key row;
    char pem[STORED_MAX];
    memset(&row, 0, sizeof row);
    memset(pem, 0, sizeof pem);
    if (!pk || !b || PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1)
        goto done;
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    if (len <= 0 || (size_t)len >= sizeof pem)
        goto done;
    memcpy(pem, data, (size_t)len);
    if (tn_jwk_thumbprint(pk, row.kid) != TN_OK)
        goto done;
    if ((rc = tn_as_key_seal(k->kek, row.kid, pem, row.pem, sizeof row.pem)) != TN_OK)
        goto done;
    snprintf(row.alg, sizeof row.alg, "ES256");
    row.created_at = tn_time_now_ms() / 1000;
    row.signs_from = signs_from;
    row.retire_at = signs_from + k->cfg.rotate_s;
    rc = tn_store_key_insert(k->cfg.store, &row);
    if (rc == TN_OK)
        tn_log(TN_LOG_INFO, "signing key created", "kid", row.kid, NULL);
done:
    sodium_memzero(pem, sizeof pem);
    BIO_free(b);
    EVP_PKEY_free(pk);
    return rc;
}

/* Reads the store; creates a first key, or the successor when the current one is near
 * its end, and deletes keys whose tokens have all expired. Called with mu held. When
 * the store cannot be read or a key in it does not open, the keys loaded before stay. */
static enum tn_err reload(struct tn_as_keys *k, int64_t now)
{
    struct key *fresh = calloc(MAX_KEYS, sizeof *fresh);
    if (!fresh)
        return TN_ERR_NOMEM;
    enum tn_err rc = TN_OK;
    /* a failing store is not asked again at every signature, only at the next refresh */
    k->last_read = now;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        if ((rc = load(k, fresh, &n)) != TN_OK)
            break;
        clear(k);
        memcpy(k->keys, fresh, n * sizeof *fresh);
        k->n = n;
        int64_t newest_retire = 0;
        for (size_t i = 0; i < k->n; i++)
            if (k->keys[i].row.retire_at > newest_retire)
                newest_retire = k->keys[i].row.retire_at;
        bool changed = false;
        if (k->n == 0) {
            if ((rc = create_key(k, now)) != TN_OK)
                break;
            changed = true;
        } else if (newest_retire - now < k->cfg.lead_s) {
            /* the successor signs when the current key retires, published from now */
            int64_t from = newest_retire > now + k->cfg.lead_s ? newest_retire
                                                               : now + k->cfg.lead_s;
            if ((rc = create_key(k, from < newest_retire ? newest_retire : from)) != TN_OK)
                break;
            changed = true;
        }
        for (size_t i = 0; i < k->n; i++) {
            if (k->keys[i].row.retire_at + k->cfg.token_ttl_s + 300 < now) {
                tn_store_key_delete(k->cfg.store, k->keys[i].row.kid);
                changed = true;
            }
        }
        if (!changed)
            break;
    }
    free(fresh);
    return rc;
}

enum tn_err tn_as_keys_open(const struct tn_as_keys_config *cfg, struct tn_as_keys **out)
{
    *out = NULL;
    struct tn_as_keys *k = calloc(1, sizeof *k);
    if (!k)
        return TN_ERR_NOMEM;
    k->cfg = *cfg;
    k->cfg.secret = NULL;
    k->cfg.secret_len = 0;
    pthread_mutex_init(&k->mu, NULL);
    enum tn_err rc = tn_as_keys_kek(k->kek, cfg->secret, cfg->secret_len);
    if (rc != TN_OK)
        tn_log(TN_LOG_ERROR, "no secret to encrypt the signing keys with", NULL);
    else
        rc = reload(k, tn_time_now_ms() / 1000);
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
    sodium_memzero(k->kek, sizeof k->kek);
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

/* Index of the row that signs now: started signing, not retired; the most recent such.
 * -1 when none has started. */
static long current_row(const struct tn_signing_key *const *rows, size_t n, int64_t now)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        const struct tn_signing_key *c = rows[i];
        if (c->signs_from <= now && now < c->retire_at &&
            (best < 0 || c->signs_from > rows[best]->signs_from))
            best = (long)i;
    }
    /* never leave the server unable to sign: fall back to the newest started key */
    for (size_t i = 0; best < 0 && i < n; i++)
        if (rows[i]->signs_from <= now)
            best = (long)i;
    return best;
}

static struct key *current(struct tn_as_keys *k, int64_t now)
{
    const struct tn_signing_key *rows[MAX_KEYS] = {0};
    for (size_t i = 0; i < k->n; i++)
        rows[i] = &k->keys[i].row;
    long c = current_row(rows, k->n, now);
    return c < 0 ? NULL : &k->keys[c];
}

void tn_as_keys_classify(const struct tn_signing_key *rows, size_t n, int64_t now,
                         enum tn_as_key_state *states)
{
    const struct tn_signing_key *p[MAX_KEYS] = {0};
    size_t m = n < MAX_KEYS ? n : MAX_KEYS;
    for (size_t i = 0; i < m; i++)
        p[i] = &rows[i];
    long c = current_row(p, m, now);
    for (size_t i = 0; i < n; i++)
        states[i] = (long)i == c               ? TN_AS_KEY_CURRENT
                    : rows[i].signs_from > now ? TN_AS_KEY_NEXT
                                               : TN_AS_KEY_RETIRED;
}

enum tn_err tn_as_keys_rotate(struct tn_as_keys *k, int64_t now, struct tn_as_rotation *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&k->mu);
    /* the store as it is now: another instance may have rotated */
    enum tn_err rc = reload(k, now);
    if (rc != TN_OK)
        goto done;
    struct key *cur = current(k, now);
    struct key *next = NULL;
    for (size_t i = 0; i < k->n; i++)
        if (k->keys[i].row.signs_from > now &&
            (!next || k->keys[i].row.signs_from > next->row.signs_from))
            next = &k->keys[i];
    if (cur)
        snprintf(out->old_kid, sizeof out->old_kid, "%s", cur->row.kid);
    int64_t from;
    if (next) {
        /* published since its creation: it may sign once lead_s has passed since then */
        from = next->row.created_at + k->cfg.lead_s;
        if (from < now)
            from = now;
        if (from < next->row.signs_from &&
            (rc = tn_store_key_schedule(k->cfg.store, next->row.kid, from,
                                        from + k->cfg.rotate_s)) != TN_OK)
            goto done;
        if (from > next->row.signs_from)
            from = next->row.signs_from;
        snprintf(out->kid, sizeof out->kid, "%s", next->row.kid);
    } else {
        from = now + k->cfg.lead_s;
        /* published (in the store) before the current key is cut short */
        if ((rc = create_key(k, from)) != TN_OK)
            goto done;
        out->created = true;
    }
    out->signs_from = from;
    if (cur && cur->row.retire_at > from &&
        (rc = tn_store_key_schedule(k->cfg.store, cur->row.kid,
                                    cur->row.signs_from < from ? cur->row.signs_from : from,
                                    from)) != TN_OK)
        goto done;
    rc = reload(k, now);
    if (rc == TN_OK && out->created) {
        for (size_t i = 0; i < k->n; i++)
            if (k->keys[i].row.signs_from == from && strcmp(k->keys[i].row.kid, out->old_kid))
                snprintf(out->kid, sizeof out->kid, "%s", k->keys[i].row.kid);
    }
    if (rc == TN_OK)
        tn_log(TN_LOG_INFO, "signing key rotation scheduled", "kid", out->kid, "replaces",
               out->old_kid, NULL);
done:
    pthread_mutex_unlock(&k->mu);
    return rc;
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
