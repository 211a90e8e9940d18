/* teamnotes doctor (cli/doctor.h).
 *
 * Reading order: the report (one line per check), a small HTTP client (the outside
 * checks need methods, request bodies and response headers that tn_fetch does not
 * give), the outside checks (challenge → PRM → AS metadata → registration → JWKS →
 * clock), the local checks (configuration, storage, secret, signing keys, external
 * issuer, mail, isolation self-test), then main.
 *
 * Nothing here changes live data: the store is only probed (store/probe.h) and read
 * when it is already at this binary's schema, the isolation self-test runs in a scratch
 * SQLite store that is deleted afterwards, and the one thing left on a remote server is
 * a trial client registration when the server offers no RFC 7592 deletion (said so;
 * --no-register skips it). */
#include "cli/doctor.h"

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

#define DOC_MAX_BODY (1u << 20)
#define DOC_TIMEOUT_MS 10000u
#define PRM_WELL_KNOWN "/.well-known/oauth-protected-resource"

static const char usage[] =
    "Usage:\n"
    "  teamnotes doctor [--local] [--no-register] [--plain|--json] [serve options ...]\n"
    "      checks this configuration (read as `serve` reads it), then the running\n"
    "      deployment it describes (BASE_URL + MCP_PATH); --local: the configuration only\n"
    "  teamnotes doctor --url https://notes.example.com/mcp [--no-register] [--plain|--json]\n"
    "      the outside checks only, against any MCP server\n"
    "Options:\n"
    "  --no-register   skip the trial client registration (DCR)\n"
    "  --leeway S      clock difference tolerated, seconds (default AUTH_LEEWAY_S, 30)\n"
    "  --plain         ASCII lines (ok/WARN/FAIL/skip), also when stdout is not a terminal\n"
    "  --json          one JSON document: {\"checks\":[{id,status,message,fix}],...}\n"
    "Exit status: 0 no check failed, 1 a check failed, 2 usage error.\n";

/* ---------- the report ---------- */

enum st { ST_OK, ST_WARN, ST_FAIL, ST_SKIP };
static const char *const st_name[] = {"ok", "warn", "fail", "skip"};
static const char *const st_plain[] = {"ok  ", "WARN", "FAIL", "skip"};
static const char *const st_glyph[] = {"\xe2\x9c\x94", "\xe2\x9a\xa0", "\xe2\x9c\x96", "\xe2\x80\x93"};

struct doctor {
    bool plain, json, do_register;
    int64_t leeway_s;
    unsigned counts[4];
    json_t *checks;
};

/* One check's line: `id` a stable name for scripts, `fix` NULL for ok and skip. */
__attribute__((format(printf, 5, 6))) static void say(struct doctor *d, enum st s, const char *id,
                                                      const char *fix, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->counts[s]++;
    if (d->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "id", id, "status", st_name[s], "message", msg);
        if (o && fix)
            json_object_set_new(o, "fix", json_string(fix));
        json_array_append_new(d->checks, o);
        return;
    }
    if (d->plain)
        printf("%s %s%s%s\n", st_plain[s], msg, fix ? " -- fix: " : "", fix ? fix : "");
    else
        printf("%s %s%s%s\n", st_glyph[s], msg, fix ? " \xe2\x80\x94 fix: " : "", fix ? fix : "");
    fflush(stdout);
}

/* ---------- URLs ---------- */

struct url {
    bool https;
    char origin[520]; /* scheme://authority */
    char host[300];   /* without port or brackets' content checks */
    char path[1024];  /* "" when none; no query */
};

/* Splits an absolute http(s) URL. False when it is not one (or does not fit). */
static bool url_parse(const char *u, struct url *out)
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
    json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES,
                             NULL);
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
    char prm_url[1100];  /* the challenge's resource_metadata, "" when none */
    char as[600];        /* the PRM's first authorization server, "" when none */
    char scopes[512];    /* the PRM's scopes_supported, space-separated */
    char server_date[64];
};

static const char *const json_hdrs[] = {"Content-Type: application/json",
                                        "Accept: application/json, text/event-stream", NULL};

