/* teamnotes doctor: the local checks (configuration, storage, secret, signing keys,
 * external issuer, mail) and the isolation self-test (cli/doctor_internal.h). */
#include "cli/doctor.h"
#include "cli/doctor_internal.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/as/keys.h"
#include "auth/issuer.h"
#include "auth/rs/jose.h"
#include "auth/upstream/providers.h"
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/principal.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "notes/notes.h"
#include "store/probe.h"
#include "store/store.h"

/* ---------- local checks ---------- */

/* The server secret as serve derives it (cli/serve.c load_secret), read-only: never
 * creates DATA_DIR/secret.key. 1: *key filled; 0: none yet; -1: damaged. */
static int read_secret(const struct tn_config *cfg, uint8_t key[32])
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    if (k[0]) {
        tn_hmac_sha256(key, (const uint8_t *)"teamnotes-secret", 16, k, strlen(k));
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/secret.key", tn_config_str(cfg, TN_CFG_DATA_DIR));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint8_t extra;
    ssize_t n = read(fd, key, 32);
    ssize_t more = n == 32 ? read(fd, &extra, 1) : 0;
    close(fd);
    return n == 32 && more == 0 ? 1 : -1;
}

void tn_doc_check_secret(struct doctor *d, const struct tn_config *cfg)
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    bool pg = tn_config_str(cfg, TN_CFG_DATABASE_URL)[0] != '\0';
    if (k[0]) {
        tn_doc_say(d, ST_OK, "secret_key", NULL, "SECRET_KEY is set (%zu characters)", strlen(k));
        return;
    }
    if (pg) {
        tn_doc_say(
            d, ST_FAIL, "secret_key",
            "give every instance the same SECRET_KEY of 32+ random characters (openssl rand -hex 32)",
            "DATABASE_URL is set but SECRET_KEY is not: instances cannot share state or open the signing keys");
        return;
    }
    uint8_t key[32];
    int s = read_secret(cfg, key);
    sodium_memzero(key, sizeof key);
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    if (s > 0)
        tn_doc_say(d, ST_OK, "secret_key", NULL, "server secret in %s/secret.key", dir);
    else if (s == 0)
        tn_doc_say(d, ST_OK, "secret_key", NULL,
                   "no SECRET_KEY: serve creates %s/secret.key on its first start", dir);
    else
        tn_doc_say(
            d, ST_FAIL, "secret_key",
            "restore the file from a backup (a new one cannot open the stored signing keys), or set SECRET_KEY",
            "%s/secret.key is damaged (not 32 bytes)", dir);
}

struct key_rows {
    struct tn_signing_key rows[64];
    size_t n;
    bool more;
};

static void collect_key(const struct tn_signing_key *k, void *ud)
{
    struct key_rows *kr = ud;
    if (kr->n < sizeof kr->rows / sizeof kr->rows[0])
        kr->rows[kr->n++] = *k;
    else
        kr->more = true;
}

/* The built-in AS's signing keys: each stored row opens with the server secret and is
 * a usable key. Read-only (tn_as_keys_open would create one or re-seal rows). */
