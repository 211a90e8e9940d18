/* Upstream OpenID Connect relying party (src/auth/upstream): discovery documents good and
 * hostile, the authorization URL, a table of forged and broken ID tokens each with its
 * exact reason, and whole sign-ins against a small provider served on loopback by this
 * test (libmicrohttpd): client_secret_basic encoding, PKCE, state, replayed codes, key
 * rotation with the refetch cooldown, and Entra's {tenantid} issuer template. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <time.h>

#include "auth/rs/jose.h"
#include "auth/upstream/oidc.h"
#include "core/fetch.h"
#include "core/form.h"
#include "core/util.h"

#define CLIENT_ID "rp:client"
#define CLIENT_SECRET "s3cr3t: /+%&=?"
/* RFC 6749 §2.3.1 by hand: each part form-urlencoded, then joined, then base64 */
#define BASIC_PLAIN "rp%3Aclient:s3cr3t%3A%20%2F%2B%25%26%3D%3F"
#define REDIRECT "http://127.0.0.1:9999/oidc/callback"
#define TENANT "3f1e2d4c-0000-4a6b-9c8d-112233445566"

/* ---- a provider on loopback ------------------------------------------------------------ */

#define MAX_ROUTES 32
#define MAX_CODES 16

struct route {
    char path[160];
    int status;
    char *body;
};

struct code {
    char code[64], challenge[64], *id_token;
    int uses;
};

static struct {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    unsigned port;
    struct route routes[MAX_ROUTES];
    size_t n_routes;
    struct code codes[MAX_CODES];
    size_t n_codes;
    char expected_auth[256];
    int jwks_calls, token_calls;
    char last_form[4096];
} idp = {.mu = PTHREAD_MUTEX_INITIALIZER};

static char base[64];      /* http://127.0.0.1:PORT */
static char good_iss[128]; /* base + "/good" */

static void route_set(const char *path, int status, const char *body)
{
    pthread_mutex_lock(&idp.mu);
    size_t i = 0;
    while (i < idp.n_routes && strcmp(idp.routes[i].path, path) != 0)
        i++;
    if (i == idp.n_routes) {
        assert_true(idp.n_routes < MAX_ROUTES);
        idp.n_routes++;
        snprintf(idp.routes[i].path, sizeof idp.routes[i].path, "%s", path);
    } else {
        free(idp.routes[i].body);
    }
    idp.routes[i].status = status;
    idp.routes[i].body = strdup(body);
    pthread_mutex_unlock(&idp.mu);
}

static void code_add(const char *code, const char *challenge, const char *id_token)
{
    pthread_mutex_lock(&idp.mu);
    struct code *c = &idp.codes[idp.n_codes++];
    snprintf(c->code, sizeof c->code, "%s", code);
    snprintf(c->challenge, sizeof c->challenge, "%s", challenge);
    c->id_token = strdup(id_token);
    c->uses = 0;
    pthread_mutex_unlock(&idp.mu);
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static void s256_of(const char *verifier, char out[44])
{
    uint8_t h[32];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    tn_b64url_encode(out, 44, h, sizeof h);
}

/* The token endpoint: client_secret_basic exactly as expected, the code once, PKCE S256. */
static enum MHD_Result token_endpoint(struct MHD_Connection *c, const char *form, size_t len)
{
    char body[8192];
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    struct tn_form f;
    pthread_mutex_lock(&idp.mu);
    idp.token_calls++;
    snprintf(idp.last_form, sizeof idp.last_form, "%.*s", (int)len, form);
    pthread_mutex_unlock(&idp.mu);
    if (!auth || strcmp(auth, idp.expected_auth) != 0)
        return reply(c, 401, "{\"error\":\"invalid_client\"}");
    if (tn_form_parse(&f, form, len) != TN_OK)
        return reply(c, 400, "{\"error\":\"invalid_request\"}");
    const char *gt = tn_form_get(&f, "grant_type"), *code = tn_form_get(&f, "code");
    const char *ru = tn_form_get(&f, "redirect_uri"), *v = tn_form_get(&f, "code_verifier");
    int status = 400;
    snprintf(body, sizeof body,
             "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}");
    pthread_mutex_lock(&idp.mu);
    for (size_t i = 0; gt && code && ru && v && i < idp.n_codes; i++) {
        struct code *k = &idp.codes[i];
        char ch[44];
        s256_of(v, ch);
        if (strcmp(k->code, code) != 0 || strcmp(gt, "authorization_code") != 0 ||
            strcmp(ru, REDIRECT) != 0 || strcmp(ch, k->challenge) != 0 || k->uses++ > 0)
            continue;
        status = 200;
        if (strcmp(k->id_token, "-") == 0)
            snprintf(body, sizeof body, "{\"access_token\":\"at\",\"token_type\":\"Bearer\"}");
        else
            snprintf(
                body, sizeof body,
                "{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"expires_in\":60,\"id_token\":\"%s\"}",
                k->id_token);
    }
    pthread_mutex_unlock(&idp.mu);
    tn_form_deinit(&f);
    return reply(c, status, body);
}

struct upload {
    char buf[8192];
    size_t len;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    if (!strcmp(method, "POST")) {
        struct upload *u = *con_cls;
        if (!u) {
            *con_cls = calloc(1, sizeof *u);
            return MHD_YES;
        }
        if (*data_size) {
            size_t n = *data_size < sizeof u->buf - u->len ? *data_size : sizeof u->buf - u->len;
            memcpy(u->buf + u->len, data, n);
            u->len += n;
            *data_size = 0;
            return MHD_YES;
        }
        if (strstr(url, "/token"))
            return token_endpoint(c, u->buf, u->len);
        return reply(c, 404, "{}");
    }
    pthread_mutex_lock(&idp.mu);
    if (strstr(url, "/jwks"))
        idp.jwks_calls++;
    char *body = NULL;
    int status = 404;
    for (size_t i = 0; i < idp.n_routes; i++) {
        if (strcmp(idp.routes[i].path, url) == 0) {
            body = strdup(idp.routes[i].body);
            status = idp.routes[i].status;
        }
    }
    pthread_mutex_unlock(&idp.mu);
    enum MHD_Result ok = reply(c, status, body ? body : "{}");
    free(body);
    return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

/* ---- keys and tokens ------------------------------------------------------------------- */

static EVP_PKEY *k_rsa, *k_ec, *k_ed, *k_evil, *k_new;
static char *pub_pem; /* k_rsa's public key as PEM: the HS256 "secret" of the classic attack */
static int64_t now_s;

static char *jwks_of(EVP_PKEY **keys, const char **kids, const char **algs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, tn_jwk_public_json(keys[i], kids[i], algs[i]));
    json_t *doc = json_pack("{s:o}", "keys", arr);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static char *b64(const char *s, size_t n)
{
    char *out = malloc(tn_b64url_encoded_len(n) + 1);
    tn_b64url_encode(out, tn_b64url_encoded_len(n) + 1, s, n);
    return out;
}

enum signer { RS, ES, EVIL_RS, NEW_RS, ED, PS, NONE, HS_PUB };

/* header and payload as given, signed as `how` says */
static char *mint_raw(const char *header, const char *payload, enum signer how)
{
    char *out = NULL;
    size_t hl = strlen(header), pl = strlen(payload);
    switch (how) {
    case RS:
        assert_int_equal(tn_jws_sign_compact(k_rsa, "RS256", header, hl, payload, pl, &out), TN_OK);
        break;
    case ES:
        assert_int_equal(tn_jws_sign_compact(k_ec, "ES256", header, hl, payload, pl, &out), TN_OK);
        break;
    case EVIL_RS:
        assert_int_equal(tn_jws_sign_compact(k_evil, "RS256", header, hl, payload, pl, &out),
                         TN_OK);
        break;
    case NEW_RS:
        assert_int_equal(tn_jws_sign_compact(k_new, "RS256", header, hl, payload, pl, &out), TN_OK);
        break;
    case ED:
        assert_int_equal(tn_jws_sign_compact(k_ed, "EdDSA", header, hl, payload, pl, &out), TN_OK);
        break;
    case PS:
        assert_int_equal(tn_jws_sign_compact(k_rsa, "PS256", header, hl, payload, pl, &out), TN_OK);
        break;
    case NONE:
    case HS_PUB: {
        char *h = b64(header, hl), *p = b64(payload, pl);
        size_t n = strlen(h) + strlen(p) + 64;
        out = malloc(n);
        int w = snprintf(out, n, "%s.%s.", h, p);
        if (how == HS_PUB) {
            uint8_t mac[32];
            tn_hmac_sha256(mac, (const uint8_t *)pub_pem, strlen(pub_pem), out, (size_t)w - 1);
            char *m = b64((const char *)mac, 32);
            snprintf(out + w, n - (size_t)w, "%s", m);
            free(m);
        }
        free(h);
        free(p);
        break;
    }
    }
    return out;
}

/* The claims of a good ID token for `iss`, changed by `patch` (a JSON object merged in;
 * "%s" in it becomes the issuer) and without the members listed in `del`. */
static char *claims_text(const char *iss, const char *nonce, const char *patch, const char *del)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:b, s:s, s:[s,s]}", "iss", iss,
                          "sub", "user-123", "aud", CLIENT_ID, "exp", (json_int_t)(now_s + 300),
                          "iat", (json_int_t)now_s, "nonce", nonce, "email", "ada@example.com",
                          "email_verified", 1, "name", "Ada", "groups", "staff", "admins");
    if (patch) {
        size_t pn = strlen(patch) + strlen(iss) + 1;
        char *p = malloc(pn);
        snprintf(p, pn, patch, iss);
        /* relative times: "exp" and "iat" in the patch are offsets from now */
        json_t *pj = json_loads(p, 0, NULL);
        free(p);
        assert_non_null(pj);
        const char *t[] = {"exp", "iat"};
        for (int i = 0; i < 2; i++) {
            json_t *v = json_object_get(pj, t[i]);
            if (json_is_integer(v))
                json_object_set_new(pj, t[i], json_integer(now_s + json_integer_value(v)));
        }
        json_object_update(c, pj);
        json_decref(pj);
    }
    for (const char *d = del; d && *d;) {
        size_t n = strcspn(d, ",");
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)n, d);
        json_object_del(c, name);
        d += n + (d[n] == ',');
    }
    char *s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    return s;
}