static void check_clock(struct doctor *d, const char *who, const char *date)
{
    if (!date[0]) {
        say(d, ST_SKIP, "clock", NULL, "%s sent no Date header: clocks not compared", who);
        return;
    }
    time_t t = curl_getdate(date, NULL);
    if (t < 0) {
        say(d, ST_WARN, "clock", "send an RFC 9110 Date header", "%s sent an unreadable Date header \"%s\"",
            who, date);
        return;
    }
    int64_t diff = (int64_t)t - tn_time_now_ms() / 1000;
    int64_t mag = diff < 0 ? -diff : diff;
    if (mag <= d->leeway_s) {
        say(d, ST_OK, "clock", NULL, "%s's clock is within %lld s of this machine's (leeway %lld s)",
            who, (long long)(mag > 1 ? mag : 1), (long long)d->leeway_s);
        return;
    }
    say(d, ST_FAIL, "clock", "synchronise both clocks (systemd-timesyncd, chrony or ntpd)",
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
        say(d, ST_FAIL, "challenge", "start the server, or check the URL, its port and any firewall",
            "POST %s: no answer (%s)", o->mcp_url, r.error);
        goto done;
    }
    if (r.status != 401) {
        say(d, ST_FAIL, "challenge",
            r.status >= 200 && r.status < 300
                ? "require a token: a server without authentication is open to anyone who finds it"
                : "answer requests without a token with 401 and a WWW-Authenticate: Bearer challenge",
            "POST %s without a token answered HTTP %ld, not 401", o->mcp_url, r.status);
        goto done;
    }
    char rm[1100];
    int b = bearer_param(r.www_auth, "resource_metadata", rm, sizeof rm);
    if (b < 0) {
        say(d, ST_FAIL, "challenge", "send WWW-Authenticate: Bearer resource_metadata=\"<absolute PRM URL>\" with every 401",
            "401 without a Bearer challenge (WWW-Authenticate: \"%s\")", r.www_auth);
    } else if (b == 0 || !rm[0]) {
        say(d, ST_FAIL, "challenge", "add resource_metadata=\"<absolute PRM URL>\" to the Bearer challenge (RFC 9728 §5.1)",
            "the 401 challenge names no resource_metadata: clients must guess the PRM location");
    } else {
        struct url u;
        if (!url_parse(rm, &u)) {
            say(d, ST_FAIL, "challenge", "make resource_metadata an absolute https:// URL (RFC 9728 §5.1); the xmcp reference sends a relative one",
                "the 401 challenge's resource_metadata \"%s\" is not an absolute URL", rm);
        } else {
            snprintf(o->prm_url, sizeof o->prm_url, "%s", rm);
            say(d, ST_OK, "challenge", NULL, "401 with Bearer challenge naming resource_metadata %s", rm);
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
            say(d, ST_OK, "prm", NULL, "protected resource metadata at %s", urls[i]);
            if (!doc || !strcmp(urls[i], o->prm_url)) {
                json_decref(doc);
                doc = j;
            } else {
                json_decref(j);
            }
        } else {
            say(d, ST_FAIL, "prm",
                i == n - 1 && o->prm_url[0] && !strcmp(urls[i], o->prm_url)
                    ? "serve the PRM where the challenge says, or fix the challenge's URL"
                    : "serve RFC 9728 metadata at both the path-suffixed and the root URL (clients try both)",
                "protected resource metadata at %s: %s", urls[i], why);
        }
    }
    if (!doc) {
        say(d, ST_SKIP, "prm.resource", NULL, "PRM resource and authorization servers not checked (no PRM)");
        return;
    }
    const char *res = json_string_value(json_object_get(doc, "resource"));
    if (res && !strcmp(res, o->mcp_url))
        say(d, ST_OK, "prm.resource", NULL, "PRM resource equals %s", o->mcp_url);
    else
        say(d, ST_FAIL, "prm.resource",
            "make the server's canonical URL exactly the URL clients use (teamnotes: BASE_URL + MCP_PATH)",
            "PRM resource \"%s\" is not the URL asked, %s (RFC 9728 §3.3: byte for byte)",
            res ? res : "(missing)", o->mcp_url);
    size_t i;
    json_t *sc;
    json_array_foreach(json_object_get(doc, "scopes_supported"), i, sc)
    {
        size_t l = strlen(o->scopes);
        if (json_is_string(sc) && l + strlen(json_string_value(sc)) + 2 < sizeof o->scopes)
            snprintf(o->scopes + l, sizeof o->scopes - l, "%s%s", l ? " " : "", json_string_value(sc));
    }
    json_t *as = json_object_get(doc, "authorization_servers");
    const char *as0 = json_string_value(json_array_get(as, 0));
    struct url au;
    if (as0 && url_parse(as0, &au)) {
        snprintf(o->as, sizeof o->as, "%s", as0);
        say(d, ST_OK, "prm.authorization_servers", NULL, "PRM names authorization server %s", as0);
    } else {
        say(d, ST_FAIL, "prm.authorization_servers", "list the issuer URL in authorization_servers",
            "PRM names no authorization server (authorization_servers: %s)",
            as0 ? as0 : json_is_array(as) ? "empty" : "missing");
    }
    json_decref(doc);
}

static bool json_list_has(json_t *arr, const char *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (json_is_string(e) && !strcmp(json_string_value(e), v)) return true;
    return false;
}