static void check_keys(struct doctor *d, const struct tn_config *cfg, struct tn_store *s)
{
    struct key_rows *kr = calloc(1, sizeof *kr);
    uint8_t secret[32], kek[32];
    char pem[2048];
    if (!kr || tn_store_key_list(s, collect_key, kr) != TN_OK) {
        tn_doc_say(d, ST_FAIL, "signing_keys", "check that the store is readable",
                   "cannot read the signing keys");
        goto done;
    }
    if (kr->n == 0) {
        tn_doc_say(d, ST_OK, "signing_keys", NULL,
                   "no signing key yet: serve creates one on its first start");
        goto done;
    }
    int have = read_secret(cfg, secret);
    if (have <= 0 || tn_as_keys_kek(kek, secret, sizeof secret) != TN_OK) {
        tn_doc_say(
            d, ST_FAIL, "signing_keys",
            "start with the SECRET_KEY (or DATA_DIR/secret.key) that sealed them; never delete the keys: issued tokens would stop working",
            "%zu signing key%s stored but no server secret to open them", kr->n,
            kr->n == 1 ? "" : "s");
        goto done;
    }
    int64_t now = tn_time_now_ms() / 1000;
    size_t signing = 0;
    for (size_t i = 0; i < kr->n; i++) {
        const struct tn_signing_key *k = &kr->rows[i];
        enum tn_err e = TN_OK;
        if (!strncmp(k->pem, TN_AS_KEY_SEALED_PREFIX, strlen(TN_AS_KEY_SEALED_PREFIX)))
            e = tn_as_key_unseal(kek, k->kid, k->pem, pem, sizeof pem);
        else
            tn_strlcpy(pem, k->pem, sizeof pem); /* an old plain row: serve seals it when read */
        struct tn_jwks *set = NULL;
        if (e == TN_OK)
            e = tn_jwks_from_pem(pem, strlen(pem), k->kid, k->alg, &set);
        sodium_memzero(pem, sizeof pem);
        tn_jwks_free(set);
        if (e != TN_OK) {
            tn_doc_say(
                d, ST_FAIL, "signing_keys",
                "start with the SECRET_KEY (or DATA_DIR/secret.key) that sealed it; never delete keys to cure this: issued tokens would stop working",
                "signing key %s does not open with this server secret (%s)", k->kid,
                tn_err_message(e));
            goto done;
        }
        signing += k->signs_from <= now && now < k->retire_at;
    }
    tn_doc_say(d, ST_OK, "signing_keys", NULL,
               "%zu signing key%s open with the server secret (%zu signing now)", kr->n,
               kr->n == 1 ? "" : "s", signing);
done:
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(kek, sizeof kek);
    free(kr);
}

/* Storage: reachable, writable, at this binary's schema; then (only when nothing is
 * pending, so opening changes nothing) the signing keys and the accounts. */
void tn_doc_check_storage(struct doctor *d, const struct tn_config *cfg, bool builtin)
{
    struct tn_store_probe p;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    const char *dbu = tn_config_str(cfg, TN_CFG_DATABASE_URL);
    enum tn_err e = tn_store_probe(tn_config_str(cfg, TN_CFG_DATA_DIR), dbu, &p, &err);
    bool ready = false;
    if (e != TN_OK) {
        tn_doc_say(d, ST_FAIL, "storage",
                   dbu[0] ? "check DATABASE_URL, that PostgreSQL runs and that the role may connect"
                          : "check DATA_DIR and the file's permissions",
                   "storage: %s", err.data ? err.data : tn_err_message(e));
    } else if (!p.exists) {
        if (p.writable)
            tn_doc_say(
                d, ST_OK, "storage", NULL,
                "storage: no database yet at %s; serve creates it (the directory is writable)",
                p.where);
        else
            tn_doc_say(d, ST_FAIL, "storage",
                       "make DATA_DIR writable for the user that runs teamnotes",
                       "storage: no database at %s and its directory is not writable", p.where);
    } else if (p.version > p.latest) {
        tn_doc_say(d, ST_FAIL, "storage",
                   "run the teamnotes version that wrote it (or a newer one)",
                   "storage: %s %s is at schema version %d, newer than this binary's %d", p.backend,
                   p.where, p.version, p.latest);
    } else if (p.version < p.latest) {
        tn_doc_say(d, ST_FAIL, "storage",
                   "run `teamnotes migrate` (serve also migrates when it starts)",
                   "storage: %s %s is at schema version %d, this binary needs %d", p.backend,
                   p.where, p.version, p.latest);
    } else if (!p.writable) {
        tn_doc_say(
            d, ST_FAIL, "storage",
            dbu[0] ? "connect to the primary with a role that may write the notes"
                   : "give the user that runs teamnotes write access to the file and its directory",
            "storage: %s %s is at schema version %d but not writable", p.backend, p.where,
            p.version);
    } else {
        tn_doc_say(d, ST_OK, "storage", NULL,
                   "storage: %s %s, schema version %d (this binary's), writable", p.backend,
                   p.where, p.version);
        ready = true;
    }
    tn_buf_deinit(&err);
    if (!builtin)
        return;
    if (!ready || !p.exists) {
        if (p.exists || e != TN_OK)
            tn_doc_say(d, ST_SKIP, "signing_keys", NULL,
                       "signing keys not checked (storage not ready)");
        else
            tn_doc_say(d, ST_OK, "signing_keys", NULL,
                       "no signing key yet: serve creates one on its first start");
        return;
    }
    struct tn_store *s = NULL;
    tn_buf_init(&err, 1024);
    if (tn_store_open(tn_config_str(cfg, TN_CFG_DATA_DIR), dbu, &s, &err) != TN_OK) {
        tn_doc_say(d, ST_FAIL, "signing_keys", "check the storage", "cannot open the store: %s",
                   err.data ? err.data : "error");
    } else {
        check_keys(d, cfg, s);
        int64_t users = 0;
        if (tn_store_user_count(s, &users) == TN_OK && users == 0)
            tn_doc_say(
                d, ST_WARN, "accounts",
                "open the one-time /setup link serve logs on its first start, or teamnotes user add EMAIL",
                "no accounts yet: nobody can sign in with a password");
        else if (users > 0)
            tn_doc_say(d, ST_OK, "accounts", NULL, "%lld account%s", (long long)users,
                       users == 1 ? "" : "s");
    }
    tn_store_close(s);
    tn_buf_deinit(&err);
}