static char *mint(const char *iss, const char *nonce, const char *header, enum signer how,
                  const char *patch, const char *del)
{
    char *payload = claims_text(iss, nonce, patch, del);
    char *t = mint_raw(header ? header : "{\"alg\":\"RS256\",\"kid\":\"k1\"}", payload, how);
    free(payload);
    return t;
}

/* ---- fixtures -------------------------------------------------------------------------- */

static char *disc_doc(const char *iss, const char *prefix, const char *extra)
{
    char *s = malloc(4096);
    snprintf(
        s, 4096,
        "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/auth\",\"token_endpoint\":\"%s/token\","
        "\"jwks_uri\":\"%s/jwks\",\"response_types_supported\":[\"code\"],"
        "\"code_challenge_methods_supported\":[\"S256\"]%s}",
        iss, prefix, prefix, prefix, extra ? extra : "");
    return s;
}

static void serve_provider(const char *name, const char *iss, const char *extra)
{
    char prefix[160], path[200];
    snprintf(prefix, sizeof prefix, "%s/%s", base, name);
    char *d = disc_doc(iss, prefix, extra);
    snprintf(path, sizeof path, "/%s/.well-known/openid-configuration", name);
    route_set(path, 200, d);
    free(d);
}

static void serve_jwks(const char *name, const char *jwks)
{
    char path[200];
    snprintf(path, sizeof path, "/%s/jwks", name);
    route_set(path, 200, jwks);
}

static struct tn_oidc_config cfg_for(const char *iss)
{
    return (struct tn_oidc_config){
        .issuer = iss,
        .client_id = CLIENT_ID,
        .client_secret = CLIENT_SECRET,
        .redirect_uri = REDIRECT,
        .groups_claim = "groups",
        .allow_loopback = true,
        .timeout_ms = 3000,
        .leeway_s = 60,
    };
}

static struct tn_oidc_provider *good;

