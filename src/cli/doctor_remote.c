/* teamnotes doctor: the outside checks (challenge → PRM → AS metadata → registration →
 * JWKS → clock) with a small HTTP client of their own (cli/doctor_internal.h). */
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
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/principal.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "notes/notes.h"
#include "store/probe.h"
#include "store/store.h"

/* ---------- URLs ---------- */

/* Splits an absolute http(s) URL. False when it is not one (or does not fit). */
bool tn_doc_url_parse(const char *u, struct url *out)
{
    memset(out, 0, sizeof *out);
    size_t skip;
    if (!strncasecmp(u, "https://", 8)) {
        out->https = true;
        skip = 8;
    } else if (!strncasecmp(u, "http://", 7)) {
        skip = 7;
    } else {
        return false;
    }
    size_t alen = strcspn(u + skip, "/?#");
    if (alen == 0 || skip + alen >= sizeof out->origin || memchr(u + skip, '@', alen))
        return false;
    memcpy(out->origin, u, skip + alen);
    const char *a = u + skip;
    size_t hlen = alen;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close)
            return false;
        hlen = (size_t)(close - a) + 1;
    } else {
        const char *colon = memchr(a, ':', alen);
        if (colon)
            hlen = (size_t)(colon - a);
    }
    if (hlen >= sizeof out->host)
        return false;
    memcpy(out->host, a, hlen);
    const char *p = a + alen;
    size_t plen = p[0] == '/' ? strcspn(p, "?#") : 0;
    if (plen >= sizeof out->path)
        return false;
    memcpy(out->path, p, plen);
    return true;
}

static bool url_loopback(const struct url *u)
{
    return tn_host_is_loopback(u->host, strlen(u->host));
}

/* ---------- a small HTTP client for the outside checks ---------- */

struct resp {
    bool answered;
    long status;
    struct tn_buf body;
    char www_auth[2048]; /* every WWW-Authenticate header, joined with ", " */
    char date[64];
    char location[512];
    char error[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    return tn_buf_append(ud, p, sz * n) == TN_OK ? sz * n : 0;
}

/* Copies a header's value (trimmed) when the line is `name: value`. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap,
                         bool append)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    size_t used = append ? strlen(out) : 0;
    if (append && used && used + 2 < cap) {
        memcpy(out + used, ", ", 2);
        used += 2;
    }
    if (used + vl >= cap)
        vl = cap - used - 1;
    memcpy(out + used, v, vl);
    out[used + vl] = '\0';
    return true;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    /* a new status line (an interim 100) starts the headers over */
    if (len > 5 && !strncmp(p, "HTTP/", 5))
        r->www_auth[0] = r->date[0] = r->location[0] = '\0';
    if (!header_value(p, len, "www-authenticate", r->www_auth, sizeof r->www_auth, true) &&
        !header_value(p, len, "date", r->date, sizeof r->date, false))
        header_value(p, len, "location", r->location, sizeof r->location, false);
    return len;
}

/* One request. r->answered tells whether a response came (any status); r->error says
 * why not. No redirects are followed (a 3xx is reported with its Location), no proxy
 * is used, and bodies beyond DOC_MAX_BODY fail. Deinit r->body afterwards. */