/* A trial DCR registration (RFC 7591), deleted again when the AS says how (RFC 7592). */
static void check_register(struct doctor *d, const char *endpoint, const char *scope)
{
    json_t *req = json_pack("{s:s, s:[s], s:[s,s], s:[s], s:s, s:s}", "client_name",
                            "teamnotes doctor (trial registration, safe to delete)", "redirect_uris",
                            "http://127.0.0.1:8976/callback", "grant_types", "authorization_code",
                            "refresh_token", "response_types", "code", "token_endpoint_auth_method",
                            "none", "application_type", "native");
    if (scope && scope[0])
        json_object_set_new(req, "scope", json_string(scope));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct resp r;
    http("POST", endpoint, json_hdrs, body ? body : "{}", &r);
    free(body);
    json_t *doc = NULL;
    if (!r.answered) {
        say(d, ST_FAIL, "dcr", "check the registration_endpoint the AS metadata names",
            "trial registration at %s: no answer (%s)", endpoint, r.error);
        goto done;
    }
    doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    if (r.status < 200 || r.status > 299 || !id) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        const char *ed = json_string_value(json_object_get(doc, "error_description"));
        say(d, ST_FAIL, "dcr",
            r.status == 429 ? "wait for the registration rate limit (DCR_PER_HOUR) or use --no-register"
                            : "accept public native clients (token_endpoint_auth_method none, loopback redirect)",
            "trial registration at %s: HTTP %ld%s%s%s%s", endpoint, r.status, e ? " " : "", e ? e : "",
            ed ? ": " : "", ed ? ed : "");
        goto done;
    }
    const char *reg_uri = json_string_value(json_object_get(doc, "registration_client_uri"));
    const char *reg_tok = json_string_value(json_object_get(doc, "registration_access_token"));
    if (!reg_uri || !reg_tok) {
        say(d, ST_OK, "dcr", NULL,
            "trial registration works (client %s left registered: the AS offers no RFC 7592 deletion; "
            "on teamnotes: teamnotes client revoke %s)", id, id);
        goto done;
    }
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", reg_tok);
    const char *const hdrs[] = {auth, NULL};
    struct resp del;
    http("DELETE", reg_uri, hdrs, NULL, &del);
    sodium_memzero(auth, sizeof auth);
    if (del.answered && del.status == 204)
        say(d, ST_OK, "dcr", NULL, "trial registration works (client %s deleted again)", id);
    else
        say(d, ST_WARN, "dcr", "delete the trial client at the authorization server",
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
        say(d, ST_OK, "jwks", NULL, "JWKS at %s: %zu usable key%s", uri, tn_jwks_count(set),
            tn_jwks_count(set) == 1 ? "" : "s");
    else
        say(d, ST_FAIL, "jwks", "publish the signing keys (RS256, PS256, ES256 or EdDSA) at jwks_uri",
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
    if (!url_parse(o->as, &a))
        return;
    if (!a.https && !url_loopback(&a))
        say(d, ST_FAIL, "tls", "serve the authorization server over https",
            "authorization server %s is plain http on a non-loopback host", o->as);
    char path[1024];
    snprintf(path, sizeof path, "%s", a.path);
    size_t pl = strlen(path);
    if (pl && path[pl - 1] == '/')
        path[--pl] = '\0';
    char urls[3][1200];
    size_t n = 0;
    snprintf(urls[n++], sizeof urls[0], "%s/.well-known/oauth-authorization-server%s", a.origin, path);
    snprintf(urls[n++], sizeof urls[0], "%s/.well-known/openid-configuration%s", a.origin, path);
    if (pl)
        snprintf(urls[n++], sizeof urls[0], "%s%s/.well-known/openid-configuration", a.origin, path);
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
            say(d, ST_OK, "as.metadata", NULL, "authorization server metadata at %s", urls[i]);
        } else if (used < sizeof tried) {
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s: %s", used ? "; " : "",
                                     urls[i], why);
        }
        tn_buf_deinit(&r.body);
        if (!doc && r.answered && r.status >= 500)
            break; /* the official client stops at a 5xx */
    }
    if (!doc) {
        say(d, ST_FAIL, "as.metadata",
            "serve RFC 8414 (or OpenID Connect discovery) metadata for the issuer the PRM names",
            "no authorization server metadata for %s (%s)", o->as, tried);
        return;
    }
    const char *iss = json_string_value(json_object_get(doc, "issuer"));
    if (iss && !strcmp(iss, o->as))
        say(d, ST_OK, "as.issuer", NULL, "metadata issuer equals the PRM's authorization server");
    else
        say(d, ST_FAIL, "as.issuer",
            "make the PRM's authorization_servers entry and the metadata's issuer identical (trailing slash included)",
            "metadata issuer \"%s\" differs from the PRM's authorization server \"%s\"", iss ? iss : "(missing)",
            o->as);
    bool code = json_list_has(json_object_get(doc, "response_types_supported"), "code");
    bool s256 = json_list_has(json_object_get(doc, "code_challenge_methods_supported"), "S256");
    if (code && s256)
        say(d, ST_OK, "as.pkce", NULL, "authorization code flow with PKCE S256 advertised");
    else
        say(d, ST_FAIL, "as.pkce",
            "advertise response_types_supported [\"code\"] and code_challenge_methods_supported [\"S256\"]",
            "metadata lacks %s%s%s (MCP clients refuse such a server)", code ? "" : "response type code",
            !code && !s256 ? " and " : "", s256 ? "" : "PKCE method S256");
    const char *reg = json_string_value(json_object_get(doc, "registration_endpoint"));
    bool cimd = json_is_true(json_object_get(doc, "client_id_metadata_document_supported"));
    if (reg || cimd)
        say(d, ST_OK, "as.registration", NULL, "clients can register: %s%s%s", reg ? "DCR at " : "",
            reg ? reg : "", cimd ? (reg ? " and client ID metadata documents" : "client ID metadata documents")
                                 : "");
    else
        say(d, ST_FAIL, "as.registration",
            "enable dynamic client registration or client ID metadata documents at the authorization server (Scalekit: both are dashboard toggles)",
            "metadata has neither registration_endpoint nor client_id_metadata_document_supported: clients cannot register");
    if (!reg)
        say(d, ST_SKIP, "dcr", NULL, "trial registration skipped (no registration_endpoint)");
    else if (!d->do_register)
        say(d, ST_SKIP, "dcr", NULL, "trial registration skipped (--no-register)");
    else
        check_register(d, reg, scope);
    const char *jwks = json_string_value(json_object_get(doc, "jwks_uri"));
    if (jwks)
        check_jwks(d, jwks);
    else
        say(d, ST_FAIL, "jwks", "publish jwks_uri in the metadata", "metadata names no jwks_uri");
    if (strcmp(a.origin, o->mcp.origin))
        check_clock(d, "the authorization server", as_date);
    json_decref(doc);
}

