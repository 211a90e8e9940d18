/* The built-in issuer's signing keys (src/auth/as/keys.c): rotation (the successor is
 * published before it signs, the old key stays published while its tokens live), and
 * the keys at rest: sealed in the store, useless without the server secret, refused when
 * altered or moved, and plain-text rows of a previous version sealed in place with the
 * tokens they signed still valid. The at-rest tests run on SQLite, and on PostgreSQL
 * too when DATABASE_URL is set (a fresh schema per test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <ftw.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "auth/as/keys.h"
#include "core/log.h"
#include "core/util.h"
#include "pg_fixture.h"

#define ISS "https://notes.example.com"
#define AUD "https://notes.example.com/mcp"

static const uint8_t secret_a[32] = "secret A: 32 bytes of the server";
static const uint8_t secret_b[32] = "secret B: another server's bytes";

/* ---------- helpers ---------- */

static char *kid_of(const char *jwt)
{
    const char *dot = strchr(jwt, '.');
    char hdr[512];
    size_t n = 0;
    assert_int_equal(tn_b64url_decode(hdr, sizeof hdr - 1, &n, jwt, (size_t)(dot - jwt)), TN_OK);
    hdr[n] = '\0';
    json_t *h = json_loads(hdr, 0, NULL);
    char *k = strdup(json_string_value(json_object_get(h, "kid")));
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "at+jwt");
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    json_decref(h);
    return k;
}

static json_t *claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I}", "iss", ISS, "aud", AUD, "sub", "alice", "exp",
                     (json_int_t)(tn_time_now_ms() / 1000 + 600));
}

/* A token signed by the current key (caller frees). */
static char *token(struct tn_as_keys *k)
{
    json_t *c = claims();
    char *t = NULL;
    assert_int_equal(tn_as_keys_sign(k, c, &t), TN_OK);
    json_decref(c);
    return t;
}

static char *sign(struct tn_as_keys *k)
{
    char *t = token(k);
    char *kid = kid_of(t);
    free(t);
    return kid;
}

static size_t published(struct tn_as_keys *k)
{
    json_t *j = tn_as_keys_jwks_json(k);
    size_t n = json_array_size(json_object_get(j, "keys"));
    json_decref(j);
    return n;
}

/* The verdict on `jwt` of the set the keys publish. */
static enum tn_jwt_reason verdict(struct tn_as_keys *k, const char *jwt)
{
    static const char *const iss[] = {ISS}, *const aud[] = {AUD};
    struct tn_jwt_policy p = {.issuers = iss, .n_issuers = 1, .audiences = aud, .n_audiences = 1};
    struct tn_jwks *set = tn_as_keys_jwks_copy(k);
    assert_non_null(set);
    enum tn_jwt_reason why = TN_JWT_INTERNAL;
    tn_jwt_verify(jwt, strlen(jwt), set, &p, NULL, &why);
    tn_jwks_free(set);
    return why;
}

static enum tn_err open_keys(struct tn_store *s, const uint8_t *secret, size_t len,
                             struct tn_as_keys **out)
{
    struct tn_as_keys_config c = {.store = s,
                                  .secret = secret,
                                  .secret_len = len,
                                  .rotate_s = 86400,
                                  .lead_s = 900,
                                  .token_ttl_s = 3600};
    return tn_as_keys_open(&c, out);
}

/* A P-256 key as the previous version made it: PEM (PKCS#8) and its thumbprint as kid. */
static EVP_PKEY *legacy_key(char pem[2048], char kid[44])
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(pk);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    assert_true(len > 0 && len < 2048);
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
    BIO_free(b);
    assert_int_equal(tn_jwk_thumbprint(pk, kid), TN_OK);
    return pk;
}

static bool contains(const void *hay, size_t n, const void *needle, size_t m)
{
    return m && n >= m && memmem(hay, n, needle, m) != NULL;
}

/* Fails when hay[0..n) holds any trace of the private key `pem`: its PEM armour or any
 * 16 characters of its base64 body, its DER, or its private scalar raw, in hex or in
 * base64/base64url. */