static void http(const char *method, const char *url, const char *const *hdrs, const char *body,
                 struct resp *r)
{
    memset(r, 0, sizeof *r);
    tn_buf_init(&r->body, DOC_MAX_BODY);
    CURL *h = curl_easy_init();
    struct curl_slist *list = NULL;
    if (!h) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    for (size_t i = 0; hdrs && hdrs[i]; i++)
        list = curl_slist_append(list, hdrs[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)DOC_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "teamnotes-doctor");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (strcmp(method, "GET") && strcmp(method, "POST"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        r->answered = true;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        /* libcurl's own words, not its error buffer: that one carries timings, and the
         * same failure should read the same every time */
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
}

/* A GET of a JSON object: *doc (new reference) when 2xx and an object; otherwise `why`
 * says what came instead. */
static json_t *get_json(const char *url, struct resp *r, char *why, size_t cap)
{
    static const char *const hdrs[] = {"Accept: application/json", NULL};
    http("GET", url, hdrs, NULL, r);
    why[0] = '\0';
    if (!r->answered) {
        snprintf(why, cap, "no answer (%s)", r->error);
        return NULL;
    }
    if (r->status < 200 || r->status > 299) {
        if (r->status >= 300 && r->status < 400 && r->location[0])
            snprintf(why, cap, "HTTP %ld redirecting to %s (clients do not follow it)", r->status,
                     r->location);
        else
            snprintf(why, cap, "HTTP %ld", r->status);
        return NULL;
    }
    json_t *doc =
        json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        snprintf(why, cap, "HTTP %ld but not a JSON object", r->status);
        return NULL;
    }
    return doc;
}

/* ---------- WWW-Authenticate (RFC 9110 §11.6.1) ---------- */

/* Reads a token or a quoted-string at *p into out (unescaped, cut to cap). */
static void read_value(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '"') {
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && s[1])
                s++;
            if (n + 1 < cap)
                out[n++] = *s;
            s++;
        }
        if (*s == '"')
            s++;
    } else {
        while (*s && *s != ',' && *s != ' ' && *s != '\t') {
            if (n + 1 < cap)
                out[n++] = *s;
            s++;
        }
    }
    out[n] = '\0';
    *p = s;
}

/* In the challenges `h`: -1 when none is Bearer; else 1 with parameter `name` of the
 * first Bearer challenge in `out`, or 0 when it has no such parameter. */
static int bearer_param(const char *h, const char *name, char *out, size_t cap)
{
    bool in_bearer = false, seen = false;
    const char *p = h;
    out[0] = '\0';
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *t = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t' && *p != ',')
            p++;
        size_t tl = (size_t)(p - t);
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '=' && q[1] != '=' && tl) { /* auth-param */
            q++;
            while (*q == ' ' || *q == '\t')
                q++;
            char v[2048];
            read_value(&q, v, sizeof v);
            if (in_bearer && strlen(name) == tl && !strncasecmp(t, name, tl) && !out[0]) {
                snprintf(out, cap, "%s", v);
                return 1;
            }
            p = q;
        } else { /* a new scheme (a token68 after it is skipped as a scheme-less token) */
            if (in_bearer)
                return 0; /* the Bearer challenge ended without the parameter */
            in_bearer = tl == 6 && !strncasecmp(t, "Bearer", 6);
            seen |= in_bearer;
            while (*p == '=')
                p++;
        }
    }
    return seen ? 0 : -1;
}

/* ---------- outside checks ---------- */

struct outside {
    const char *mcp_url;
    struct url mcp;
    char prm_url[1100]; /* the challenge's resource_metadata, "" when none */
    char as[600];       /* the PRM's first authorization server, "" when none */
    char scopes[512];   /* the PRM's scopes_supported, space-separated */
    char server_date[64];
};

static const char *const json_hdrs[] = {"Content-Type: application/json",
                                        "Accept: application/json, text/event-stream", NULL};

static void check_clock(struct doctor *d, const char *who, const char *date)
{
    if (!date[0]) {
        tn_doc_say(d, ST_SKIP, "clock", NULL, "%s sent no Date header: clocks not compared", who);
        return;
    }
    time_t t = curl_getdate(date, NULL);
    if (t < 0) {
        tn_doc_say(d, ST_WARN, "clock", "send an RFC 9110 Date header",
                   "%s sent an unreadable Date header \"%s\"", who, date);
        return;
    }
    int64_t diff = (int64_t)t - tn_time_now_ms() / 1000;
    int64_t mag = diff < 0 ? -diff : diff;
    if (mag <= d->leeway_s) {
        tn_doc_say(d, ST_OK, "clock", NULL,
                   "%s's clock is within %lld s of this machine's (leeway %lld s)", who,
                   (long long)(mag > 1 ? mag : 1), (long long)d->leeway_s);
        return;
    }
    tn_doc_say(
        d, ST_FAIL, "clock", "synchronise both clocks (systemd-timesyncd, chrony or ntpd)",
        "%s's clock is %lld s %s this machine's (leeway %lld s): tokens will look expired or not yet valid",
        who, (long long)mag, diff > 0 ? "ahead of" : "behind", (long long)d->leeway_s);
}