static void fetch_why(enum tn_err e, const struct tn_fetch_result *r, char *why, size_t cap)
{
    if (e == TN_ERR_IO)
        snprintf(why, cap, "no answer");
    else if (e == TN_ERR_FORBIDDEN)
        snprintf(
            why, cap,
            "refused by the server's fetch policy (https only; loopback only for a loopback issuer; no private addresses)");
    else if (e == TN_ERR_LIMIT)
        snprintf(why, cap, "too large");
    else if (e != TN_OK)
        snprintf(why, cap, "%s", tn_err_message(e));
    else
        snprintf(why, cap, "HTTP %ld", r->status);
}

/* External issuer: every issuer form the server accepts is named by a metadata document
 * it can fetch (under the server's own fetch policy), and the keys are usable. */
void tn_doc_check_issuer(struct doctor *d, const struct tn_config *cfg,
                         const struct tn_issuer_urls *u)
{
    struct tn_fetch_opts fo = {(unsigned)tn_config_int(cfg, TN_CFG_AUTH_FETCH_TIMEOUT_MS),
                               256 * 1024, u->loopback_http};
    char jwks[TN_ISSUER_DOC_SIZE] = "";
    bool named[TN_ISSUER_MAX] = {false};
    char named_by[TN_ISSUER_MAX][TN_ISSUER_DOC_SIZE];
    char tried[4000] = "";
    size_t used = 0;
    for (size_t i = 0; i < u->n_metadata; i++) {
        struct tn_fetch_result r;
        enum tn_err e = tn_fetch(u->metadata[i], &fo, &r);
        json_t *doc = e == TN_OK && r.status == 200
                          ? json_loadb(r.body.data ? r.body.data : "", r.body.len,
                                       JSON_REJECT_DUPLICATES, NULL)
                          : NULL;
        const char *iss = json_string_value(json_object_get(doc, "issuer"));
        bool matched = false;
        for (size_t k = 0; iss && k < u->n_issuers; k++) {
            if (!strcmp(iss, u->issuers[k]) && !named[k]) {
                named[k] = matched = true;
                snprintf(named_by[k], sizeof named_by[k], "%s", u->metadata[i]);
            }
        }
        const char *j = json_string_value(json_object_get(doc, "jwks_uri"));
        if (matched && j && !jwks[0])
            tn_strlcpy(jwks, j, sizeof jwks);
        if (!matched && used < sizeof tried) {
            char why[300];
            if (doc)
                snprintf(why, sizeof why, "names issuer \"%s\"", iss ? iss : "(none)");
            else if (e == TN_OK && r.status == 200)
                snprintf(why, sizeof why, "not JSON");
            else
                fetch_why(e, &r, why, sizeof why);
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s: %s",
                                     used ? "; " : "", u->metadata[i], why);
        }
        json_decref(doc);
        tn_buf_deinit(&r.body);
    }
    for (size_t k = 0; k < u->n_issuers; k++) {
        if (named[k])
            tn_doc_say(d, ST_OK, "issuer.discovery", NULL, "issuer %s: metadata at %s",
                       u->issuers[k], named_by[k]);
        else
            tn_doc_say(
                d, ST_FAIL, "issuer.discovery",
                "check AUTH_ISSUER (or SCALEKIT_ENVIRONMENT_URL/SCALEKIT_RESOURCE_ID): it must be the exact issuer the provider publishes, reachable from this host",
                "issuer %s: no metadata names it (%s)", u->issuers[k], tried);
    }
    const char *uri = u->jwks[0] ? u->jwks : jwks[0] ? jwks : u->jwks_fallback;
    if (!uri[0]) {
        tn_doc_say(
            d, ST_FAIL, "issuer.jwks", "make the issuer's metadata reachable, or set AUTH_JWKS_URI",
            "issuer keys: no JWKS location (no metadata answered and AUTH_JWKS_URI is not set)");
        return;
    }
    struct tn_fetch_result r;
    fo.max_bytes = TN_JWKS_MAX_BYTES;
    enum tn_err e = tn_fetch(uri, &fo, &r);
    struct tn_jwks *set = NULL;
    char why[600];
    if (e != TN_OK || r.status != 200)
        fetch_why(e, &r, why, sizeof why);
    else if (tn_jwks_parse(r.body.data ? r.body.data : "", r.body.len, &set, NULL) != TN_OK)
        snprintf(why, sizeof why, "not a JWKS");
    else if (!tn_jwks_count(set))
        snprintf(why, sizeof why, "no usable signing key (%zu skipped)", tn_jwks_skipped(set));
    else
        why[0] = '\0';
    if (why[0])
        tn_doc_say(d, ST_FAIL, "issuer.jwks", "check the issuer's jwks_uri (or AUTH_JWKS_URI)",
                   "issuer keys at %s: %s", uri, why);
    else
        tn_doc_say(d, ST_OK, "issuer.jwks", NULL, "issuer keys at %s: %zu usable", uri,
                   tn_jwks_count(set));
    tn_jwks_free(set);
    tn_buf_deinit(&r.body);
}