/* Everything a client sees of the deployment at `mcp_url`. `expect_issuer`, when not
 * NULL, is the issuer this configuration says the PRM must name. */
static void run_outside(struct doctor *d, const char *mcp_url, const char *expect_issuer)
{
    struct outside o;
    memset(&o, 0, sizeof o);
    o.mcp_url = mcp_url;
    if (!url_parse(mcp_url, &o.mcp)) {
        say(d, ST_FAIL, "url", "give the MCP endpoint's absolute URL, e.g. https://notes.example.com/mcp",
            "%s is not an absolute http(s) URL", mcp_url);
        return;
    }
    if (o.mcp.https)
        say(d, ST_OK, "tls", NULL, "%s uses https", mcp_url);
    else if (url_loopback(&o.mcp))
        say(d, ST_OK, "tls", NULL, "%s is plain http on loopback (development only)", mcp_url);
    else
        say(d, ST_FAIL, "tls", "serve it over https (terminate TLS at a proxy) and use the https:// URL",
            "%s is plain http on a non-loopback host: tokens travel unencrypted", mcp_url);
    if (!check_challenge(d, &o)) {
        say(d, ST_SKIP, "prm", NULL, "metadata, registration, keys and clock not checked (the server did not answer)");
        return;
    }
    check_clock(d, "the MCP server", o.server_date);
    check_prm(d, &o);
    if (expect_issuer && o.as[0]) {
        if (!strcmp(o.as, expect_issuer))
            say(d, ST_OK, "prm.issuer", NULL, "the running server names this configuration's issuer %s",
                expect_issuer);
        else
            say(d, ST_FAIL, "prm.issuer",
                "the server runs with other settings: restart it with this configuration, or run doctor with its settings",
                "the running server names issuer %s, this configuration %s", o.as, expect_issuer);
    }
    if (!o.as[0])
        return;
    check_as(d, &o, o.scopes);
}

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