/* Unauthenticated POST initialize: a 401 whose Bearer challenge names an absolute
 * resource_metadata. False when the server did not answer at all. */
static bool check_challenge(struct doctor *d, struct outside *o)
{
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"teamnotes-doctor\",\"version\":\"1\"}}}";
    struct resp r;
    http("POST", o->mcp_url, json_hdrs, init, &r);
    bool answered = r.answered;
    snprintf(o->server_date, sizeof o->server_date, "%s", r.date);
    if (!r.answered) {
        tn_doc_say(d, ST_FAIL, "challenge",
                   "start the server, or check the URL, its port and any firewall",
                   "POST %s: no answer (%s)", o->mcp_url, r.error);
        goto done;
    }
    if (r.status != 401) {
        tn_doc_say(
            d, ST_FAIL, "challenge",
            r.status >= 200 && r.status < 300
                ? "require a token: a server without authentication is open to anyone who finds it"
                : "answer requests without a token with 401 and a WWW-Authenticate: Bearer challenge",
            "POST %s without a token answered HTTP %ld, not 401", o->mcp_url, r.status);
        goto done;
    }
    char rm[1100];
    int b = bearer_param(r.www_auth, "resource_metadata", rm, sizeof rm);
    if (b < 0) {
        tn_doc_say(
            d, ST_FAIL, "challenge",
            "send WWW-Authenticate: Bearer resource_metadata=\"<absolute PRM URL>\" with every 401",
            "401 without a Bearer challenge (WWW-Authenticate: \"%s\")", r.www_auth);
    } else if (b == 0 || !rm[0]) {
        tn_doc_say(
            d, ST_FAIL, "challenge",
            "add resource_metadata=\"<absolute PRM URL>\" to the Bearer challenge (RFC 9728 §5.1)",
            "the 401 challenge names no resource_metadata: clients must guess the PRM location");
    } else {
        struct url u;
        if (!tn_doc_url_parse(rm, &u)) {
            tn_doc_say(
                d, ST_FAIL, "challenge",
                "make resource_metadata an absolute https:// URL (RFC 9728 §5.1); the xmcp reference sends a relative one",
                "the 401 challenge's resource_metadata \"%s\" is not an absolute URL", rm);
        } else {
            snprintf(o->prm_url, sizeof o->prm_url, "%s", rm);
            tn_doc_say(d, ST_OK, "challenge", NULL,
                       "401 with Bearer challenge naming resource_metadata %s", rm);
        }
    }
done:
    tn_buf_deinit(&r.body);
    return answered;
}

/* The PRM at both RFC 9728 locations (and the challenge's, when it is a third); the
 * first good document is checked: resource byte-exact, an authorization server. */