static void assert_no_key_material(const void *hay, size_t n, const char *pem)
{
    assert_false(contains(hay, n, "PRIVATE KEY", 11));
    /* the base64 body without its line breaks */
    const char *body = strchr(pem, '\n') + 1, *end = strstr(pem, "-----END");
    char b64[2048];
    size_t bl = 0;
    for (const char *p = body; p < end; p++)
        if (*p != '\n')
            b64[bl++] = *p;
    assert_true(bl > 64);
    for (size_t i = 0; i + 16 <= bl; i++)
        if (contains(hay, n, b64 + i, 16))
            fail_msg("the stored text holds the PEM body at %zu", i);
    uint8_t der[1536];
    size_t dl = 0;
    assert_int_equal(tn_b64_decode(der, sizeof der, &dl, b64, bl), TN_OK);
    assert_false(contains(hay, n, der, dl));

    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(pk);
    BIGNUM *d = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    uint8_t raw[32];
    assert_int_equal(BN_bn2binpad(d, raw, sizeof raw), 32);
    BN_clear_free(d);
    EVP_PKEY_free(pk);
    assert_false(contains(hay, n, raw, 32));
    char text[100];
    sodium_bin2hex(text, sizeof text, raw, 32);
    assert_false(contains(hay, n, text, 64));
    for (char *c = text; *c; c++)
        *c = (char)(*c >= 'a' ? *c - 32 : *c);
    assert_false(contains(hay, n, text, 64));
    sodium_bin2base64(text, sizeof text, raw, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    assert_false(contains(hay, n, text, strlen(text)));
    sodium_bin2base64(text, sizeof text, raw, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_false(contains(hay, n, text, strlen(text)));
}

/* ---------- the store under test, read and altered behind its back ---------- */

struct fx {
    bool pg;
    char dir[64];    /* SQLite: the data directory */
    char schema[64]; /* PostgreSQL: the test's schema */
    char url[1024];  /* PostgreSQL: base_url with search_path set to schema */
    struct tn_store *s;
};

/* One signing_keys row as the database holds it. */
struct raw {
    char kid[64];
    char pem[2048];
};

static struct tn_store *store_open(struct fx *f)
{
    if (f->pg)
        return open_url(f->url);
    struct tn_store *s = NULL;
    assert_int_equal(tn_store_open(f->dir, "", &s, NULL), TN_OK);
    return s;
}

static int setup_sqlite(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tn-keys-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->s = store_open(f);
    *state = f;
    return 0;
}

static int setup_pg(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->pg = true;
    pg_fixture_schema(f->schema, sizeof f->schema, f->url, sizeof f->url);
    f->s = store_open(f);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_dir(const char *dir) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static int teardown(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    if (f->pg)
        schema_drop(f->schema);
    else
        rm_dir(f->dir);
    free(f);
    return 0;
}

/* Every row of signing_keys, read with the database's own client. */
static size_t raw_rows(struct fx *f, struct raw *out, size_t max)
{
    size_t n = 0;
    static const char sql[] = "SELECT kid, pem FROM signing_keys ORDER BY created_at, kid";
    if (f->pg) {
        PGconn *c = conn_to(f->url);
        PGresult *r = PQexec(c, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        for (int i = 0; i < PQntuples(r) && n < max; i++, n++) {
            snprintf(out[n].kid, sizeof out[n].kid, "%s", PQgetvalue(r, i, 0));
            snprintf(out[n].pem, sizeof out[n].pem, "%s", PQgetvalue(r, i, 1));
        }
        PQclear(r);
        PQfinish(c);
        return n;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/teamnotes.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out[n].kid, sizeof out[n].kid, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(out[n].pem, sizeof out[n].pem, "%s", (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Runs one statement with text parameters $1/?1 and $2/?2 on the database directly. */
static void raw_exec(struct fx *f, const char *sql, const char *p1, const char *p2)
{
    if (f->pg) {
        PGconn *c = conn_to(f->url);
        const char *params[] = {p1, p2};
        PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        assert_string_equal(PQcmdTuples(r), "1");
        PQclear(r);
        PQfinish(c);
        return;
    }
    char path[128], lite[256];
    snprintf(path, sizeof path, "%s/teamnotes.db", f->dir);
    /* the same statement with SQLite's placeholders */
    snprintf(lite, sizeof lite, "%s", sql);
    for (char *p = lite; *p; p++)
        if (*p == '$')
            *p = '?';
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, lite, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, p2, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void set_pem(struct fx *f, const char *kid, const char *pem)
{
    raw_exec(f, "UPDATE signing_keys SET pem = $2 WHERE kid = $1", kid, pem);
}

/* A key row as the previous version stored it: signing since a minute ago. */
static void insert_plain(struct fx *f, const char *kid, const char *pem)
{
    int64_t now = tn_time_now_ms() / 1000;
    struct tn_signing_key row = {
        .alg = "ES256", .created_at = now - 60, .signs_from = now - 60, .retire_at = now + 86400};
    snprintf(row.kid, sizeof row.kid, "%s", kid);
    snprintf(row.pem, sizeof row.pem, "%s", pem);
    assert_int_equal(tn_store_key_insert(f->s, &row), TN_OK);
}

/* ---------- rotation ---------- */

static void test_rotation(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys_config c = {.store = f->s,
                                  .secret = secret_a,
                                  .secret_len = 32,
                                  .rotate_s = 4,
                                  .lead_s = 2,
                                  .token_ttl_s = 1};
    struct tn_as_keys *k = NULL;
    assert_int_equal(tn_as_keys_open(&c, &k), TN_OK);
    assert_int_equal(published(k), 1);
    char *first = sign(k);

    /* a second instance on the same store signs with the same key */
    struct tn_as_keys *k2 = NULL;
    assert_int_equal(tn_as_keys_open(&c, &k2), TN_OK);
    char *same = sign(k2);
    assert_string_equal(first, same);

    /* within the lead time of the first key's end: the successor is published but the
     * first key still signs */
    sleep(3);
    assert_true(tn_as_keys_refresh(k, tn_time_now_ms() / 1000, true));
    assert_int_equal(published(k), 2);
    char *still = sign(k);
    assert_string_equal(first, still);
    /* after the first key's end, the successor signs; the first stays published */
    sleep(2);
    tn_as_keys_refresh(k, tn_time_now_ms() / 1000, true);
    char *next = sign(k);
    assert_string_not_equal(first, next);
    assert_int_equal(published(k), 2);
    struct tn_jwks *set = tn_as_keys_jwks_copy(k);
    assert_non_null(tn_jwks_find(set, first));
    assert_non_null(tn_jwks_find(set, next));
    tn_jwks_free(set);
    /* the successor was sealed too */
    struct raw rows[4];
    assert_int_equal(raw_rows(f, rows, 4), 2);
    for (size_t i = 0; i < 2; i++)
        assert_memory_equal(rows[i].pem, TN_AS_KEY_SEALED_PREFIX, 5);

    free(first);
    free(same);
    free(still);
    free(next);
    tn_as_keys_free(k);
    tn_as_keys_free(k2);
}

/* Rotation on demand (the admin console's "rotate now", `teamnotes keys rotate`): the
 * successor is published at once and signs only after the lead time; tokens the old key
 * signed still verify; a second call changes nothing; another instance follows. */
struct key_rows {
    struct tn_signing_key v[8];
    size_t n;
};

static void collect_key(const struct tn_signing_key *k, void *ud)
{
    struct key_rows *r = ud;
    if (r->n < 8)
        r->v[r->n++] = *k;
}

/* The stored keys' states at `now`, in creation order: "C" current, "N" next, "R" retired. */
static void states_of(struct fx *f, int64_t now, char *out, size_t cap)
{
    struct key_rows *r = calloc(1, sizeof *r);
    assert_int_equal(tn_store_key_list(f->s, collect_key, r), TN_OK);
    enum tn_as_key_state st[8];
    tn_as_keys_classify(r->v, r->n, now, st);
    out[0] = '\0';
    for (size_t i = 0; i < r->n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s",
                 st[i] == TN_AS_KEY_CURRENT ? "C"
                 : st[i] == TN_AS_KEY_NEXT  ? "N"
                                            : "R");
    free(r);
}

static void test_rotate_now(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys_config c = {.store = f->s,
                                  .secret = secret_a,
                                  .secret_len = 32,
                                  .rotate_s = 86400,
                                  .lead_s = 2,
                                  .token_ttl_s = 600};
    struct tn_as_keys *k = NULL, *k2 = NULL;
    assert_int_equal(tn_as_keys_open(&c, &k), TN_OK);
    assert_int_equal(tn_as_keys_open(&c, &k2), TN_OK);
    char *before = token(k);
    char *old_kid = kid_of(before);
    int64_t now = tn_time_now_ms() / 1000;
    char st[16];
    states_of(f, now, st, sizeof st);
    assert_string_equal(st, "C");

    struct tn_as_rotation r;
    assert_int_equal(tn_as_keys_rotate(k, now, &r), TN_OK);
    assert_true(r.created);
    assert_string_equal(r.old_kid, old_kid);
    assert_string_not_equal(r.kid, old_kid);
    assert_int_equal(r.kid[0] != '\0', 1);
    assert_int_equal(r.signs_from, now + 2);
    /* published at once, not signing yet */
    assert_int_equal(published(k), 2);
    struct tn_jwks *set = tn_as_keys_jwks_copy(k);
    assert_non_null(tn_jwks_find(set, r.kid));
    tn_jwks_free(set);
    char *still = sign(k);
    assert_string_equal(still, old_kid);
    states_of(f, now, st, sizeof st);
    assert_string_equal(st, "CN");

    /* again before the successor starts: the same schedule, no third key */
    struct tn_as_rotation again;
    assert_int_equal(tn_as_keys_rotate(k, now + 1, &again), TN_OK);
    assert_false(again.created);
    assert_string_equal(again.kid, r.kid);
    assert_int_equal(again.signs_from, r.signs_from);
    assert_int_equal(published(k), 2);

    /* after the lead: the successor signs, the old key's token still verifies */
    sleep(3);
    char *after = sign(k);
    assert_string_equal(after, r.kid);
    assert_int_equal(verdict(k, before), TN_JWT_OK);
    states_of(f, tn_time_now_ms() / 1000, st, sizeof st);
    assert_string_equal(st, "RC");
    /* another instance on the store follows once it re-reads the keys */
    tn_as_keys_refresh(k2, tn_time_now_ms() / 1000, true);
    char *other = sign(k2);
    assert_string_equal(other, r.kid);
    assert_int_equal(verdict(k2, before), TN_JWT_OK);

    free(before);
    free(old_kid);
    free(still);
    free(after);
    free(other);
    tn_as_keys_free(k);
    tn_as_keys_free(k2);
}

/* ---------- the sealed form ---------- */

static void test_kek(void **state)
{
    uint8_t a[32], a2[32], b[32];
    assert_int_equal(tn_as_keys_kek(a, secret_a, 32), TN_OK);
    assert_int_equal(tn_as_keys_kek(a2, secret_a, 32), TN_OK);
    assert_int_equal(tn_as_keys_kek(b, secret_b, 32), TN_OK);
    assert_memory_equal(a, a2, 32);
    assert_memory_not_equal(a, b, 32);
    /* a subkey for this purpose, not the secret itself */
    assert_memory_not_equal(a, secret_a, 32);
    /* BLAKE2b-256 keyed with the secret over the purpose label, computed independently */
    uint8_t want[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, secret_a, 32, 32);
    crypto_generichash_update(&st, (const uint8_t *)"teamnotes signing keys v1", 25);
    crypto_generichash_final(&st, want, 32);
    assert_memory_equal(a, want, 32);

    static const uint8_t zero[32];
    uint8_t out[32];
    memset(out, 0xaa, sizeof out);
    assert_int_equal(tn_as_keys_kek(out, NULL, 32), TN_ERR_CONFIG);
    assert_memory_equal(out, zero, 32);
    assert_int_equal(tn_as_keys_kek(out, secret_a, 0), TN_ERR_CONFIG);
    assert_int_equal(tn_as_keys_kek(out, secret_a, 15), TN_ERR_CONFIG);
    uint8_t big[65] = {0};
    assert_int_equal(tn_as_keys_kek(out, big, 65), TN_ERR_CONFIG);
    assert_int_equal(tn_as_keys_kek(out, big, 64), TN_OK);
    assert_int_equal(tn_as_keys_kek(out, big, 16), TN_OK);
}

/* base64url of `sealed` decoded, one byte flipped at `at` (negative: from the end) or,
 * with `cut`, that many bytes dropped from the end, encoded again: a well-formed row
 * with altered content. */
static void alter(const char *sealed, long at, size_t cut, char *out, size_t cap)
{
    uint8_t box[2048];
    size_t n = 0;
    const char *b = sealed + 5;
    assert_int_equal(tn_b64url_decode(box, sizeof box, &n, b, strlen(b)), TN_OK);
    size_t i = at < 0 ? n - (size_t)(-at) : (size_t)at;
    assert_true(i < n && cut < n);
    if (cut)
        n -= cut;
    else
        box[i] ^= 0x01;
    memcpy(out, sealed, 5);
    assert_true(tn_b64url_encode(out + 5, cap - 5, box, n) > 0);
}

static void flip(const char *sealed, long at, char *out, size_t cap)
{
    alter(sealed, at, 0, out, cap);
}

static void test_seal_roundtrip(void **state)
{
    uint8_t kek[32], other[32];
    assert_int_equal(tn_as_keys_kek(kek, secret_a, 32), TN_OK);
    assert_int_equal(tn_as_keys_kek(other, secret_b, 32), TN_OK);
    char pem[2048], kid[44];
    EVP_PKEY *pk = legacy_key(pem, kid);
    EVP_PKEY_free(pk);

    char s1[2048], s2[2048], back[2048];
    assert_int_equal(tn_as_key_seal(kek, kid, pem, s1, sizeof s1), TN_OK);
    assert_int_equal(tn_as_key_seal(kek, kid, pem, s2, sizeof s2), TN_OK);
    assert_memory_equal(s1, "tnk1:", 5);
    /* nonce 24 + the PEM + tag 16, in base64url without padding */
    assert_int_equal(strlen(s1), 5 + tn_b64url_encoded_len(24 + strlen(pem) + 16));
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_int_equal(strspn(s1 + 5, b64url), strlen(s1) - 5);
    assert_string_not_equal(s1, s2); /* a fresh nonce each time */
    assert_no_key_material(s1, strlen(s1), pem);
    assert_int_equal(tn_as_key_unseal(kek, kid, s1, back, sizeof back), TN_OK);
    assert_string_equal(back, pem);
    assert_int_equal(tn_as_key_unseal(kek, kid, s2, back, sizeof back), TN_OK);
    assert_string_equal(back, pem);

    /* refusals: each with its exact error, and nothing of the key in the output */
    char nonce0[2048], mid[2048], tag_last[2048], tnk2[2048], cut[2048], bad64[2048], shortbox[64];
    flip(s1, 0, nonce0, sizeof nonce0);
    flip(s1, 24 + 100, mid, sizeof mid);
    flip(s1, -1, tag_last, sizeof tag_last);
    snprintf(tnk2, sizeof tnk2, "tnk2:%s", s1 + 5);
    alter(s1, 0, 3, cut, sizeof cut);
    snprintf(bad64, sizeof bad64, "%s", s1);
    bad64[40] = '+';
    uint8_t tiny[40] = {0};
    memcpy(shortbox, "tnk1:", 5);
    tn_b64url_encode(shortbox + 5, sizeof shortbox - 5, tiny, 40); /* nonce + tag, no text */
    const struct {
        const char *name;
        const uint8_t *kek;
        const char *kid;
        const char *sealed;
        size_t cap;
        enum tn_err want;
    } cases[] = {
        {"another secret", other, kid, s1, sizeof back, TN_ERR_CONFIG},
        {"another kid", kek, "another-kid", s1, sizeof back, TN_ERR_CONFIG},
        {"nonce byte flipped", kek, kid, nonce0, sizeof back, TN_ERR_CONFIG},
        {"ciphertext byte flipped", kek, kid, mid, sizeof back, TN_ERR_CONFIG},
        {"tag byte flipped", kek, kid, tag_last, sizeof back, TN_ERR_CONFIG},
        {"truncated", kek, kid, cut, sizeof back, TN_ERR_CONFIG},
        {"unknown version", kek, kid, tnk2, sizeof back, TN_ERR_BAD_INPUT},
        {"plain PEM", kek, kid, pem, sizeof back, TN_ERR_BAD_INPUT},
        {"empty", kek, kid, "", sizeof back, TN_ERR_BAD_INPUT},
        {"prefix only", kek, kid, "tnk1:", sizeof back, TN_ERR_BAD_INPUT},
        {"not base64url", kek, kid, bad64, sizeof back, TN_ERR_BAD_INPUT},
        {"nonce and tag only", kek, kid, shortbox, sizeof back, TN_ERR_BAD_INPUT},
        {"no room for the key", kek, kid, s1, strlen(pem), TN_ERR_LIMIT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(back, 'x', sizeof back);
        enum tn_err e =
            tn_as_key_unseal(cases[i].kek, cases[i].kid, cases[i].sealed, back, cases[i].cap);
        if (e != cases[i].want)
            fail_msg("%s: %s, want %s", cases[i].name, tn_err_name(e), tn_err_name(cases[i].want));
        for (size_t j = 0; j < cases[i].cap; j++)
            if (back[j] != '\0')
                fail_msg("%s: output not wiped at %zu", cases[i].name, j);
    }
    assert_int_equal(tn_as_key_unseal(kek, kid, s1, back, strlen(pem) + 1), TN_OK);

    /* sealing refuses what it cannot do */
    char out[2048];
    assert_int_equal(tn_as_key_seal(kek, "", pem, out, sizeof out), TN_ERR_BAD_INPUT);
    assert_string_equal(out, "");
    assert_int_equal(tn_as_key_seal(kek, kid, "", out, sizeof out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_as_key_seal(kek, kid, pem, out, strlen(s1)), TN_ERR_LIMIT);
    assert_string_equal(out, "");
    assert_int_equal(tn_as_key_seal(kek, kid, pem, out, strlen(s1) + 1), TN_OK);
    /* the longest text whose sealed form fits a store row (2048 bytes with the NUL):
     * 5 + base64url(24 + 1491 + 16) + 1 = 2048 */
    char huge[2048], big_out[4096];
    memset(huge, 'p', 1491);
    huge[1491] = '\0';
    assert_int_equal(tn_as_key_seal(kek, kid, huge, big_out, sizeof big_out), TN_OK);
    assert_int_equal(strlen(big_out), 2047);
    assert_int_equal(tn_as_key_unseal(kek, kid, big_out, back, sizeof back), TN_OK);
    assert_string_equal(back, huge);
    memset(huge, 'p', 1492);
    huge[1492] = '\0';
    assert_int_equal(tn_as_key_seal(kek, kid, huge, big_out, sizeof big_out), TN_ERR_LIMIT);
    assert_string_equal(big_out, "");
}

/* ---------- keys at rest ---------- */

/* The stored row is sealed: versioned prefix, no trace of the private key, in the row
 * and (SQLite) anywhere in the database file; it opens with the secret's kek alone. */
static void test_not_plaintext(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys *k = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    char *t = token(k);
    char *kid = kid_of(t);
    assert_int_equal(verdict(k, t), TN_JWT_OK);
    tn_as_keys_free(k);

    struct raw rows[4];
    assert_int_equal(raw_rows(f, rows, 4), 1);
    assert_string_equal(rows[0].kid, kid);
    assert_memory_equal(rows[0].pem, "tnk1:", 5);
    uint8_t kek[32];
    char pem[2048];
    assert_int_equal(tn_as_keys_kek(kek, secret_a, 32), TN_OK);
    assert_int_equal(tn_as_key_unseal(kek, kid, rows[0].pem, pem, sizeof pem), TN_OK);
    assert_memory_equal(pem, "-----BEGIN PRIVATE KEY-----\n", 28);
    assert_no_key_material(rows[0].pem, strlen(rows[0].pem), pem);
    if (!f->pg) {
        /* the whole file, as a backup would copy it */
        tn_store_close(f->s);
        f->s = NULL;
        char path[128];
        snprintf(path, sizeof path, "%s/teamnotes.db", f->dir);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        static char file[1 << 20];
        size_t n = fread(file, 1, sizeof file, fp);
        fclose(fp);
        assert_true(n > 4096 && n < sizeof file);
        assert_true(contains(file, n, rows[0].pem, strlen(rows[0].pem)));
        assert_no_key_material(file, n, pem);
        f->s = store_open(f);
    }
    sodium_memzero(pem, sizeof pem);
    free(kid);
    free(t);
}

/* A copy of the database opened with another secret, or none, yields no signing key,
 * creates none and changes nothing; with the right secret it is whole again. */
static void test_dump_without_secret(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys *k = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    char *kid = sign(k);
    tn_as_keys_free(k);
    struct raw before[4], after[4];
    assert_int_equal(raw_rows(f, before, 4), 1);

    struct tn_store *dump = f->s;
    char copy[96] = "";
    if (!f->pg) {
        /* SQLite: the file itself, copied as a backup would; PostgreSQL: the same rows */
        tn_store_close(f->s);
        f->s = NULL;
        snprintf(copy, sizeof copy, "%s/copy", f->dir);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "mkdir %s && cp %s/teamnotes.db %s/", copy, f->dir, copy);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(tn_store_open(copy, "", &dump, NULL), TN_OK);
    }
    const struct {
        const char *name;
        const uint8_t *secret;
        size_t len;
        enum tn_err want;
    } cases[] = {
        {"another secret", secret_b, 32, TN_ERR_CONFIG},
        {"no secret", NULL, 0, TN_ERR_CONFIG},
        {"an empty secret", secret_a, 0, TN_ERR_CONFIG},
        {"the secret's first half", secret_a, 16, TN_ERR_CONFIG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_as_keys *x = (void *)1;
        enum tn_err e = open_keys(dump, cases[i].secret, cases[i].len, &x);
        if (e != cases[i].want)
            fail_msg("%s: %s, want %s", cases[i].name, tn_err_name(e), tn_err_name(cases[i].want));
        assert_null(x);
    }
    if (!f->pg) {
        tn_store_close(dump);
        f->s = store_open(f);
        /* the copy is unchanged too: read it where it lies */
        struct fx c = {.pg = false};
        snprintf(c.dir, sizeof c.dir, "%s", copy);
        assert_int_equal(raw_rows(&c, after, 4), 1);
        assert_string_equal(after[0].kid, before[0].kid);
        assert_string_equal(after[0].pem, before[0].pem);
    }
    /* no key made in place of the one that did not open, nothing rewritten */
    assert_int_equal(raw_rows(f, after, 4), 1);
    assert_string_equal(after[0].kid, before[0].kid);
    assert_string_equal(after[0].pem, before[0].pem);

    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    char *again = sign(k);
    assert_string_equal(again, kid);
    tn_as_keys_free(k);
    free(again);
    free(kid);
}

/* A row altered in the store, or moved to another kid, is refused; no key is made in
 * its place. */
static void test_tampered_refused(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys *k = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    char *kid = sign(k);
    tn_as_keys_free(k);
    struct raw good[2];
    assert_int_equal(raw_rows(f, good, 2), 1);

    char nonce0[2048], mid[2048], tag_last[2048], bad64[2048];
    flip(good[0].pem, 0, nonce0, sizeof nonce0);
    flip(good[0].pem, 60, mid, sizeof mid);
    flip(good[0].pem, -1, tag_last, sizeof tag_last);
    snprintf(bad64, sizeof bad64, "%s", good[0].pem);
    bad64[30] = '*';
    const struct {
        const char *name;
        const char *pem;
        enum tn_err want;
    } cases[] = {
        {"nonce byte", nonce0, TN_ERR_CONFIG},
        {"ciphertext byte", mid, TN_ERR_CONFIG},
        {"tag byte", tag_last, TN_ERR_CONFIG},
        {"not base64url", bad64, TN_ERR_BAD_INPUT},
        {"unknown format", "AAAA", TN_ERR_BAD_INPUT},
        {"plain text that is no key",
         "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        set_pem(f, kid, cases[i].pem);
        struct tn_as_keys *x = NULL;
        enum tn_err e = open_keys(f->s, secret_a, 32, &x);
        if (e != cases[i].want)
            fail_msg("%s: %s, want %s", cases[i].name, tn_err_name(e), tn_err_name(cases[i].want));
        assert_null(x);
        struct raw now[2];
        assert_int_equal(raw_rows(f, now, 2), 1);
        assert_string_equal(now[0].pem, cases[i].pem);
    }
    /* the genuine row moved to another kid (the columns other than pem as they were) */
    set_pem(f, kid, good[0].pem);
    raw_exec(f, "UPDATE signing_keys SET kid = $2 WHERE kid = $1", kid, "moved-kid");
    struct tn_as_keys *x = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &x), TN_ERR_CONFIG);
    raw_exec(f, "UPDATE signing_keys SET kid = $2 WHERE kid = $1", "moved-kid", kid);
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    char *again = sign(k);
    assert_string_equal(again, kid);
    tn_as_keys_free(k);
    free(again);
    free(kid);
}

/* A plain-text row of the previous version is sealed in place at start; the tokens it
 * signed before still verify, and it goes on signing. */
static void test_legacy_sealed(void **state)
{
    struct fx *f = *state;
    char pem[2048], kid[44];
    EVP_PKEY *pk = legacy_key(pem, kid);
    insert_plain(f, kid, pem);
    /* a token as the previous version issued it */
    json_t *c = claims();
    char *old = NULL;
    assert_int_equal(tn_jwt_sign(pk, "ES256", kid, "at+jwt", c, &old), TN_OK);
    json_decref(c);
    EVP_PKEY_free(pk);

    struct tn_as_keys *k = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    struct raw rows[2];
    assert_int_equal(raw_rows(f, rows, 2), 1);
    assert_string_equal(rows[0].kid, kid);
    assert_memory_equal(rows[0].pem, "tnk1:", 5);
    assert_no_key_material(rows[0].pem, strlen(rows[0].pem), pem);
    uint8_t kek[32];
    char back[2048];
    assert_int_equal(tn_as_keys_kek(kek, secret_a, 32), TN_OK);
    assert_int_equal(tn_as_key_unseal(kek, kid, rows[0].pem, back, sizeof back), TN_OK);
    assert_string_equal(back, pem);

    assert_int_equal(verdict(k, old), TN_JWT_OK);
    char *now = sign(k);
    assert_string_equal(now, kid);
    assert_int_equal(published(k), 1);
    tn_as_keys_free(k);

    /* sealed once: a second start leaves the row as it is */
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    struct raw again[2];
    assert_int_equal(raw_rows(f, again, 2), 1);
    assert_string_equal(again[0].pem, rows[0].pem);
    assert_int_equal(verdict(k, old), TN_JWT_OK);
    tn_as_keys_free(k);
    /* and from now on it needs the secret */
    assert_int_equal(open_keys(f->s, secret_b, 32, &k), TN_ERR_CONFIG);
    free(now);
    free(old);
}

/* A store holding a sealed row and a plain one, opened with the wrong secret: refused,
 * and the plain row is not sealed with that secret (which would lose it for good). */
static void test_mixed_wrong_secret(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys *k = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    tn_as_keys_free(k);
    char pem[2048], kid[44];
    EVP_PKEY *pk = legacy_key(pem, kid);
    EVP_PKEY_free(pk);
    insert_plain(f, kid, pem);

    assert_int_equal(open_keys(f->s, secret_b, 32, &k), TN_ERR_CONFIG);
    struct raw rows[4];
    size_t n = raw_rows(f, rows, 4);
    assert_int_equal(n, 2);
    bool plain_seen = false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].kid, kid)) {
            assert_string_equal(rows[i].pem, pem);
            plain_seen = true;
        }
    assert_true(plain_seen);
    /* the right secret opens both and seals the plain one */
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    assert_int_equal(published(k), 2);
    tn_as_keys_free(k);
    n = raw_rows(f, rows, 4);
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(rows[i].pem, "tnk1:", 5);
}

/* Instances starting together on a store with plain rows: both start, the row is sealed
 * exactly once (compare and set), both sign with the same key. */
struct racer {
    struct fx *f;
    pthread_barrier_t *go;
    enum tn_err rc;
    char kid[64];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct tn_store *s = store_open(r->f);
    pthread_barrier_wait(r->go);
    struct tn_as_keys *k = NULL;
    r->rc = open_keys(s, secret_a, 32, &k);
    if (r->rc == TN_OK) {
        json_t *c = claims();
        char *t = NULL;
        if (tn_as_keys_sign(k, c, &t) == TN_OK) {
            char *kid = kid_of(t);
            snprintf(r->kid, sizeof r->kid, "%s", kid);
            free(kid);
        }
        free(t);
        json_decref(c);
    }
    tn_as_keys_free(k);
    tn_store_close(s);
    return NULL;
}

static void test_legacy_raced(void **state)
{
    struct fx *f = *state;
    char pem[2048], kid[44];
    EVP_PKEY *pk = legacy_key(pem, kid);
    EVP_PKEY_free(pk);
    insert_plain(f, kid, pem);
    enum { N = 4 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    struct racer r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.f = f, .go = &go};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].rc, TN_OK);
        assert_string_equal(r[i].kid, kid);
    }
    struct raw rows[4];
    assert_int_equal(raw_rows(f, rows, 4), 1);
    assert_memory_equal(rows[0].pem, "tnk1:", 5);
    uint8_t kek[32];
    char back[2048];
    assert_int_equal(tn_as_keys_kek(kek, secret_a, 32), TN_OK);
    assert_int_equal(tn_as_key_unseal(kek, kid, rows[0].pem, back, sizeof back), TN_OK);
    assert_string_equal(back, pem);
}

/* A running instance that finds a row it cannot open keeps the keys it has, and signs
 * on with them: nothing is dropped or created. */
static void test_refresh_keeps_keys(void **state)
{
    struct fx *f = *state;
    struct tn_as_keys *k = NULL;
    assert_int_equal(open_keys(f->s, secret_a, 32, &k), TN_OK);
    char *kid = sign(k);
    /* a key sealed under another secret appears (an instance misconfigured) */
    char pem[2048], other[44], sealed[2048];
    uint8_t kek_b[32];
    EVP_PKEY *pk = legacy_key(pem, other);
    EVP_PKEY_free(pk);
    assert_int_equal(tn_as_keys_kek(kek_b, secret_b, 32), TN_OK);
    assert_int_equal(tn_as_key_seal(kek_b, other, pem, sealed, sizeof sealed), TN_OK);
    insert_plain(f, other, sealed);
    assert_false(tn_as_keys_refresh(k, tn_time_now_ms() / 1000, true));
    char *still = sign(k);
    assert_string_equal(still, kid);
    assert_int_equal(published(k), 1);
    struct raw rows[4];
    assert_int_equal(raw_rows(f, rows, 4), 2);
    /* its own key altered in the store: still no key dropped, none created */
    raw_exec(f, "DELETE FROM signing_keys WHERE kid = $1 OR kid = $2", other, other);
    char altered[2048];
    assert_int_equal(raw_rows(f, rows, 4), 1);
    snprintf(altered, sizeof altered, "%s", rows[0].pem);
    altered[30] = altered[30] == 'A' ? 'B' : 'A';
    set_pem(f, kid, altered);
    assert_false(tn_as_keys_refresh(k, tn_time_now_ms() / 1000, true));
    char *after = sign(k);
    assert_string_equal(after, kid);
    assert_int_equal(published(k), 1);
    assert_int_equal(raw_rows(f, rows, 4), 1);
    assert_string_equal(rows[0].pem, altered);
    tn_as_keys_free(k);
    free(after);
    free(still);
    free(kid);
}

int main(void)
{
    tn_util_init();
    tn_log_setup(TN_LOG_WARN, false); /* no "signing key created" line per test */
// clang-format off
#define CASES(X)                                                                             \
    X(test_rotation)                                                                         \
    X(test_rotate_now)                                                                       \
    X(test_not_plaintext)                                                                    \
    X(test_dump_without_secret)                                                              \
    X(test_tampered_refused)                                                                 \
    X(test_legacy_sealed)                                                                    \
    X(test_mixed_wrong_secret)                                                               \
    X(test_legacy_raced)                                                                     \
    X(test_refresh_keeps_keys)
// clang-format on
#define ON_SQLITE(fn) {#fn, fn, setup_sqlite, teardown, NULL},
#define ON_PG(fn) {#fn " (postgres)", fn, setup_pg, teardown, NULL},
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_kek), cmocka_unit_test(test_seal_roundtrip), CASES(ON_SQLITE)};
    const struct CMUnitTest pg_tests[] = {CASES(ON_PG)};
    int rc = cmocka_run_group_tests_name("keys", sqlite_tests, NULL, NULL);
    /* PostgreSQL only when a server is given (scripts/test gives one) */
    const char *url = getenv("DATABASE_URL");
    if (!url || !url[0]) {
        printf("# test_keys: DATABASE_URL is not set; the PostgreSQL cases are skipped\n");
        return rc;
    }
    if (!pg_fixture_connect(url))
        return 1;
    rc |= cmocka_run_group_tests_name("keys (postgres)", pg_tests, NULL, NULL);
    pg_fixture_disconnect();
    return rc;
}