static void check_secret(struct doctor *d, const struct tn_config *cfg)
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    bool pg = tn_config_str(cfg, TN_CFG_DATABASE_URL)[0] != '\0';
    if (k[0]) {
        say(d, ST_OK, "secret_key", NULL, "SECRET_KEY is set (%zu characters)", strlen(k));
        return;
    }
    if (pg) {
        say(d, ST_FAIL, "secret_key",
            "give every instance the same SECRET_KEY of 32+ random characters (openssl rand -hex 32)",
            "DATABASE_URL is set but SECRET_KEY is not: instances cannot share state or open the signing keys");
        return;
    }
    uint8_t key[32];
    int s = read_secret(cfg, key);
    sodium_memzero(key, sizeof key);
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    if (s > 0)
        say(d, ST_OK, "secret_key", NULL, "server secret in %s/secret.key", dir);
    else if (s == 0)
        say(d, ST_OK, "secret_key", NULL, "no SECRET_KEY: serve creates %s/secret.key on its first start", dir);
    else
        say(d, ST_FAIL, "secret_key",
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
        say(d, ST_FAIL, "signing_keys", "check that the store is readable", "cannot read the signing keys");
        goto done;
    }
    if (kr->n == 0) {
        say(d, ST_OK, "signing_keys", NULL, "no signing key yet: serve creates one on its first start");
        goto done;
    }
    int have = read_secret(cfg, secret);
    if (have <= 0 || tn_as_keys_kek(kek, secret, sizeof secret) != TN_OK) {
        say(d, ST_FAIL, "signing_keys",
            "start with the SECRET_KEY (or DATA_DIR/secret.key) that sealed them; never delete the keys: issued tokens would stop working",
            "%zu signing key%s stored but no server secret to open them", kr->n, kr->n == 1 ? "" : "s");
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
            say(d, ST_FAIL, "signing_keys",
                "start with the SECRET_KEY (or DATA_DIR/secret.key) that sealed it; never delete keys to cure this: issued tokens would stop working",
                "signing key %s does not open with this server secret (%s)", k->kid, tn_err_message(e));
            goto done;
        }
        signing += k->signs_from <= now && now < k->retire_at;
    }
    say(d, ST_OK, "signing_keys", NULL, "%zu signing key%s open with the server secret (%zu signing now)",
        kr->n, kr->n == 1 ? "" : "s", signing);
done:
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(kek, sizeof kek);
    free(kr);
}

/* Storage: reachable, writable, at this binary's schema; then (only when nothing is
 * pending, so opening changes nothing) the signing keys and the accounts. */
static void check_storage(struct doctor *d, const struct tn_config *cfg, bool builtin)
{
    struct tn_store_probe p;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    const char *dbu = tn_config_str(cfg, TN_CFG_DATABASE_URL);
    enum tn_err e = tn_store_probe(tn_config_str(cfg, TN_CFG_DATA_DIR), dbu, &p, &err);
    bool ready = false;
    if (e != TN_OK) {
        say(d, ST_FAIL, "storage",
            dbu[0] ? "check DATABASE_URL, that PostgreSQL runs and that the role may connect"
                   : "check DATA_DIR and the file's permissions",
            "storage: %s", err.data ? err.data : tn_err_message(e));
    } else if (!p.exists) {
        if (p.writable)
            say(d, ST_OK, "storage", NULL, "storage: no database yet at %s; serve creates it (the directory is writable)", p.where);
        else
            say(d, ST_FAIL, "storage", "make DATA_DIR writable for the user that runs teamnotes",
                "storage: no database at %s and its directory is not writable", p.where);
    } else if (p.version > p.latest) {
        say(d, ST_FAIL, "storage", "run the teamnotes version that wrote it (or a newer one)",
            "storage: %s %s is at schema version %d, newer than this binary's %d", p.backend, p.where,
            p.version, p.latest);
    } else if (p.version < p.latest) {
        say(d, ST_FAIL, "storage", "run `teamnotes migrate` (serve also migrates when it starts)",
            "storage: %s %s is at schema version %d, this binary needs %d", p.backend, p.where, p.version,
            p.latest);
    } else if (!p.writable) {
        say(d, ST_FAIL, "storage",
            dbu[0] ? "connect to the primary with a role that may write the notes"
                   : "give the user that runs teamnotes write access to the file and its directory",
            "storage: %s %s is at schema version %d but not writable", p.backend, p.where, p.version);
    } else {
        say(d, ST_OK, "storage", NULL, "storage: %s %s, schema version %d (this binary's), writable", p.backend,
            p.where, p.version);
        ready = true;
    }
    tn_buf_deinit(&err);
    if (!builtin)
        return;
    if (!ready || !p.exists) {
        if (p.exists || e != TN_OK)
            say(d, ST_SKIP, "signing_keys", NULL, "signing keys not checked (storage not ready)");
        else
            say(d, ST_OK, "signing_keys", NULL, "no signing key yet: serve creates one on its first start");
        return;
    }
    struct tn_store *s = NULL;
    tn_buf_init(&err, 1024);
    if (tn_store_open(tn_config_str(cfg, TN_CFG_DATA_DIR), dbu, &s, &err) != TN_OK) {
        say(d, ST_FAIL, "signing_keys", "check the storage", "cannot open the store: %s",
            err.data ? err.data : "error");
    } else {
        check_keys(d, cfg, s);
        int64_t users = 0;
        if (tn_store_user_count(s, &users) == TN_OK && users == 0)
            say(d, ST_WARN, "accounts", "open the one-time /setup link serve logs on its first start, or teamnotes user add EMAIL",
                "no accounts yet: nobody can sign in with a password");
        else if (users > 0)
            say(d, ST_OK, "accounts", NULL, "%lld account%s", (long long)users, users == 1 ? "" : "s");
    }
    tn_store_close(s);
    tn_buf_deinit(&err);
}