static void check_prm(struct doctor *d, struct outside *o)
{
    char urls[3][1200];
    size_t n = 0;
    char path[1024];
    snprintf(path, sizeof path, "%s", o->mcp.path);
    size_t pl = strlen(path);
    if (pl && path[pl - 1] == '/')
        path[--pl] = '\0';
    if (pl)
        snprintf(urls[n++], sizeof urls[0], "%s" PRM_WELL_KNOWN "%s", o->mcp.origin, path);
    snprintf(urls[n++], sizeof urls[0], "%s" PRM_WELL_KNOWN, o->mcp.origin);
    if (o->prm_url[0] && strcmp(o->prm_url, urls[0]) && (n < 2 || strcmp(o->prm_url, urls[1])))
        snprintf(urls[n++], sizeof urls[0], "%s", o->prm_url);
    json_t *doc = NULL;
    for (size_t i = 0; i < n; i++) {
        struct resp r;
        char why[1400];
        json_t *j = get_json(urls[i], &r, why, sizeof why);
        tn_buf_deinit(&r.body);
        if (j) {
            tn_doc_say(d, ST_OK, "prm", NULL, "protected resource metadata at %s", urls[i]);
            if (!doc || !strcmp(urls[i], o->prm_url)) {
                json_decref(doc);
                doc = j;
            } else {
                json_decref(j);
            }
        } else {
            tn_doc_say(
                d, ST_FAIL, "prm",
                i == n - 1 && o->prm_url[0] && !strcmp(urls[i], o->prm_url)
                    ? "serve the PRM where the challenge says, or fix the challenge's URL"
                    : "serve RFC 9728 metadata at both the path-suffixed and the root URL (clients try both)",
                "protected resource metadata at %s: %s", urls[i], why);
        }
    }
    if (!doc) {
        tn_doc_say(d, ST_SKIP, "prm.resource", NULL,
                   "PRM resource and authorization servers not checked (no PRM)");
        return;
    }
    const char *res = json_string_value(json_object_get(doc, "resource"));
    if (res && !strcmp(res, o->mcp_url))
        tn_doc_say(d, ST_OK, "prm.resource", NULL, "PRM resource equals %s", o->mcp_url);
    else
        tn_doc_say(
            d, ST_FAIL, "prm.resource",
            "make the server's canonical URL exactly the URL clients use (teamnotes: BASE_URL + MCP_PATH)",
            "PRM resource \"%s\" is not the URL asked, %s (RFC 9728 §3.3: byte for byte)",
            res ? res : "(missing)", o->mcp_url);
    size_t i;
    json_t *sc;
    json_array_foreach(json_object_get(doc, "scopes_supported"), i, sc) {
        size_t l = strlen(o->scopes);
        if (json_is_string(sc) && l + strlen(json_string_value(sc)) + 2 < sizeof o->scopes)
            snprintf(o->scopes + l, sizeof o->scopes - l, "%s%s", l ? " " : "",
                     json_string_value(sc));
    }
    json_t *as = json_object_get(doc, "authorization_servers");
    const char *as0 = json_string_value(json_array_get(as, 0));
    struct url au;
    if (as0 && tn_doc_url_parse(as0, &au)) {
        snprintf(o->as, sizeof o->as, "%s", as0);
        tn_doc_say(d, ST_OK, "prm.authorization_servers", NULL, "PRM names authorization server %s",
                   as0);
    } else {
        tn_doc_say(d, ST_FAIL, "prm.authorization_servers",
                   "list the issuer URL in authorization_servers",
                   "PRM names no authorization server (authorization_servers: %s)",
                   as0                 ? as0
                   : json_is_array(as) ? "empty"
                                       : "missing");
    }
    json_decref(doc);
}

static bool json_list_has(json_t *arr, const char *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
        if (json_is_string(e) && !strcmp(json_string_value(e), v))
            return true;
    return false;
}

/* A trial DCR registration (RFC 7591), deleted again when the AS says how (RFC 7592). */
static void check_register(struct doctor *d, const char *endpoint, const char *scope)
{
    json_t *req = json_pack("{s:s, s:[s], s:[s,s], s:[s], s:s, s:s}", "client_name",
                            "teamnotes doctor (trial registration, safe to delete)",
                            "redirect_uris", "http://127.0.0.1:8976/callback", "grant_types",
                            "authorization_code", "refresh_token", "response_types", "code",
                            "token_endpoint_auth_method", "none", "application_type", "native");
    if (scope && scope[0])
        json_object_set_new(req, "scope", json_string(scope));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct resp r;
    http("POST", endpoint, json_hdrs, body ? body : "{}", &r);
    free(body);
    json_t *doc = NULL;
    if (!r.answered) {
        tn_doc_say(d, ST_FAIL, "dcr", "check the registration_endpoint the AS metadata names",
                   "trial registration at %s: no answer (%s)", endpoint, r.error);
        goto done;
    }
    doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    if (r.status < 200 || r.status > 299 || !id) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        const char *ed = json_string_value(json_object_get(doc, "error_description"));
        tn_doc_say(
            d, ST_FAIL, "dcr",
            r.status == 429
                ? "wait for the registration rate limit (DCR_PER_HOUR) or use --no-register"
                : "accept public native clients (token_endpoint_auth_method none, loopback redirect)",
            "trial registration at %s: HTTP %ld%s%s%s%s", endpoint, r.status, e ? " " : "",
            e ? e : "", ed ? ": " : "", ed ? ed : "");
        goto done;
    }
    const char *reg_uri = json_string_value(json_object_get(doc, "registration_client_uri"));
    const char *reg_tok = json_string_value(json_object_get(doc, "registration_access_token"));
    if (!reg_uri || !reg_tok) {
        tn_doc_say(
            d, ST_OK, "dcr", NULL,
            "trial registration works (client %s left registered: the AS offers no RFC 7592 deletion; "
            "on teamnotes: teamnotes client revoke %s)",
            id, id);
        goto done;
    }
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", reg_tok);
    const char *const hdrs[] = {auth, NULL};
    struct resp del;
    http("DELETE", reg_uri, hdrs, NULL, &del);
    sodium_memzero(auth, sizeof auth);
    if (del.answered && del.status == 204)
        tn_doc_say(d, ST_OK, "dcr", NULL, "trial registration works (client %s deleted again)", id);
    else
        tn_doc_say(d, ST_WARN, "dcr", "delete the trial client at the authorization server",
                   "trial registration works, but deleting client %s failed (%s%ld)", id,
                   del.answered ? "HTTP " : "no answer ", del.status);
    tn_buf_deinit(&del.body);