/* Mail: connect, greeting, EHLO, STARTTLS (or implicit TLS) and login when configured,
 * through libcurl's connect-only mode: no MAIL FROM, nothing sent. */
void tn_doc_check_mail(struct doctor *d, const struct tn_config *cfg)
{
    const char *url = tn_config_str(cfg, TN_CFG_SMTP_URL);
    if (!url[0]) {
        tn_doc_say(d, ST_OK, "mail", NULL, "mail: no SMTP_URL; messages are written to %s/outbox/",
                   tn_config_str(cfg, TN_CFG_DATA_DIR));
        return;
    }
    char shown[300];
    snprintf(shown, sizeof shown, "%.*s", (int)strcspn(url + 8, "/") + 8,
             url); /* scheme://host:port */
    CURL *h = curl_easy_init();
    if (!h)
        return;
    const char *tls = tn_config_str(cfg, TN_CFG_SMTP_TLS);
    const char *user = tn_config_str(cfg, TN_CFG_SMTP_USERNAME);
    const char *ca = tn_config_str(cfg, TN_CFG_SMTP_CA_FILE);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)tn_config_int(cfg, TN_CFG_SMTP_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     !strcmp(tls, "none") ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (user[0]) {
        curl_easy_setopt(h, CURLOPT_USERNAME, user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, tn_config_str(cfg, TN_CFG_SMTP_PASSWORD));
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        tn_doc_say(d, ST_OK, "mail", NULL, "mail: %s answers (%s%s; nothing sent)", shown,
                   !strcmp(tls, "none") ? "plaintext to a loopback relay" : "TLS verified",
                   user[0] ? ", login accepted" : "");
    else
        tn_doc_say(
            d, ST_FAIL, "mail",
            rc == CURLE_LOGIN_DENIED ? "check SMTP_USERNAME and SMTP_PASSWORD"
            : rc == CURLE_USE_SSL_FAILED || rc == CURLE_PEER_FAILED_VERIFICATION ||
                    rc == CURLE_SSL_CONNECT_ERROR
                ? "the relay must offer STARTTLS (smtp://) or TLS (smtps://) with a certificate this host trusts (SMTP_CA_FILE)"
                : "check SMTP_URL and that the relay accepts connections from this host",
            "mail: %s: %s", shown, curl_easy_strerror(rc));
    curl_easy_cleanup(h);
}

/* Upstream OpenID providers (OIDC_PROVIDERS): each one's discovery document is fetched
 * and must name the configured issuer, with the endpoints a sign-in needs, and its JWKS
 * must be fetchable (the provider is made as a sign-in would make it); the "empty
 * sign-in screen" of the troubleshooting table when one does not answer. */
void tn_doc_check_oidc_providers(struct doctor *d, const struct tn_config *cfg)
{
    struct tn_oidc_providers *ps = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 2048);
    const char *base = tn_config_str(cfg, TN_CFG_BASE_URL);
    struct url bu;
    bool loopback = tn_doc_url_parse(base, &bu) && tn_host_is_loopback(bu.host, strlen(bu.host));
    enum tn_err rc = tn_oidc_providers_parse(tn_oidc_lookup_env, NULL, base, loopback, &ps, &err);
    if (rc != TN_OK) {
        tn_doc_say(d, ST_FAIL, "oidc.providers", "correct the OIDC_* settings named",
                   "upstream providers: %s", err.data ? err.data : tn_err_message(rc));
        goto done;
    }
    if (!ps) {
        tn_doc_say(d, ST_OK, "oidc.providers", NULL,
                   "upstream providers: none (OIDC_PROVIDERS unset)");
        goto done;
    }
    for (size_t i = 0; i < tn_oidc_providers_count(ps); i++) {
        const char *id = tn_oidc_providers_id(ps, i);
        char cid[64];
        snprintf(cid, sizeof cid, "oidc.%s", id);
        struct tn_oidc_provider *p = NULL;
        enum tn_oidc_reason why = TN_OIDC_INTERNAL;
        if (tn_oidc_providers_get(ps, i, tn_time_now_ms() / 1000, &p, &why) == TN_OK && p)
            tn_doc_say(
                d, ST_OK, cid, NULL,
                "upstream provider %s: discovery answers and names the issuer %s; its keys are fetched",
                id, tn_oidc_provider_issuer(p));
        else
            tn_doc_say(d, ST_FAIL, cid,
                       "check the provider's OIDC_<ID>_ISSUER (its discovery document at "
                       "ISSUER/.well-known/openid-configuration must name exactly that issuer) "
                       "and that this host can reach it",
                       "upstream provider %s: %s", id, tn_oidc_reason_text(why));
    }
done:
    tn_oidc_providers_free(ps);
    tn_buf_deinit(&err);
}