static void fetch_why(enum tn_err e, const struct tn_fetch_result *r, char *why, size_t cap)
{
    if (e == TN_ERR_IO)
        snprintf(why, cap, "no answer");
    else if (e == TN_ERR_FORBIDDEN)
        snprintf(why, cap, "refused by the server's fetch policy (https only; loopback only for a loopback issuer; no private addresses)");
    else if (e == TN_ERR_LIMIT)
        snprintf(why, cap, "too large");
    else if (e != TN_OK)
        snprintf(why, cap, "%s", tn_err_message(e));
    else
        snprintf(why, cap, "HTTP %ld", r->status);
}

/* External issuer: every issuer form the server accepts is named by a metadata document
 * it can fetch (under the server's own fetch policy), and the keys are usable. */
static void check_issuer(struct doctor *d, const struct tn_config *cfg, const struct tn_issuer_urls *u)
{
    struct tn_fetch_opts fo = {(unsigned)tn_config_int(cfg, TN_CFG_AUTH_FETCH_TIMEOUT_MS), 256 * 1024,
                               u->loopback_http};
    char jwks[TN_ISSUER_DOC_SIZE] = "";
    bool named[TN_ISSUER_MAX] = {false};
    char named_by[TN_ISSUER_MAX][TN_ISSUER_DOC_SIZE];
    char tried[4000] = "";
    size_t used = 0;
    for (size_t i = 0; i < u->n_metadata; i++) {
        struct tn_fetch_result r;
        enum tn_err e = tn_fetch(u->metadata[i], &fo, &r);
        json_t *doc = e == TN_OK && r.status == 200
                          ? json_loadb(r.body.data ? r.body.data : "", r.body.len, JSON_REJECT_DUPLICATES, NULL)
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
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s: %s", used ? "; " : "",
                                     u->metadata[i], why);
        }
        json_decref(doc);
        tn_buf_deinit(&r.body);
    }
    for (size_t k = 0; k < u->n_issuers; k++) {
        if (named[k])
            say(d, ST_OK, "issuer.discovery", NULL, "issuer %s: metadata at %s", u->issuers[k], named_by[k]);
        else
            say(d, ST_FAIL, "issuer.discovery",
                "check AUTH_ISSUER (or SCALEKIT_ENVIRONMENT_URL/SCALEKIT_RESOURCE_ID): it must be the exact issuer the provider publishes, reachable from this host",
                "issuer %s: no metadata names it (%s)", u->issuers[k], tried);
    }
    const char *uri = u->jwks[0] ? u->jwks : jwks[0] ? jwks : u->jwks_fallback;
    if (!uri[0]) {
        say(d, ST_FAIL, "issuer.jwks", "make the issuer's metadata reachable, or set AUTH_JWKS_URI",
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
        say(d, ST_FAIL, "issuer.jwks", "check the issuer's jwks_uri (or AUTH_JWKS_URI)", "issuer keys at %s: %s",
            uri, why);
    else
        say(d, ST_OK, "issuer.jwks", NULL, "issuer keys at %s: %zu usable", uri, tn_jwks_count(set));
    tn_jwks_free(set);
    tn_buf_deinit(&r.body);
}

/* Mail: connect, greeting, EHLO, STARTTLS (or implicit TLS) and login when configured,
 * through libcurl's connect-only mode: no MAIL FROM, nothing sent. */
static void check_mail(struct doctor *d, const struct tn_config *cfg)
{
    const char *url = tn_config_str(cfg, TN_CFG_SMTP_URL);
    if (!url[0]) {
        say(d, ST_OK, "mail", NULL, "mail: no SMTP_URL; messages are written to %s/outbox/",
            tn_config_str(cfg, TN_CFG_DATA_DIR));
        return;
    }
    char shown[300];
    snprintf(shown, sizeof shown, "%.*s", (int)strcspn(url + 8, "/") + 8, url); /* scheme://host:port */
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
    curl_easy_setopt(h, CURLOPT_USE_SSL, !strcmp(tls, "none") ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
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
        say(d, ST_OK, "mail", NULL, "mail: %s answers (%s%s; nothing sent)", shown,
            !strcmp(tls, "none") ? "plaintext to a loopback relay" : "TLS verified",
            user[0] ? ", login accepted" : "");
    else
        say(d, ST_FAIL, "mail",
            rc == CURLE_LOGIN_DENIED ? "check SMTP_USERNAME and SMTP_PASSWORD"
            : rc == CURLE_USE_SSL_FAILED || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR
                ? "the relay must offer STARTTLS (smtp://) or TLS (smtps://) with a certificate this host trusts (SMTP_CA_FILE)"
                : "check SMTP_URL and that the relay accepts connections from this host",
            "mail: %s: %s", shown, curl_easy_strerror(rc));
    curl_easy_cleanup(h);
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
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
             "\"arguments\":%s,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
             "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
             tool, args);
    struct hdrs h = {tool};
    struct tn_mcp_http_in in = {.method = "POST", .header = self_header, .ud = &h,
                                .body = {body, strlen(body)}, .principal = p, .subject = p->key,
                                .request_id = "doctor"};
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 1 << 20);
    tn_mcp_handle(s, &in, &out);
    json_t *resp = out.status == 200 && out.body.data ? json_loads(out.body.data, 0, NULL) : NULL;
    tn_mcp_parked_free(out.parked);
    tn_buf_deinit(&out.body);
    json_t *res = json_object_get(resp, "result");
    json_t *sc = json_object_get(res, "structuredContent");
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    json_t *ret = NULL;
    if (!json_is_true(json_object_get(res, "isError")))
        ret = json_is_object(sc) ? json_incref(sc) : text ? json_loads(text, 0, NULL) : NULL;
    json_decref(resp);
    return ret;
}