done:
    json_decref(doc);
    tn_buf_deinit(&r.body);
}

static void check_jwks(struct doctor *d, const char *uri)
{
    struct resp r;
    char why[1400];
    http("GET", uri, NULL, NULL, &r);
    struct tn_jwks *set = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    if (!r.answered)
        snprintf(why, sizeof why, "no answer (%s)", r.error);
    else if (r.status != 200)
        snprintf(why, sizeof why, "HTTP %ld", r.status);
    else if (tn_jwks_parse(r.body.data ? r.body.data : "", r.body.len, &set, &err) != TN_OK)
        snprintf(why, sizeof why, "not a JWKS (%s)", err.data ? err.data : "unreadable");
    else if (tn_jwks_count(set) == 0)
        snprintf(why, sizeof why, "no usable signing key (%zu skipped%s%s)", tn_jwks_skipped(set),
                 err.data ? ": " : "", err.data ? err.data : "");
    else
        why[0] = '\0';
    if (!why[0])
        tn_doc_say(d, ST_OK, "jwks", NULL, "JWKS at %s: %zu usable key%s", uri, tn_jwks_count(set),
                   tn_jwks_count(set) == 1 ? "" : "s");
    else
        tn_doc_say(d, ST_FAIL, "jwks",
                   "publish the signing keys (RS256, PS256, ES256 or EdDSA) at jwks_uri",
                   "JWKS at %s: %s", uri, why);
    tn_jwks_free(set);
    tn_buf_deinit(&err);
    tn_buf_deinit(&r.body);
}

/* The authorization server's metadata, tried as the official client does (§5.1 of
 * docs: RFC 8414 path-insert, OIDC path-insert, OIDC append; no path: the two roots). */