/* ---------- isolation self-test ---------- */

struct hdrs {
    const char *tool;
};

static const char *self_header(void *ud, const char *name)
{
    const struct hdrs *h = ud;
    if (!strcasecmp(name, "Content-Type"))
        return "application/json";
    if (!strcasecmp(name, "Accept"))
        return "application/json, text/event-stream";
    if (!strcasecmp(name, "MCP-Protocol-Version"))
        return "2026-07-28";
    if (!strcasecmp(name, "Mcp-Method"))
        return "tools/call";
    if (!strcasecmp(name, "Mcp-Name"))
        return h->tool;
    return NULL;
}

/* Calls `tool` as principal p through the real MCP server and notes tools; returns the
 * tool result's structured content (new reference) or NULL. */
static json_t *self_call(struct tn_mcp_server *s, const struct tn_principal *p, const char *tool,
                         const char *args)
{
    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
        "\"arguments\":%s,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
        "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
        tool, args);
    struct hdrs h = {tool};
    struct tn_mcp_http_in in = {.method = "POST",
                                .header = self_header,
                                .ud = &h,
                                .body = {body, strlen(body)},
                                .principal = p,
                                .subject = p->key,
                                .request_id = "doctor"};
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 1 << 20);
    tn_mcp_handle(s, &in, &out);
    json_t *resp = out.status == 200 && out.body.data ? json_loads(out.body.data, 0, NULL) : NULL;
    tn_mcp_parked_free(out.parked);
    tn_buf_deinit(&out.body);
    json_t *res = json_object_get(resp, "result");
    json_t *sc = json_object_get(res, "structuredContent");
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    json_t *ret = NULL;
    if (!json_is_true(json_object_get(res, "isError")))
        ret = json_is_object(sc) ? json_incref(sc) : text ? json_loads(text, 0, NULL) : NULL;
    json_decref(resp);
    return ret;
}