static struct tn_principal *self_principal(const char *sub)
{
    struct tn_principal *p = tn_principal_new("https://doctor.invalid", sub, "", "teamnotes-doctor", "",
                                              tn_time_now_ms() / 1000 + 300);
    if (p && (tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:read notes:write") != TN_OK ||
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
    json_array_foreach(json_object_get(list, "notes"), i, n)
    {
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
static void check_isolation(struct doctor *d)
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
    struct tn_mcp_info info = {.name = "teamnotes-doctor", .version = "1", .secret = secret,
                               .secret_len = sizeof secret};
    if (!made || !a || !b || tn_store_open(dir, NULL, &store, &err) != TN_OK ||
        !(mcp = tn_mcp_server_new(&info)) || !(app = tn_notes_new(store)) ||
        tn_notes_register(app, mcp) != TN_OK) {
        say(d, ST_FAIL, "isolation", "check that TMPDIR is writable", "isolation self-test could not start (%s)",
            !made ? "no scratch directory" : err.data ? err.data : "setup failed");
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
        say(d, ST_FAIL, "isolation", "report this: the notes tools do not work on a fresh store",
            "isolation self-test: saving or listing failed in the scratch store");
    else if (strcmp(ids_a, id_a) || strcmp(ids_b, id_b))
        say(d, ST_FAIL, "isolation", "report this: notes are not keyed by the verified subject",
            "isolation self-test: user A lists [%s], user B lists [%s]; each should list only its own note", ids_a,
            ids_b);
    else
        say(d, ST_OK, "isolation", NULL,
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
static void run_local(struct doctor *d, const struct tn_config *cfg, bool live)
{
    const char *base = tn_config_str(cfg, TN_CFG_BASE_URL);
    char resource[1200];
    snprintf(resource, sizeof resource, "%s%s", base, tn_config_str(cfg, TN_CFG_MCP_PATH));
    struct url bu;
    url_parse(base, &bu);
    if (bu.https)
        say(d, ST_OK, "base_url", NULL, "BASE_URL %s uses https", base);
    else
        say(d, ST_OK, "base_url", NULL, "BASE_URL %s is plain http on loopback (development only)", base);

    const char *mode = tn_config_str(cfg, TN_CFG_AUTH_MODE);
    bool builtin = !strcmp(mode, "builtin");
    struct tn_issuer_urls u;
    memset(&u, 0, sizeof u);
    const char *expect_issuer = NULL;
    if (!strcmp(mode, "none")) {
        say(d, ST_WARN, "auth", "unset AUTH_MODE (builtin) or set AUTH_ISSUER before anyone else can reach it",
            "AUTH_MODE=none: the MCP endpoint runs without authentication (loopback development only)");
    } else {
        struct tn_issuer_settings in = {
            .mode = mode, .base_url = base, .resource = resource,
            .auth_issuer = tn_config_str(cfg, TN_CFG_AUTH_ISSUER),
            .scalekit_env = tn_config_str(cfg, TN_CFG_SCALEKIT_ENVIRONMENT_URL),
            .scalekit_resource_id = tn_config_str(cfg, TN_CFG_SCALEKIT_RESOURCE_ID),
            .jwks_uri = tn_config_str(cfg, TN_CFG_AUTH_JWKS_URI),
            .audience = tn_config_str(cfg, TN_CFG_AUTH_AUDIENCE),
        };
        enum tn_err e = tn_issuer_urls(&in, &u);
        if (e != TN_OK) {
            say(d, ST_FAIL, "auth", "check AUTH_ISSUER and the SCALEKIT_* settings",
                "the issuer settings give no usable URL (%s)", tn_err_message(e));
        } else {
            expect_issuer = u.issuers[0];
            bool aud_ok = false;
            for (size_t i = 0; i < u.n_audiences; i++)
                aud_ok |= !strcmp(u.audiences[i], resource);
            if (builtin)
                say(d, ST_OK, "auth", NULL, "built-in authorization server: issuer %s, audience and PRM resource %s",
                    u.issuers[0], resource);
            else if (aud_ok || tn_config_str(cfg, TN_CFG_SCALEKIT_RESOURCE_ID)[0])
                say(d, ST_OK, "auth", NULL, "external issuer %s%s%s%s; tokens must carry aud %s; PRM resource %s",
                    u.issuers[0], u.n_issuers > 1 ? " (also " : "", u.n_issuers > 1 ? u.issuers[1] : "",
                    u.n_issuers > 1 ? ")" : "", u.audiences[0], resource);
            else
                say(d, ST_WARN, "auth",
                    "make sure the provider puts AUTH_AUDIENCE in aud for tokens requested for the PRM resource (or leave AUTH_AUDIENCE unset)",
                    "AUTH_AUDIENCE %s differs from the PRM resource %s that clients ask tokens for",
                    u.audiences[0], resource);
        }
    }
    check_storage(d, cfg, builtin);
    check_secret(d, cfg);
    if (!builtin && strcmp(mode, "none") && u.n_issuers)
        check_issuer(d, cfg, &u);
    check_mail(d, cfg);
    check_isolation(d);
    if (live)
        run_outside(d, resource, strcmp(mode, "none") ? expect_issuer : NULL);
    else
        say(d, ST_SKIP, "live", NULL, "the running deployment not checked (--local)");
}

/* ---------- main ---------- */

int tn_doctor_main(int argc, char **argv)
{
    struct doctor d = {.do_register = true, .leeway_s = -1};
    const char *url = NULL;
    bool local = false;
    char *rest[256];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--url") && i + 1 < argc) {
            url = argv[++i];
        } else if (!strncmp(a, "--url=", 6)) {
            url = a + 6;
        } else if (!strcmp(a, "--leeway") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 3600) {
                fprintf(stderr, "teamnotes: --leeway takes 0..3600 seconds\n");
                return 2;
            }
            d.leeway_s = v;
        } else if (!strcmp(a, "--local")) {
            local = true;
        } else if (!strcmp(a, "--no-register")) {
            d.do_register = false;
        } else if (!strcmp(a, "--plain")) {
            d.plain = true;
        } else if (!strcmp(a, "--json")) {
            d.json = true;
        } else if (n < 255) {
            rest[n++] = argv[i];
        }
    }
    if (url && (n || local)) {
        fprintf(stderr, "teamnotes: doctor --url checks a deployment from outside; it takes no serve "
                        "options and no --local\n%s", usage);
        return 2;
    }
    if (!isatty(STDOUT_FILENO))
        d.plain = true;
    if (d.json && !(d.checks = json_array()))
        return 1;
    /* the checks' own lines are the output; the store's and fetch's log lines would
     * only repeat them */
    tn_log_setup(TN_LOG_ERROR, false);
    if (tn_fetch_global_init() != TN_OK) {
        fprintf(stderr, "teamnotes: cannot initialise libcurl\n");
        json_decref(d.checks);
        return 1;
    }
    if (url) {
        if (d.leeway_s < 0)
            d.leeway_s = 30;
        run_outside(&d, url, NULL);
    } else {
        struct tn_config cfg;
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        if (tn_config_load(&cfg, n, rest, ".env", &err) != TN_OK) {
            say(&d, ST_FAIL, "config", "correct the setting (teamnotes --help lists them); serve refuses to start with it",
                "configuration: %s", err.data ? err.data : "invalid");
        } else {
            if (d.leeway_s < 0)
                d.leeway_s = tn_config_int(&cfg, TN_CFG_AUTH_LEEWAY_S);
            say(&d, ST_OK, "config", NULL, "configuration loads as serve reads it");
            run_local(&d, &cfg, !local);
            tn_config_deinit(&cfg);
        }
        tn_buf_deinit(&err);
    }
    int rc = d.counts[ST_FAIL] ? 1 : 0;
    if (d.json) {
        json_t *o = json_pack("{s:o, s:i, s:i, s:i, s:i}", "checks", d.checks, "ok", (int)d.counts[ST_OK],
                              "warnings", (int)d.counts[ST_WARN], "failed", (int)d.counts[ST_FAIL], "skipped",
                              (int)d.counts[ST_SKIP]);
        char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%u ok, %u warnings, %u failed, %u skipped\n", d.counts[ST_OK], d.counts[ST_WARN],
               d.counts[ST_FAIL], d.counts[ST_SKIP]);
    }
    return rc;
}