static void check_as(struct doctor *d, struct outside *o, const char *scope)
{
    struct url a;
    if (!tn_doc_url_parse(o->as, &a))
        return;
    if (!a.https && !url_loopback(&a))
        tn_doc_say(d, ST_FAIL, "tls", "serve the authorization server over https",
                   "authorization server %s is plain http on a non-loopback host", o->as);
    char path[1024];
    snprintf(path, sizeof path, "%s", a.path);
    size_t pl = strlen(path);
    if (pl && path[pl - 1] == '/')
        path[--pl] = '\0';
    char urls[3][1200];
    size_t n = 0;
    snprintf(urls[n++], sizeof urls[0], "%s/.well-known/oauth-authorization-server%s", a.origin,
             path);
    snprintf(urls[n++], sizeof urls[0], "%s/.well-known/openid-configuration%s", a.origin, path);
    if (pl)
        snprintf(urls[n++], sizeof urls[0], "%s%s/.well-known/openid-configuration", a.origin,
                 path);
    json_t *doc = NULL;
    char tried[4000] = "";
    char as_date[64] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && !doc; i++) {
        struct resp r;
        char why[1400];
        doc = get_json(urls[i], &r, why, sizeof why);
        if (doc) {
            snprintf(as_date, sizeof as_date, "%s", r.date);
            tn_doc_say(d, ST_OK, "as.metadata", NULL, "authorization server metadata at %s",
                       urls[i]);
        } else if (used < sizeof tried) {
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s: %s",
                                     used ? "; " : "", urls[i], why);
        }
        tn_buf_deinit(&r.body);
        if (!doc && r.answered && r.status >= 500)
            break; /* the official client stops at a 5xx */
    }
    if (!doc) {
        tn_doc_say(
            d, ST_FAIL, "as.metadata",
            "serve RFC 8414 (or OpenID Connect discovery) metadata for the issuer the PRM names",
            "no authorization server metadata for %s (%s)", o->as, tried);
        return;
    }
    const char *iss = json_string_value(json_object_get(doc, "issuer"));
    if (iss && !strcmp(iss, o->as))
        tn_doc_say(d, ST_OK, "as.issuer", NULL,
                   "metadata issuer equals the PRM's authorization server");
    else
        tn_doc_say(
            d, ST_FAIL, "as.issuer",
            "make the PRM's authorization_servers entry and the metadata's issuer identical (trailing slash included)",
            "metadata issuer \"%s\" differs from the PRM's authorization server \"%s\"",
            iss ? iss : "(missing)", o->as);
    bool code = json_list_has(json_object_get(doc, "response_types_supported"), "code");
    bool s256 = json_list_has(json_object_get(doc, "code_challenge_methods_supported"), "S256");
    if (code && s256)
        tn_doc_say(d, ST_OK, "as.pkce", NULL, "authorization code flow with PKCE S256 advertised");
    else
        tn_doc_say(
            d, ST_FAIL, "as.pkce",
            "advertise response_types_supported [\"code\"] and code_challenge_methods_supported [\"S256\"]",
            "metadata lacks %s%s%s (MCP clients refuse such a server)",
            code ? "" : "response type code", !code && !s256 ? " and " : "",
            s256 ? "" : "PKCE method S256");
    const char *reg = json_string_value(json_object_get(doc, "registration_endpoint"));
    bool cimd = json_is_true(json_object_get(doc, "client_id_metadata_document_supported"));
    if (reg || cimd)
        tn_doc_say(
            d, ST_OK, "as.registration", NULL, "clients can register: %s%s%s", reg ? "DCR at " : "",
            reg ? reg : "",
            cimd ? (reg ? " and client ID metadata documents" : "client ID metadata documents")
                 : "");
    else
        tn_doc_say(
            d, ST_FAIL, "as.registration",
            "enable dynamic client registration or client ID metadata documents at the authorization server (Scalekit: both are dashboard toggles)",
            "metadata has neither registration_endpoint nor client_id_metadata_document_supported: clients cannot register");
    if (!reg)
        tn_doc_say(d, ST_SKIP, "dcr", NULL,
                   "trial registration skipped (no registration_endpoint)");
    else if (!d->do_register)
        tn_doc_say(d, ST_SKIP, "dcr", NULL, "trial registration skipped (--no-register)");
    else
        check_register(d, reg, scope);
    const char *jwks = json_string_value(json_object_get(doc, "jwks_uri"));
    if (jwks)
        check_jwks(d, jwks);
    else
        tn_doc_say(d, ST_FAIL, "jwks", "publish jwks_uri in the metadata",
                   "metadata names no jwks_uri");
    if (strcmp(a.origin, o->mcp.origin))
        check_clock(d, "the authorization server", as_date);
    json_decref(doc);
}

/* /readyz and /metrics at the server's origin, as teamnotes serves them: ready (or which
 * of its checks fail), and metrics not readable by anyone (401 or 404 without a token).
 * A server without /readyz (another MCP server) is skipped, not failed. */