static int setup(void **state)
{
    tn_util_init();
    tn_fetch_global_init();
    now_s = tn_time_now_ms() / 1000;
    k_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    k_evil = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    k_new = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    k_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k_ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k_rsa);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    pub_pem = strndup(p, (size_t)n);
    BIO_free(b);

    idp.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                             handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (!idp.d)
        return 1;
    idp.port = MHD_get_daemon_info(idp.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(base, sizeof base, "http://127.0.0.1:%u", idp.port);
    snprintf(good_iss, sizeof good_iss, "%s/good", base);
    char plain[] = BASIC_PLAIN, enc[128];
    sodium_bin2base64(enc, sizeof enc, (const unsigned char *)plain, strlen(plain),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(idp.expected_auth, sizeof idp.expected_auth, "Basic %s", enc);

    serve_provider("good", good_iss, ",\"authorization_response_iss_parameter_supported\":true");
    EVP_PKEY *ks[] = {k_rsa, k_ec, k_ed, k_rsa};
    const char *kids[] = {"k1", "k2", "ed", "k1"};
    const char *algs[] = {"RS256", "ES256", "EdDSA", "RS256"};
    char *j = jwks_of(ks, kids, algs, 3);
    serve_jwks("good", j);
    free(j);
    struct tn_oidc_config c = cfg_for(good_iss);
    enum tn_oidc_reason why;
    if (tn_oidc_provider_new(&c, &good, &why) != TN_OK) {
        fprintf(stderr, "provider: %s\n", tn_oidc_reason_name(why));
        return 1;
    }
    return 0;
}

static int teardown(void **state)
{
    tn_oidc_provider_free(good);
    MHD_stop_daemon(idp.d);
    for (size_t i = 0; i < idp.n_routes; i++)
        free(idp.routes[i].body);
    for (size_t i = 0; i < idp.n_codes; i++)
        free(idp.codes[i].id_token);
    EVP_PKEY_free(k_rsa);
    EVP_PKEY_free(k_evil);
    EVP_PKEY_free(k_new);
    EVP_PKEY_free(k_ec);
    EVP_PKEY_free(k_ed);
    free(pub_pem);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_reasons(void **state)
{
    for (int i = 0; i < TN_OIDC__COUNT; i++) {
        assert_non_null(tn_oidc_reason_text((enum tn_oidc_reason)i));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(tn_oidc_reason_text((enum tn_oidc_reason)i),
                                    tn_oidc_reason_text((enum tn_oidc_reason)j));
    }
    assert_string_equal(tn_oidc_reason_name(TN_OIDC_STATE_MISMATCH), "TN_OIDC_STATE_MISMATCH");
    assert_string_equal(tn_oidc_reason_name((enum tn_oidc_reason)999), "TN_OIDC_INTERNAL");
}

static void test_url_rule(void **state)
{
    struct {
        const char *url;
        bool loopback, ok;
    } cases[] = {
        {"https://idp.example.com/authorize", false, true},
        {"https://idp.example.com:8443/a?x=1", false, true},
        {"https://[2001:db8::1]/a", false, true},
        {"http://idp.example.com/authorize", true, false}, /* http beyond loopback */
        {"http://127.0.0.1:9400/auth", false, false},      /* loopback not allowed */
        {"http://127.0.0.1:9400/auth", true, true},
        {"http://[::1]:9400/auth", true, true},
        {"http://localhost/auth", true, true},
        {"https://user@idp.example.com/a", false, false}, /* userinfo */
        {"https://idp.example.com/a#frag", false, false},
        {"https://idp.example.com\\@evil.example/a", false, false},
        {"https://idp.example.com/a b", false, false},
        {"https://idp.example.com/a\tb", false, false},
        {"https://idp.example.com:0/a", false, false},
        {"https://idp.example.com:65536/a", false, false},
        {"https://idp.example.com:/a", false, false},
        {"https://idp.example.com:12a/a", false, false},
        {"https:///a", false, false},
        {"https://[::1/a", false, false},
        {"ftp://idp.example.com/", false, false},
        {"HTTPS://idp.example.com/", false, false},
        {"https://idp.ex\xc3\xa4mple.com/", false, false},
        {"", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (tn_oidc_url_ok(cases[i].url, cases[i].loopback) != cases[i].ok) {
            print_error("case %zu (%s)\n", i, cases[i].url);
            fail();
        }
    }
    char *long_url = malloc(TN_OIDC_URL_MAX + 2);
    memcpy(long_url, "https://a.example/", 18);
    memset(long_url + 18, 'a', TN_OIDC_URL_MAX + 1 - 18);
    long_url[TN_OIDC_URL_MAX + 1] = '\0';
    assert_false(tn_oidc_url_ok(long_url, false));
    long_url[TN_OIDC_URL_MAX] = '\0';
    assert_true(tn_oidc_url_ok(long_url, false));
    free(long_url);
}

#define ISS "https://idp.example.com"
#define EPS                                                                 \
    "\"authorization_endpoint\":\"" ISS "/auth\",\"token_endpoint\":\"" ISS \
    "/token\",\"jwks_uri\":\"" ISS "/jwks\""
#define RT "\"response_types_supported\":[\"code\",\"id_token\"]"

static void test_discovery_documents(void **state)
{
    struct {
        const char *conf, *doc;
        enum tn_oidc_reason why;
    } cases[] = {
        {ISS, "{\"issuer\":\"" ISS "\"," EPS "," RT "}", TN_OIDC_OK},
        {ISS,
         "{\"issuer\":\"" ISS "\"," EPS "," RT
         ",\"code_challenge_methods_supported\":[\"plain\",\"S256\"]}",
         TN_OIDC_OK},
        {ISS "/", "{\"issuer\":\"" ISS "/\"," EPS "," RT "}", TN_OIDC_OK},
        /* issuer mismatches: trailing slash both ways, case, scheme, port, path */
        {ISS, "{\"issuer\":\"" ISS "/\"," EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        {ISS "/", "{\"issuer\":\"" ISS "\"," EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{\"issuer\":\"https://IDP.example.com\"," EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{\"issuer\":\"http://idp.example.com\"," EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{\"issuer\":\"https://idp.example.com:443\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{\"issuer\":\"https://idp.example.com/other\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{\"issuer\":\"https://evil.example\"," EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{" EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        {ISS, "{\"issuer\":42," EPS "," RT "}", TN_OIDC_ISSUER_MISMATCH},
        /* endpoints */
        {ISS,
         "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS "/j\"," RT
         "}",
         TN_OIDC_ENDPOINT_MISSING},
        {ISS,
         "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/a\",\"jwks_uri\":\"" ISS
         "/j\"," RT "}",
         TN_OIDC_ENDPOINT_MISSING},
        {ISS,
         "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
         "/a\",\"token_endpoint\":\"" ISS "/t\"," RT "}",
         TN_OIDC_ENDPOINT_MISSING},
        {ISS,
         "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"\",\"token_endpoint\":\"" ISS
         "/t\",\"jwks_uri\":\"" ISS "/j\"," RT "}",
         TN_OIDC_ENDPOINT_MISSING},
        {ISS,
         "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":[\"" ISS
         "/a\"],\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS "/j\"," RT "}",
         TN_OIDC_ENDPOINT_MISSING},
        {ISS,
         "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
         "/a\",\"token_endpoint\":\"http://idp.example.com/t\",\"jwks_uri\":\"" ISS "/j\"," RT "}",
         TN_OIDC_ENDPOINT_INSECURE},
        {ISS,
         "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
         "/a\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"http://127.0.0.1/j\"," RT "}",
         TN_OIDC_ENDPOINT_INSECURE},
        {ISS,
         "{\"issuer\":\"" ISS
         "\",\"authorization_endpoint\":\"https://x@evil.example/a\",\"token_endpoint\":\"" ISS
         "/t\",\"jwks_uri\":\"" ISS "/j\"," RT "}",
         TN_OIDC_ENDPOINT_INSECURE},
        {ISS,
         "{\"issuer\":\"" ISS
         "\",\"authorization_endpoint\":\"javascript:alert(1)\",\"token_endpoint\":\"" ISS
         "/t\",\"jwks_uri\":\"" ISS "/j\"," RT "}",
         TN_OIDC_ENDPOINT_INSECURE},
        /* flows */
        {ISS, "{\"issuer\":\"" ISS "\"," EPS "}", TN_OIDC_CODE_FLOW_UNSUPPORTED},
        {ISS,
         "{\"issuer\":\"" ISS "\"," EPS
         ",\"response_types_supported\":[\"id_token\",\"code id_token\"]}",
         TN_OIDC_CODE_FLOW_UNSUPPORTED},
        {ISS, "{\"issuer\":\"" ISS "\"," EPS ",\"response_types_supported\":\"code\"}",
         TN_OIDC_CODE_FLOW_UNSUPPORTED},
        {ISS,
         "{\"issuer\":\"" ISS "\"," EPS "," RT ",\"code_challenge_methods_supported\":[\"plain\"]}",
         TN_OIDC_PKCE_UNSUPPORTED},
        {ISS,
         "{\"issuer\":\"" ISS "\"," EPS "," RT ",\"code_challenge_methods_supported\":\"S256\"}",
         TN_OIDC_PKCE_UNSUPPORTED},
        {ISS, "{\"issuer\":\"" ISS "\"," EPS "," RT ",\"code_challenge_methods_supported\":[]}",
         TN_OIDC_PKCE_UNSUPPORTED},
        /* not a JSON object */
        {ISS, "<html>not json</html>", TN_OIDC_DISCOVERY_MALFORMED},
        {ISS, "[\"" ISS "\"]", TN_OIDC_DISCOVERY_MALFORMED},
        {ISS, "", TN_OIDC_DISCOVERY_MALFORMED},
        {ISS, "{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\"," EPS "," RT "}",
         TN_OIDC_DISCOVERY_MALFORMED},
        {ISS, "{\"issuer\":\"" ISS "\"," EPS "," RT "} trailing", TN_OIDC_DISCOVERY_MALFORMED},
        /* Entra: /common and friends publish a {tenantid} template */
        {"https://login.example.com/common/v2.0",
         "{\"issuer\":\"https://login.example.com/{tenantid}/v2.0\"," EPS "," RT "}", TN_OIDC_OK},
        {"https://login.example.com/organizations/v2.0",
         "{\"issuer\":\"https://login.example.com/{tenantid}/v2.0\"," EPS "," RT "}", TN_OIDC_OK},
        {"https://login.example.com/someone/v2.0",
         "{\"issuer\":\"https://login.example.com/{tenantid}/v2.0\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        {"https://login.example.com/common/v2.0",
         "{\"issuer\":\"https://{tenantid}.example.com/common/v2.0\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        {"https://login.example.com/common/v2.0",
         "{\"issuer\":\"https://login.example.com/{tenantid}/v2.0/{tenantid}\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        {"https://login.example.com/common/v2.0",
         "{\"issuer\":\"https://login.example.com/x{tenantid}/v2.0\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        {"https://login.example.com/common/v2.0",
         "{\"issuer\":\"https://login.example.com/{tenantid}/v2\"," EPS "," RT "}",
         TN_OIDC_ISSUER_MISMATCH},
        /* a configured issuer that is not one */
        {"http://idp.example.com", "{\"issuer\":\"http://idp.example.com\"," EPS "," RT "}",
         TN_OIDC_BAD_CONFIG},
        {ISS "?x=1", "{\"issuer\":\"" ISS "?x=1\"," EPS "," RT "}", TN_OIDC_BAD_CONFIG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_oidc_discovery d;
        enum tn_oidc_reason why = TN_OIDC__COUNT;
        enum tn_err rc = tn_oidc_discovery_parse(cases[i].conf, cases[i].doc, strlen(cases[i].doc),
                                                 false, &d, &why);
        if (why != cases[i].why || (rc == TN_OK) != (cases[i].why == TN_OIDC_OK)) {
            print_error("case %zu: %s (%s)\n", i, tn_oidc_reason_name(why), tn_err_name(rc));
            fail();
        }
        if (rc == TN_OK) {
            assert_string_equal(d.token_endpoint, ISS "/token");
            assert_int_equal(d.tenant_template, strstr(cases[i].doc, "{tenantid}") != NULL);
        } else {
            assert_null(d.issuer);
            assert_null(d.jwks_uri);
        }
        tn_oidc_discovery_deinit(&d);
    }
    /* a huge document is refused before it is parsed */
    size_t big = TN_OIDC_DISCOVERY_MAX_BYTES + 1;
    char *doc = malloc(big + 1);
    memset(doc, ' ', big);
    doc[0] = '{';
    doc[big - 1] = '}';
    doc[big] = '\0';
    struct tn_oidc_discovery d;
    enum tn_oidc_reason why;
    assert_int_equal(tn_oidc_discovery_parse(ISS, doc, big, false, &d, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_DISCOVERY_TOO_LARGE);
    free(doc);
    /* loopback http endpoints only when allowed */
    const char *lo =
        "{\"issuer\":\"http://127.0.0.1:9\",\"authorization_endpoint\":\"http://127.0.0.1:9/a\","
        "\"token_endpoint\":\"http://127.0.0.1:9/t\",\"jwks_uri\":\"http://[::1]:9/j\"," RT "}";
    assert_int_equal(tn_oidc_discovery_parse("http://127.0.0.1:9", lo, strlen(lo), true, &d, &why),
                     TN_OK);
    tn_oidc_discovery_deinit(&d);
    assert_int_equal(tn_oidc_discovery_parse("http://127.0.0.1:9", lo, strlen(lo), false, &d, &why),
                     TN_ERR_CONFIG);
    assert_int_equal(why, TN_OIDC_BAD_CONFIG);
}

/* The same hostile documents arriving over the network, and what a provider makes of them. */
static void test_discovery_fetched(void **state)
{
    char iss[160], path[200];
    struct {
        const char *name, *doc_iss_suffix;
        int status;
        const char *raw;
        enum tn_err rc;
        enum tn_oidc_reason why;
    } cases[] = {
        {"slash", "/slash/", 200, NULL, TN_ERR_BAD_INPUT, TN_OIDC_ISSUER_MISMATCH},
        {"Case", "/case", 200, NULL, TN_ERR_BAD_INPUT, TN_OIDC_ISSUER_MISMATCH},
        {"nojson", NULL, 200, "<!doctype html><p>Sign in</p>", TN_ERR_BAD_INPUT,
         TN_OIDC_DISCOVERY_MALFORMED},
        {"gone", NULL, 404, "{\"error\":\"not found\"}", TN_ERR_IO, TN_OIDC_DISCOVERY_STATUS},
        {"nokeys", "/nokeys", 200, NULL, TN_ERR_IO, TN_OIDC_JWKS_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(iss, sizeof iss, "%s/%s", base, cases[i].name);
        if (cases[i].raw) {
            snprintf(path, sizeof path, "/%s/.well-known/openid-configuration", cases[i].name);
            route_set(path, cases[i].status, cases[i].raw);
        } else {
            char doc_iss[200];
            snprintf(doc_iss, sizeof doc_iss, "%s%s", base, cases[i].doc_iss_suffix);
            serve_provider(cases[i].name, doc_iss, NULL);
        }
        struct tn_oidc_config c = cfg_for(iss);
        struct tn_oidc_provider *p = (void *)1;
        enum tn_oidc_reason why;
        enum tn_err rc = tn_oidc_provider_new(&c, &p, &why);
        if (rc != cases[i].rc || why != cases[i].why || p) {
            print_error("case %s: %s %s\n", cases[i].name, tn_err_name(rc),
                        tn_oidc_reason_name(why));
            fail();
        }
    }
    /* larger than the cap: the transfer stops at TN_OIDC_DISCOVERY_MAX_BYTES */
    size_t big = 4 * TN_OIDC_DISCOVERY_MAX_BYTES;
    char *doc = malloc(big + 1);
    snprintf(iss, sizeof iss, "%s/huge", base);
    int w = snprintf(doc, big, "{\"issuer\":\"%s\",\"pad\":\"", iss);
    memset(doc + w, 'a', big - (size_t)w - 2);
    memcpy(doc + big - 2, "\"}", 3);
    route_set("/huge/.well-known/openid-configuration", 200, doc);
    free(doc);
    struct tn_oidc_config c = cfg_for(iss);
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why;
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_DISCOVERY_TOO_LARGE);
    /* nobody listening */
    c.issuer = "http://127.0.0.1:1/none";
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_ERR_IO);
    assert_int_equal(why, TN_OIDC_DISCOVERY_UNREACHABLE);
    /* plain http to loopback needs allow_loopback; configuration problems are named */
    c = cfg_for(good_iss);
    c.allow_loopback = false;
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_ERR_CONFIG);
    assert_int_equal(why, TN_OIDC_BAD_CONFIG);
    struct tn_oidc_config bad[6];
    for (int i = 0; i < 6; i++)
        bad[i] = cfg_for(good_iss);
    bad[0].client_id = "";
    bad[1].scopes = "email profile"; /* no openid */
    bad[2].redirect_uri = "http://notes.example.com/cb";
    bad[3].redirect_uri = NULL;
    bad[4].leeway_s = 3600;
    bad[5].client_secret = "line\nbreak";
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tn_oidc_provider_new(&bad[i], &p, &why), TN_ERR_CONFIG);
        assert_int_equal(why, TN_OIDC_BAD_CONFIG);
        assert_null(p);
    }
}

static const char *query_param(const char *url, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *q = strchr(url, '?');
    for (const char *s = q; s && *s;) {
        s++;
        if (strncmp(s, name, nl) == 0 && s[nl] == '=') {
            size_t n = strcspn(s + nl + 1, "&");
            snprintf(out, cap, "%.*s", (int)n, s + nl + 1);
            return out;
        }
        s = strchr(s, '&');
    }
    return NULL;
}

static void test_begin(void **state)
{
    struct tn_oidc_start a, b;
    assert_int_equal(tn_oidc_begin(good, "ada+x@example.com", &a), TN_OK);
    assert_int_equal(tn_oidc_begin(good, NULL, &b), TN_OK);
    char want[512], v[256];
    snprintf(
        want, sizeof want,
        "%s/good/auth?response_type=code&client_id=rp%%3Aclient&redirect_uri="
        "http%%3A%%2F%%2F127.0.0.1%%3A9999%%2Foidc%%2Fcallback&scope=openid%%20email%%20profile&state=",
        base);
    assert_memory_equal(a.url, want, strlen(want));
    const char *secrets[] = {a.state, a.nonce, a.code_verifier, b.state, b.nonce, b.code_verifier};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(strlen(secrets[i]), TN_OIDC_SECRET_LEN);
        assert_int_equal(
            strspn(secrets[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            TN_OIDC_SECRET_LEN);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(secrets[i], secrets[j]);
    }
    assert_string_equal(query_param(a.url, "state", v, sizeof v), a.state);
    assert_string_equal(query_param(a.url, "nonce", v, sizeof v), a.nonce);
    char ch[44];
    s256_of(a.code_verifier, ch);
    assert_string_equal(query_param(a.url, "code_challenge", v, sizeof v), ch);
    assert_string_equal(query_param(a.url, "code_challenge_method", v, sizeof v), "S256");
    assert_string_equal(query_param(a.url, "login_hint", v, sizeof v), "ada%2Bx%40example.com");
    assert_null(query_param(b.url, "login_hint", v, sizeof v));
    assert_null(strstr(a.url, a.code_verifier)); /* the verifier stays with us */
    tn_oidc_start_deinit(&a);
    tn_oidc_start_deinit(&b);
    char hint[300];
    memset(hint, 'h', sizeof hint - 1);
    hint[sizeof hint - 1] = '\0';
    assert_int_equal(tn_oidc_begin(good, hint, &a), TN_ERR_BAD_INPUT);
    assert_null(a.url);
    assert_string_equal(a.state, "");
}

/* The forged and broken ID tokens. */
static void test_id_tokens(void **state)
{
    static const char *const nonce = "n-0S6_WzA2Mj";
    static const char *const hk1 = "{\"alg\":\"RS256\",\"kid\":\"k1\"}";
    struct {
        const char *name, *header;
        enum signer how;
        const char *patch, *del;
        enum tn_oidc_reason why;
        int verified;
    } cases[] = {
        {"good RS256", NULL, RS, NULL, NULL, TN_OIDC_OK, 1},
        {"good ES256", "{\"alg\":\"ES256\",\"kid\":\"k2\",\"typ\":\"JWT\"}", ES, NULL, NULL,
         TN_OIDC_OK, 1},
        {"no kid, one RS256 key", "{\"alg\":\"RS256\"}", RS, NULL, NULL, TN_OIDC_OK, 1},
        {"wrong signature", NULL, EVIL_RS, NULL, NULL, TN_OIDC_ID_TOKEN_BAD_SIGNATURE, -1},
        {"alg none", "{\"alg\":\"none\",\"kid\":\"k1\"}", NONE, NULL, NULL,
         TN_OIDC_ID_TOKEN_ALG_NONE, -1},
        {"alg NoNe", "{\"alg\":\"NoNe\"}", NONE, NULL, NULL, TN_OIDC_ID_TOKEN_ALG_NONE, -1},
        {"HS256 keyed with the public key", "{\"alg\":\"HS256\",\"kid\":\"k1\"}", HS_PUB, NULL,
         NULL, TN_OIDC_ID_TOKEN_ALG_NOT_ALLOWED, -1},
        {"HS256 without kid", "{\"alg\":\"HS256\"}", HS_PUB, NULL, NULL,
         TN_OIDC_ID_TOKEN_ALG_NOT_ALLOWED, -1},
        {"EdDSA: a good key, not on the list", "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", ED, NULL, NULL,
         TN_OIDC_ID_TOKEN_ALG_NOT_ALLOWED, -1},
        {"PS256 on the RS256 key", "{\"alg\":\"PS256\",\"kid\":\"k1\"}", PS, NULL, NULL,
         TN_OIDC_ID_TOKEN_ALG_MISMATCH, -1},
        {"kid unknown", "{\"alg\":\"RS256\",\"kid\":\"evil\"}", EVIL_RS, NULL, NULL,
         TN_OIDC_ID_TOKEN_KEY_UNKNOWN, -1},
        {"embedded jwk", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jwk\":{}}", RS, NULL, NULL,
         TN_OIDC_ID_TOKEN_EMBEDDED_KEY, -1},
        {"jku", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"https://evil.example/k\"}", RS, NULL,
         NULL, TN_OIDC_ID_TOKEN_EMBEDDED_KEY, -1},
        {"access token typ", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}", RS, NULL,
         NULL, TN_OIDC_ID_TOKEN_BAD_TYP, -1},
        {"crit", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"x\"],\"x\":1}", RS, NULL, NULL,
         TN_OIDC_ID_TOKEN_CRIT, -1},
        {"wrong iss", NULL, RS, "{\"iss\":\"https://evil.example\"}", NULL,
         TN_OIDC_ID_TOKEN_BAD_ISSUER, -1},
        {"iss trailing slash", NULL, RS, "{\"iss\":\"%s/\"}", NULL, TN_OIDC_ID_TOKEN_BAD_ISSUER,
         -1},
        {"iss upper case", NULL, RS, "{\"iss\":\"HTTP://127.0.0.1\"}", NULL,
         TN_OIDC_ID_TOKEN_BAD_ISSUER, -1},
        {"iss missing", NULL, RS, NULL, "iss", TN_OIDC_ID_TOKEN_BAD_ISSUER, -1},
        {"aud other", NULL, RS, "{\"aud\":\"other-client\"}", NULL, TN_OIDC_ID_TOKEN_BAD_AUDIENCE,
         -1},
        {"aud missing the client", NULL, RS, "{\"aud\":[\"a\",\"b\"],\"azp\":\"" CLIENT_ID "\"}",
         NULL, TN_OIDC_ID_TOKEN_BAD_AUDIENCE, -1},
        {"aud missing", NULL, RS, NULL, "aud", TN_OIDC_ID_TOKEN_BAD_AUDIENCE, -1},
        {"one aud in an array, no azp", NULL, RS, "{\"aud\":[\"" CLIENT_ID "\"]}", NULL, TN_OIDC_OK,
         1},
        {"several aud without azp", NULL, RS, "{\"aud\":[\"" CLIENT_ID "\",\"other\"]}", NULL,
         TN_OIDC_ID_TOKEN_AZP_MISSING, -1},
        {"several aud, azp us", NULL, RS,
         "{\"aud\":[\"" CLIENT_ID "\",\"other\"],\"azp\":\"" CLIENT_ID "\"}", NULL, TN_OIDC_OK, 1},
        {"azp other", NULL, RS, "{\"azp\":\"other\"}", NULL, TN_OIDC_ID_TOKEN_AZP_MISMATCH, -1},
        {"azp other, several aud", NULL, RS,
         "{\"aud\":[\"" CLIENT_ID "\",\"other\"],\"azp\":\"other\"}", NULL,
         TN_OIDC_ID_TOKEN_AZP_MISMATCH, -1},
        {"azp not a string", NULL, RS, "{\"azp\":[\"" CLIENT_ID "\"]}", NULL,
         TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE, -1},
        {"expired", NULL, RS, "{\"exp\":-61}", NULL, TN_OIDC_ID_TOKEN_EXPIRED, -1},
        {"expired within leeway", NULL, RS, "{\"exp\":-30}", NULL, TN_OIDC_OK, 1},
        {"no exp", NULL, RS, NULL, "exp", TN_OIDC_ID_TOKEN_NO_EXPIRY, -1},
        {"iat in the future", NULL, RS, "{\"iat\":120}", NULL, TN_OIDC_ID_TOKEN_NOT_YET_VALID, -1},
        {"iat a little ahead", NULL, RS, "{\"iat\":30}", NULL, TN_OIDC_OK, 1},
        {"no iat", NULL, RS, NULL, "iat", TN_OIDC_ID_TOKEN_NO_IAT, -1},
        {"nonce wrong", NULL, RS, "{\"nonce\":\"n-0S6_WzA2MJ\"}", NULL,
         TN_OIDC_ID_TOKEN_NONCE_MISMATCH, -1},
        {"nonce a prefix", NULL, RS, "{\"nonce\":\"n-0S6_WzA2M\"}", NULL,
         TN_OIDC_ID_TOKEN_NONCE_MISMATCH, -1},
        {"nonce missing", NULL, RS, NULL, "nonce", TN_OIDC_ID_TOKEN_NONCE_MISSING, -1},
        {"nonce not a string", NULL, RS, "{\"nonce\":1}", NULL, TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE,
         -1},
        {"email_verified string true", NULL, RS, "{\"email_verified\":\"true\"}", NULL, TN_OIDC_OK,
         0},
        {"email_verified 1", NULL, RS, "{\"email_verified\":1}", NULL, TN_OIDC_OK, 0},
        {"email_verified false", NULL, RS, "{\"email_verified\":false}", NULL, TN_OIDC_OK, 0},
        {"email_verified missing", NULL, RS, NULL, "email_verified", TN_OIDC_OK, 0},
        {"email not a string", NULL, RS, "{\"email\":[\"ada@example.com\"]}", NULL,
         TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE, -1},
        {"sub missing", NULL, RS, NULL, "sub", TN_OIDC_ID_TOKEN_NO_SUBJECT, -1},
        {"sub empty", NULL, RS, "{\"sub\":\"\"}", NULL, TN_OIDC_ID_TOKEN_NO_SUBJECT, -1},
        {"sub a number", NULL, RS, "{\"sub\":123}", NULL, TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE, -1},
        {"groups not an array", NULL, RS, "{\"groups\":\"staff\"}", NULL,
         TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE, -1},
        {"groups with a number", NULL, RS, "{\"groups\":[\"staff\",7]}", NULL,
         TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE, -1},
        {"name not a string: ignored", NULL, RS, "{\"name\":{\"first\":\"Ada\"}}", NULL, TN_OIDC_OK,
         1},
    };
    (void)hk1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t =
            mint(good_iss, nonce, cases[i].header, cases[i].how, cases[i].patch, cases[i].del);
        struct tn_oidc_identity id;
        enum tn_oidc_reason why = TN_OIDC__COUNT;
        enum tn_err rc = tn_oidc_id_token_verify(good, t, strlen(t), nonce, now_s, &id, &why);
        if (why != cases[i].why || (rc == TN_OK) != (why == TN_OIDC_OK) ||
            (rc != TN_OK && rc != TN_ERR_BAD_INPUT)) {
            print_error("case '%s': %s (%s)\n", cases[i].name, tn_oidc_reason_name(why),
                        tn_err_name(rc));
            fail();
        }
        if (rc == TN_OK) {
            assert_string_equal(id.iss, good_iss);
            assert_string_equal(id.sub, "user-123");
            assert_int_equal(id.email_verified, cases[i].verified == 1);
            if (strstr(cases[i].name, "name not"))
                assert_null(id.name);
        } else {
            assert_null(id.sub);
        }
        tn_oidc_identity_deinit(&id);
        free(t);
    }
    /* malformed shapes and sizes */
    struct {
        const char *t;
        enum tn_oidc_reason why;
    } raw[] = {
        {"", TN_OIDC_ID_TOKEN_MALFORMED},
        {"abc", TN_OIDC_ID_TOKEN_MALFORMED},
        {"e30.e30", TN_OIDC_ID_TOKEN_MALFORMED},
        {"!!!.e30.", TN_OIDC_ID_TOKEN_MALFORMED},
        {"eyJhbGciOiJSUzI1NiJ9.!!!.AAAA", TN_OIDC_ID_TOKEN_MALFORMED},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        struct tn_oidc_identity id;
        enum tn_oidc_reason why;
        assert_int_equal(
            tn_oidc_id_token_verify(good, raw[i].t, strlen(raw[i].t), nonce, now_s, &id, &why),
            TN_ERR_BAD_INPUT);
        if (why != raw[i].why) {
            print_error("raw %zu: %s\n", i, tn_oidc_reason_name(why));
            fail();
        }
    }
    char *huge = malloc(TN_OIDC_ID_TOKEN_MAX_LEN + 2);
    memset(huge, 'a', TN_OIDC_ID_TOKEN_MAX_LEN + 1);
    huge[TN_OIDC_ID_TOKEN_MAX_LEN + 1] = '\0';
    struct tn_oidc_identity id;
    enum tn_oidc_reason why;
    assert_int_equal(tn_oidc_id_token_verify(good, huge, strlen(huge), nonce, now_s, &id, &why),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_ID_TOKEN_TOO_LARGE);
    free(huge);
    /* too many groups */
    json_t *g = json_array();
    for (int i = 0; i < (int)TN_OIDC_MAX_GROUPS + 1; i++)
        json_array_append_new(g, json_sprintf("g%d", i));
    json_t *pj = json_pack("{s:o}", "groups", g);
    char *patch = json_dumps(pj, JSON_COMPACT);
    json_decref(pj);
    char *t = mint(good_iss, nonce, NULL, RS, patch, NULL);
    assert_int_equal(tn_oidc_id_token_verify(good, t, strlen(t), nonce, now_s, &id, &why),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_ID_TOKEN_TOO_MANY_GROUPS);
    free(t);
    free(patch);
    /* the identity of a good token, every field */
    t = mint(good_iss, nonce, NULL, RS, NULL, NULL);
    assert_int_equal(tn_oidc_id_token_verify(good, t, strlen(t), nonce, now_s, &id, &why), TN_OK);
    assert_string_equal(id.iss, good_iss);
    assert_string_equal(id.sub, "user-123");
    assert_string_equal(id.email, "ada@example.com");
    assert_true(id.email_verified);
    assert_string_equal(id.name, "Ada");
    assert_int_equal(id.n_groups, 2);
    assert_string_equal(id.groups[0], "staff");
    assert_string_equal(id.groups[1], "admins");
    tn_oidc_identity_deinit(&id);
    /* the same token, another sign-in's nonce */
    assert_int_equal(tn_oidc_id_token_verify(good, t, strlen(t), "another-nonce", now_s, &id, &why),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_ID_TOKEN_NONCE_MISMATCH);
    free(t);
}

/* A whole sign-in through the token endpoint. */
struct flow {
    struct tn_oidc_start st;
    char challenge[64], query[1024];
};

static void flow_begin(struct flow *f, const char *code, const char *id_token_patch,
                       const char *del)
{
    char v[256];
    assert_int_equal(tn_oidc_begin(good, NULL, &f->st), TN_OK);
    snprintf(f->challenge, sizeof f->challenge, "%s",
             query_param(f->st.url, "code_challenge", v, sizeof v));
    char *t = id_token_patch && !strcmp(id_token_patch, "-")
                  ? strdup("-")
                  : mint(good_iss, f->st.nonce, NULL, RS, id_token_patch, del);
    code_add(code, f->challenge, t);
    free(t);
    char enc_iss[256];
    struct tn_buf b;
    tn_buf_init(&b, sizeof enc_iss);
    tn_url_encode(&b, good_iss);
    snprintf(enc_iss, sizeof enc_iss, "%s", b.data);
    tn_buf_deinit(&b);
    snprintf(f->query, sizeof f->query, "code=%s&state=%s&iss=%s", code, f->st.state, enc_iss);
}

static enum tn_err flow_finish(struct flow *f, const char *query, struct tn_oidc_identity *id,
                               enum tn_oidc_reason *why, struct tn_buf *detail)
{
    struct tn_oidc_pending pend = {f->st.state, f->st.nonce, f->st.code_verifier};
    return tn_oidc_finish(good, query, strlen(query), &pend, id, why, detail);
}

static void test_finish(void **state)
{
    struct flow f;
    struct tn_oidc_identity id;
    enum tn_oidc_reason why;
    struct tn_buf detail;
    tn_buf_init(&detail, 1024);

    flow_begin(&f, "code-1", NULL, NULL);
    assert_int_equal(flow_finish(&f, f.query, &id, &why, &detail), TN_OK);
    assert_int_equal(why, TN_OIDC_OK);
    assert_string_equal(id.iss, good_iss);
    assert_string_equal(id.sub, "user-123");
    assert_string_equal(id.email, "ada@example.com");
    assert_true(id.email_verified);
    tn_oidc_identity_deinit(&id);
    /* what went to the token endpoint (the secret went in the header, checked there) */
    char want[512];
    snprintf(want, sizeof want,
             "grant_type=authorization_code&code=code-1&redirect_uri=http%%3A%%2F%%2F127.0.0.1"
             "%%3A9999%%2Foidc%%2Fcallback&code_verifier=%s",
             f.st.code_verifier);
    assert_string_equal(idp.last_form, want);
    assert_null(strstr(idp.last_form, "s3cr3t"));

    /* the same callback again: the provider refuses the second exchange */
    tn_buf_reset(&detail);
    assert_int_equal(flow_finish(&f, f.query, &id, &why, &detail), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_TOKEN_REFUSED);
    assert_string_equal(detail.data, "invalid_grant: grant request is invalid");
    assert_null(id.sub);

    /* a state that is not this browser's: refused before any request to the provider */
    int calls = idp.token_calls;
    char q[1024];
    struct flow g;
    flow_begin(&g, "code-2", NULL, NULL);
    snprintf(q, sizeof q, "code=code-2&state=%s&iss=%s", f.st.state, strstr(g.query, "&iss=") + 5);
    assert_int_equal(flow_finish(&g, q, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_STATE_MISMATCH);
    char tampered[1024];
    snprintf(tampered, sizeof tampered, "%s", g.query);
    char *s = strstr(tampered, "state=") + 6;
    s[0] = s[0] == 'A' ? 'B' : 'A';
    assert_int_equal(flow_finish(&g, tampered, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_STATE_MISMATCH);
    assert_int_equal(flow_finish(&g, "code=code-2", &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_STATE_MISMATCH);
    snprintf(q, sizeof q, "code=code-2&state=%.20s", g.st.state);
    assert_int_equal(flow_finish(&g, q, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_STATE_MISMATCH);
    assert_int_equal(idp.token_calls, calls);
    /* mix-up: the callback names another issuer, or none while the provider promises it */
    snprintf(q, sizeof q, "code=code-2&state=%s&iss=https%%3A%%2F%%2Fevil.example", g.st.state);
    assert_int_equal(flow_finish(&g, q, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_CALLBACK_ISSUER_MISMATCH);
    snprintf(q, sizeof q, "code=code-2&state=%s", g.st.state);
    assert_int_equal(flow_finish(&g, q, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_CALLBACK_ISSUER_MISMATCH);
    /* a repeated parameter is malformed, not "first wins" */
    snprintf(q, sizeof q, "%s&code=code-x", g.query);
    assert_int_equal(flow_finish(&g, q, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_CALLBACK_MALFORMED);
    assert_int_equal(flow_finish(&g, "state=%zz", &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_CALLBACK_MALFORMED);
    assert_int_equal(idp.token_calls, calls);
    /* the real one still works once */
    assert_int_equal(flow_finish(&g, g.query, &id, &why, NULL), TN_OK);
    tn_oidc_identity_deinit(&id);

    /* an upstream error becomes a reason, with its text for the log (control chars cut) */
    struct flow e;
    flow_begin(&e, "code-3", NULL, NULL);
    snprintf(
        q, sizeof q,
        "error=access_denied&error_description=End-User%%20aborted%%0Ainteraction&state=%s&iss=%s",
        e.st.state, strstr(e.query, "&iss=") + 5);
    tn_buf_reset(&detail);
    assert_int_equal(flow_finish(&e, q, &id, &why, &detail), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_UPSTREAM_ERROR);
    assert_string_equal(detail.data, "access_denied: End-User aborted?interaction");
    snprintf(q, sizeof q, "state=%s&iss=%s", e.st.state, strstr(e.query, "&iss=") + 5);
    assert_int_equal(flow_finish(&e, q, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_NO_CODE);
    /* the verifier must be the one the challenge was made from */
    struct tn_oidc_pending pend = {e.st.state, e.st.nonce, g.st.code_verifier};
    assert_int_equal(tn_oidc_finish(good, e.query, strlen(e.query), &pend, &id, &why, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_TOKEN_REFUSED);
    /* another sign-in's nonce in the pending state: the ID token does not match it */
    struct flow h;
    flow_begin(&h, "code-4", NULL, NULL);
    pend = (struct tn_oidc_pending){h.st.state, g.st.nonce, h.st.code_verifier};
    assert_int_equal(tn_oidc_finish(good, h.query, strlen(h.query), &pend, &id, &why, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_ID_TOKEN_NONCE_MISMATCH);
    /* a token response without an ID token */
    struct flow n;
    flow_begin(&n, "code-5", "-", NULL);
    assert_int_equal(flow_finish(&n, n.query, &id, &why, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_NO_ID_TOKEN);

    tn_oidc_start_deinit(&f.st);
    tn_oidc_start_deinit(&g.st);
    tn_oidc_start_deinit(&e.st);
    tn_oidc_start_deinit(&h.st);
    tn_oidc_start_deinit(&n.st);
    tn_buf_deinit(&detail);
}

/* The provider rotates its key: one refetch finds the new one; a flood of unknown kids
 * after that fetches nothing until the cooldown has passed. */
static void test_key_rotation(void **state)
{
    char iss[160];
    snprintf(iss, sizeof iss, "%s/rot", base);
    serve_provider("rot", iss, NULL);
    EVP_PKEY *ks[] = {k_rsa};
    const char *kids[] = {"k1"}, *algs[] = {"RS256"};
    char *j = jwks_of(ks, kids, algs, 1);
    serve_jwks("rot", j);
    free(j);
    struct tn_oidc_config c = cfg_for(iss);
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why;
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_OK);
    unsigned long df, jf;
    tn_oidc_provider_stats(p, &df, &jf);
    assert_int_equal(df, 1);
    assert_int_equal(jf, 1);

    EVP_PKEY *ks2[] = {k_new, k_rsa};
    const char *kids2[] = {"k-new", "k1"}, *algs2[] = {"RS256", "RS256"};
    j = jwks_of(ks2, kids2, algs2, 2);
    serve_jwks("rot", j);
    free(j);
    struct tn_oidc_identity id;
    char *t = mint(iss, "nonce", "{\"alg\":\"RS256\",\"kid\":\"k-new\"}", NEW_RS, NULL, NULL);
    assert_int_equal(tn_oidc_id_token_verify(p, t, strlen(t), "nonce", now_s, &id, &why), TN_OK);
    tn_oidc_identity_deinit(&id);
    free(t);
    tn_oidc_provider_stats(p, &df, &jf);
    assert_int_equal(jf, 2);
    for (int i = 0; i < 5; i++) {
        char h[64];
        snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"forged-%d\"}", i);
        t = mint(iss, "nonce", h, EVIL_RS, NULL, NULL);
        assert_int_equal(tn_oidc_id_token_verify(p, t, strlen(t), "nonce", now_s, &id, &why),
                         TN_ERR_BAD_INPUT);
        assert_int_equal(why, TN_OIDC_ID_TOKEN_KEY_UNKNOWN);
        free(t);
    }
    tn_oidc_provider_stats(p, &df, &jf);
    assert_int_equal(jf, 2); /* within the cooldown: nothing fetched */
    assert_int_equal(df, 1);
    tn_oidc_provider_free(p);

    /* with a 1 s cooldown, the next unknown kid after it fetches once more */
    c.refetch_cooldown_s = 1;
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_OK);
    t = mint(iss, "nonce", "{\"alg\":\"RS256\",\"kid\":\"forged\"}", EVIL_RS, NULL, NULL);
    assert_int_equal(tn_oidc_id_token_verify(p, t, strlen(t), "nonce", now_s, &id, &why),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_oidc_id_token_verify(p, t, strlen(t), "nonce", now_s, &id, &why),
                     TN_ERR_BAD_INPUT);
    tn_oidc_provider_stats(p, &df, &jf);
    assert_int_equal(jf, 2);
    struct timespec ts = {1, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(tn_oidc_id_token_verify(p, t, strlen(t), "nonce", now_s, &id, &why),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_OIDC_ID_TOKEN_KEY_UNKNOWN);
    tn_oidc_provider_stats(p, &df, &jf);
    assert_int_equal(jf, 3);
    free(t);
    tn_oidc_provider_free(p);
}

/* Entra's multi-tenant issuer: the template with the token's own tid, and nothing else. */
static void test_tenant_template(void **state)
{
    char conf[160], tpl[160], prefix[160], path[200];
    snprintf(conf, sizeof conf, "%s/common/v2.0", base);
    snprintf(tpl, sizeof tpl, "%s/{tenantid}/v2.0", base);
    snprintf(prefix, sizeof prefix, "%s/common", base);
    char *d = disc_doc(tpl, prefix, NULL);
    snprintf(path, sizeof path, "/common/v2.0/.well-known/openid-configuration");
    route_set(path, 200, d);
    free(d);
    EVP_PKEY *ks[] = {k_rsa};
    const char *kids[] = {"k1"}, *algs[] = {"RS256"};
    char *j = jwks_of(ks, kids, algs, 1);
    serve_jwks("common", j);
    free(j);
    struct tn_oidc_config c = cfg_for(conf);
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why;
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_OK);
    char iss_t[200], iss_other[200], patch[400];
    snprintf(iss_t, sizeof iss_t, "%s/" TENANT "/v2.0", base);
    snprintf(iss_other, sizeof iss_other, "%s/00000000-1111-2222-3333-444444444444/v2.0", base);
    struct {
        const char *iss, *tid;
        enum tn_oidc_reason why;
    } cases[] = {
        {iss_t, TENANT, TN_OIDC_OK},
        {iss_other, TENANT, TN_OIDC_ID_TOKEN_BAD_ISSUER}, /* iss of another tenant */
        {iss_t, "00000000-1111-2222-3333-444444444444", TN_OIDC_ID_TOKEN_BAD_ISSUER},
        {tpl, TENANT, TN_OIDC_ID_TOKEN_BAD_ISSUER},  /* the template itself */
        {conf, TENANT, TN_OIDC_ID_TOKEN_BAD_ISSUER}, /* the alias */
        {iss_t, NULL, TN_OIDC_ID_TOKEN_BAD_TENANT},
        {iss_t, "../evil", TN_OIDC_ID_TOKEN_BAD_TENANT},
        {iss_t, "", TN_OIDC_ID_TOKEN_BAD_TENANT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].tid)
            snprintf(patch, sizeof patch, "{\"tid\":\"%s\"}", cases[i].tid);
        char *t = mint(cases[i].iss, "nonce", NULL, RS, cases[i].tid ? patch : NULL, NULL);
        struct tn_oidc_identity id;
        enum tn_err rc = tn_oidc_id_token_verify(p, t, strlen(t), "nonce", now_s, &id, &why);
        if (why != cases[i].why || (rc == TN_OK) != (why == TN_OIDC_OK)) {
            print_error("case %zu: %s\n", i, tn_oidc_reason_name(why));
            fail();
        }
        if (rc == TN_OK)
            assert_string_equal(id.iss, iss_t);
        tn_oidc_identity_deinit(&id);
        free(t);
    }
    tn_oidc_provider_free(p);
}

/* Sign-ins from several threads while unknown kids make the key set be swapped under
 * them (a 1 s cooldown): every good token verifies, every forged one is refused, and
 * the sanitizers see no use of a freed key set. */
struct worker {
    struct tn_oidc_provider *p;
    const char *good_t, *forged_t;
    int ok, refused, other;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    int64_t until = tn_time_now_ms() + 2500;
    while (tn_time_now_ms() < until) {
        struct tn_oidc_identity id;
        enum tn_oidc_reason why;
        if (tn_oidc_id_token_verify(w->p, w->good_t, strlen(w->good_t), "nonce", now_s, &id,
                                    &why) == TN_OK)
            w->ok++;
        else
            w->other++;
        tn_oidc_identity_deinit(&id);
        if (tn_oidc_id_token_verify(w->p, w->forged_t, strlen(w->forged_t), "nonce", now_s, &id,
                                    &why) == TN_ERR_BAD_INPUT &&
            why == TN_OIDC_ID_TOKEN_KEY_UNKNOWN)
            w->refused++;
        else
            w->other++;
        struct tn_oidc_start st;
        if (tn_oidc_begin(w->p, NULL, &st) != TN_OK)
            w->other++;
        tn_oidc_start_deinit(&st);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct tn_oidc_config c = cfg_for(good_iss);
    c.refetch_cooldown_s = 1;
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why;
    assert_int_equal(tn_oidc_provider_new(&c, &p, &why), TN_OK);
    char *g = mint(good_iss, "nonce", NULL, RS, NULL, NULL);
    char *f =
        mint(good_iss, "nonce", "{\"alg\":\"RS256\",\"kid\":\"forged\"}", EVIL_RS, NULL, NULL);
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.p = p, .good_t = g, .forged_t = f};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].other, 0);
        ok += w[i].ok;
        refused += w[i].refused;
    }
    assert_true(ok > 0);
    assert_int_equal(ok, refused);
    unsigned long df, jf;
    tn_oidc_provider_stats(p, &df, &jf);
    /* one fetch at creation, then at most one per cooldown second (2.5 s): 2 or 3 more */
    assert_in_range(jf, 3, 4);
    assert_int_equal(df, 1);
    free(g);
    free(f);
    tn_oidc_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_url_rule),
        cmocka_unit_test(test_discovery_documents),
        cmocka_unit_test(test_discovery_fetched),
        cmocka_unit_test(test_begin),
        cmocka_unit_test(test_id_tokens),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_tenant_template),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests_name("oidc", tests, setup, teardown);
}