static struct tn_principal *self_principal(const char *sub)
{
    struct tn_principal *p = tn_principal_new("https://doctor.invalid", sub, "", "teamnotes-doctor",
                                              "", tn_time_now_ms() / 1000 + 300);
    if (p &&
        (tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:read notes:write") != TN_OK ||
         tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, "notes:read notes:write") != TN_OK)) {
        tn_principal_release(p);
        p = NULL;
    }
    return p;
}

/* The ids of the notes a list_my_notes result holds, joined with spaces. */
static void listed_ids(json_t *list, char *out, size_t cap)
{
    size_t i, used = 0;
    json_t *n;
    out[0] = '\0';
    json_array_foreach(json_object_get(list, "notes"), i, n) {
        const char *id = json_string_value(json_object_get(n, "id"));
        if (id && used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " " : "", id);
    }
}

static void remove_tree(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char p[4200];
    while (dh && (e = readdir(dh))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    if (dh)
        closedir(dh);
    rmdir(dir);
}

/* Two throwaway users save a note each in a scratch SQLite store, through the real MCP
 * server and notes tools, and list: each must see exactly their own note. */
void tn_doc_check_isolation(struct doctor *d)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/teamnotes-doctor-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    struct tn_store *store = NULL;
    struct tn_mcp_server *mcp = NULL;
    struct tn_notes *app = NULL;
    struct tn_principal *a = self_principal("doctor-alice"), *b = self_principal("doctor-bob");
    json_t *sa = NULL, *sb = NULL, *la = NULL, *lb = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    uint8_t secret[32];
    tn_random(secret, sizeof secret);
    bool made = mkdtemp(dir) != NULL;
    struct tn_mcp_info info = {
        .name = "teamnotes-doctor", .version = "1", .secret = secret, .secret_len = sizeof secret};
    if (!made || !a || !b || tn_store_open(dir, NULL, &store, &err) != TN_OK ||
        !(mcp = tn_mcp_server_new(&info)) || !(app = tn_notes_new(store)) ||
        tn_notes_register(app, mcp) != TN_OK) {
        tn_doc_say(d, ST_FAIL, "isolation", "check that TMPDIR is writable",
                   "isolation self-test could not start (%s)",
                   !made      ? "no scratch directory"
                   : err.data ? err.data
                              : "setup failed");
        goto done;
    }
    sa = self_call(mcp, a, "save_note", "{\"content\":\"doctor self-test: note of user A\"}");
    sb = self_call(mcp, b, "save_note", "{\"content\":\"doctor self-test: note of user B\"}");
    la = self_call(mcp, a, "list_my_notes", "{}");
    lb = self_call(mcp, b, "list_my_notes", "{}");
    char ids_a[256], ids_b[256];
    listed_ids(la, ids_a, sizeof ids_a);
    listed_ids(lb, ids_b, sizeof ids_b);
    json_t *na = json_object_get(sa, "note"), *nb = json_object_get(sb, "note");
    const char *id_a = json_string_value(json_object_get(na ? na : sa, "id"));
    const char *id_b = json_string_value(json_object_get(nb ? nb : sb, "id"));
    if (!id_a || !id_b || !la || !lb)
        tn_doc_say(d, ST_FAIL, "isolation",
                   "report this: the notes tools do not work on a fresh store",
                   "isolation self-test: saving or listing failed in the scratch store");
    else if (strcmp(ids_a, id_a) || strcmp(ids_b, id_b))
        tn_doc_say(
            d, ST_FAIL, "isolation", "report this: notes are not keyed by the verified subject",
            "isolation self-test: user A lists [%s], user B lists [%s]; each should list only its own note",
            ids_a, ids_b);
    else
        tn_doc_say(
            d, ST_OK, "isolation", NULL,
            "isolation self-test: two throwaway users in a scratch store each list only their own note");
done:
    json_decref(sa);
    json_decref(sb);
    json_decref(la);
    json_decref(lb);
    if (mcp)
        tn_mcp_drain(mcp, 1000);
    tn_mcp_server_free(mcp);
    tn_notes_free(app);
    tn_store_close(store);
    tn_principal_release(a);
    tn_principal_release(b);
    sodium_memzero(secret, sizeof secret);
    tn_buf_deinit(&err);
    if (made)
        remove_tree(dir);
}

/* Everything this configuration says, then (unless --local) the deployment it names. */