static void check_ops(struct doctor *d, const struct outside *o)
{
    char url[1100], why[300];
    struct resp r;
    snprintf(url, sizeof url, "%s/readyz", o->mcp.origin);
    json_t *doc = get_json(url, &r, why, sizeof why);
    const char *status = doc ? json_string_value(json_object_get(doc, "status")) : NULL;
    if (status && !strcmp(status, "ready")) {
        tn_doc_say(d, ST_OK, "readyz", NULL, "%s: ready", url);
    } else if (r.answered && r.status == 503) {
        json_t *failed = NULL;
        json_decref(doc);
        doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
        failed = json_object_get(doc, "failed");
        char names[300] = "";
        size_t i;
        json_t *v;
        json_array_foreach(failed, i, v) {
            const char *s = json_string_value(v);
            if (s && strlen(names) + strlen(s) + 3 < sizeof names)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         names[0] ? ", " : "", s);
        }
        tn_doc_say(d, ST_FAIL, "readyz",
                   "see the server's log; store: is the database reachable? signing_keys: does "
                   "SECRET_KEY match the one the keys were sealed with? token_keys: can the "
                   "server fetch the issuer's JWKS?",
                   "%s: not ready (%s)", url, names[0] ? names : "no reason given");
    } else if (r.answered && r.status == 404) {
        tn_doc_say(d, ST_SKIP, "readyz", NULL, "%s: none (not a teamnotes server?)", url);
    } else {
        tn_doc_say(d, ST_WARN, "readyz", "check that the proxy passes /readyz to the server",
                   "%s: %s", url, why[0] ? why : "unexpected answer");
    }
    json_decref(doc);
    tn_buf_deinit(&r.body);

    snprintf(url, sizeof url, "%s/metrics", o->mcp.origin);
    static const char *const hdrs[] = {"Accept: text/plain", NULL};
    http("GET", url, hdrs, NULL, &r);
    if (!r.answered)
        tn_doc_say(d, ST_SKIP, "metrics", NULL, "%s: no answer (%s)", url, r.error);
    else if (r.status == 401 || r.status == 403)
        tn_doc_say(d, ST_OK, "metrics", NULL, "%s: needs a token (HTTP %ld)", url, r.status);
    else if (r.status == 404)
        tn_doc_say(d, ST_OK, "metrics", NULL,
                   "%s: not served publicly (METRICS_LISTEN or no METRICS_TOKEN)", url);
    else if (r.status == 200)
        tn_doc_say(d, ST_FAIL, "metrics",
                   "set METRICS_TOKEN, or serve metrics on a private METRICS_LISTEN address, or "
                   "block /metrics at the proxy",
                   "%s: anyone can read the server's metrics", url);
    else
        tn_doc_say(d, ST_WARN, "metrics", NULL, "%s: HTTP %ld", url, r.status);
    tn_buf_deinit(&r.body);
}

/* Everything a client sees of the deployment at `mcp_url`. `expect_issuer`, when not
 * NULL, is the issuer this configuration says the PRM must name. */
void tn_doc_run_outside(struct doctor *d, const char *mcp_url, const char *expect_issuer)
{
    struct outside o;
    memset(&o, 0, sizeof o);
    o.mcp_url = mcp_url;
    if (!tn_doc_url_parse(mcp_url, &o.mcp)) {
        tn_doc_say(d, ST_FAIL, "url",
                   "give the MCP endpoint's absolute URL, e.g. https://notes.example.com/mcp",
                   "%s is not an absolute http(s) URL", mcp_url);
        return;
    }
    if (o.mcp.https)
        tn_doc_say(d, ST_OK, "tls", NULL, "%s uses https", mcp_url);
    else if (url_loopback(&o.mcp))
        tn_doc_say(d, ST_OK, "tls", NULL, "%s is plain http on loopback (development only)",
                   mcp_url);
    else
        tn_doc_say(d, ST_FAIL, "tls",
                   "serve it over https (terminate TLS at a proxy) and use the https:// URL",
                   "%s is plain http on a non-loopback host: tokens travel unencrypted", mcp_url);
    if (!check_challenge(d, &o)) {
        tn_doc_say(
            d, ST_SKIP, "prm", NULL,
            "metadata, registration, keys and clock not checked (the server did not answer)");
        return;
    }
    check_clock(d, "the MCP server", o.server_date);
    check_ops(d, &o);
    check_prm(d, &o);
    if (expect_issuer && o.as[0]) {
        if (!strcmp(o.as, expect_issuer))
            tn_doc_say(d, ST_OK, "prm.issuer", NULL,
                       "the running server names this configuration's issuer %s", expect_issuer);
        else
            tn_doc_say(
                d, ST_FAIL, "prm.issuer",
                "the server runs with other settings: restart it with this configuration, or run doctor with its settings",
                "the running server names issuer %s, this configuration %s", o.as, expect_issuer);
    }
    if (!o.as[0])
        return;
    check_as(d, &o, o.scopes);
}
