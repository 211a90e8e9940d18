#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/proxy.h"

enum type { STR, INT };

struct setting {
    const char *env;
    enum type type;
    const char *def;
    int64_t min, max;
    bool secret;
    const char *help;
};

static const struct setting table[] = {
#define TN_CFG_ROW(id, env, type, def, min, max, secret, help) \
    {env, type, def, min, max, secret, help},
    TN_CONFIG_TABLE(TN_CFG_ROW)
#undef TN_CFG_ROW
};

/* "BASE_URL" -> "base-url" */
static void flag_name(const char *env, char *out, size_t cap)
{
    size_t i = 0;
    for (; env[i] && i + 1 < cap; i++)
        out[i] = env[i] == '_' ? '-' : (char)tolower((unsigned char)env[i]);
    out[i] = '\0';
}

static int find_env(const char *name, size_t len)
{
    for (int i = 0; i < TN_CFG__COUNT; i++)
        if (strlen(table[i].env) == len && strncmp(table[i].env, name, len) == 0)
            return i;
    return -1;
}

static int find_flag(const char *name, size_t len)
{
    char f[64];
    for (int i = 0; i < TN_CFG__COUNT; i++) {
        flag_name(table[i].env, f, sizeof f);
        if (strlen(f) == len && strncmp(f, name, len) == 0)
            return i;
    }
    return -1;
}

static void set(struct tn_config *c, int i, const char *v, size_t n, const char *source)
{
    free(c->str[i]);
    c->str[i] = strndup(v, n);
    if (!c->str[i])
        abort();
    c->source[i] = source;
}

/* Reads KEY=VALUE lines; `#` comments; optional quotes. Only known keys are used, and
 * only where nothing stronger set them. */
static void load_dotenv(struct tn_config *c, const char *path, const bool *taken)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - p);
        while (klen && (p[klen - 1] == ' ' || p[klen - 1] == '\t'))
            klen--;
        int i = find_env(p, klen);
        if (i < 0 || taken[i])
            continue;
        char *v = eq + 1;
        size_t vlen = strcspn(v, "\r\n");
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
            v++;
            vlen -= 2;
        }
        set(c, i, v, vlen, ".env");
    }
    fclose(f);
}

bool tn_host_is_loopback(const char *host, size_t len)
{
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
        return true;
    if (len == 3 && memcmp(host, "::1", 3) == 0)
        return true;
    /* 127.0.0.0/8 in dotted-quad form */
    if (len >= 7 && len <= 15 && strncmp(host, "127.", 4) == 0) {
        int dots = 0;
        for (size_t i = 0; i < len; i++) {
            if (host[i] == '.')
                dots++;
            else if (!isdigit((unsigned char)host[i]))
                return false;
        }
        return dots == 3;
    }
    return false;
}

static enum tn_err check_base_url(const char *url, struct tn_buf *err)
{
    const char *rest;
    bool https = false;
    if (strncmp(url, "https://", 8) == 0) {
        https = true;
        rest = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
    } else {
        tn_buf_printf(err, "BASE_URL must start with https:// (or http:// on loopback): '%s'", url);
        return TN_ERR_CONFIG;
    }
    size_t hl = strcspn(rest, "/?#");
    if (rest[hl] != '\0' && !(rest[hl] == '/' && rest[hl + 1] == '\0')) {
        tn_buf_printf(err, "BASE_URL must be an origin without path, query or fragment: '%s'", url);
        return TN_ERR_CONFIG;
    }
    if (hl == 0) {
        tn_buf_printf(err, "BASE_URL has no host: '%s'", url);
        return TN_ERR_CONFIG;
    }
    /* strip the port */
    size_t host_len = hl;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', hl);
        host_len = close ? (size_t)(close - rest) + 1 : hl;
    } else {
        const char *colon = memchr(rest, ':', hl);
        if (colon)
            host_len = (size_t)(colon - rest);
    }
    if (!https && !tn_host_is_loopback(rest, host_len)) {
        tn_buf_printf(err,
                      "BASE_URL '%s' is plain http on a non-loopback host; tokens would travel "
                      "unencrypted. Use https:// (terminate TLS at a proxy) or a loopback host.",
                      url);
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

/* Command-line flags, `--name value` or `--name=value`: the strongest source. */
static enum tn_err take_flags(struct tn_config *c, int argc, char **argv, bool *taken,
                              struct tn_buf *err)
{
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0) {
            tn_buf_printf(err, "unexpected argument '%s' (see --help)", arg);
            return TN_ERR_CONFIG;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int i = find_flag(name, nlen);
        if (i < 0) {
            tn_buf_printf(err, "unknown option '%s' (see --help)", arg);
            return TN_ERR_CONFIG;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (a + 1 < argc) {
            v = argv[++a];
        } else {
            tn_buf_printf(err, "option '%s' needs a value", arg);
            return TN_ERR_CONFIG;
        }
        set(c, i, v, strlen(v), "flag");
        taken[i] = true;
    }
    return TN_OK;
}

/* The environment, where no flag set the value. */
static void take_env(struct tn_config *c, bool *taken)
{
    for (int i = 0; i < TN_CFG__COUNT; i++) {
        if (taken[i])
            continue;
        const char *v = getenv(table[i].env);
        if (v) {
            set(c, i, v, strlen(v), "env");
            taken[i] = true;
        }
    }
}

static void take_defaults(struct tn_config *c)
{
    for (int i = 0; i < TN_CFG__COUNT; i++)
        if (!c->str[i])
            set(c, i, table[i].def, strlen(table[i].def), "default");
}

/* Every INT setting, within its bounds. */
static enum tn_err parse_ints(struct tn_config *c, struct tn_buf *err)
{
    for (int i = 0; i < TN_CFG__COUNT; i++) {
        if (table[i].type != INT)
            continue;
        errno = 0;
        char *end = NULL;
        long long v = strtoll(c->str[i], &end, 10);
        if (errno || end == c->str[i] || *end != '\0' || v < table[i].min || v > table[i].max) {
            tn_buf_printf(err, "%s must be an integer from %lld to %lld (got '%s' from %s)",
                          table[i].env, (long long)table[i].min, (long long)table[i].max, c->str[i],
                          c->source[i]);
            return TN_ERR_CONFIG;
        }
        c->num[i] = v;
    }
    return TN_OK;
}

/* BASE_URL: derived from HOST and PORT on loopback, else required; a trailing slash is
 * dropped. */
static enum tn_err derive_base_url(struct tn_config *c, bool host_loopback, struct tn_buf *err)
{
    const char *host = c->str[TN_CFG_HOST];
    if (c->str[TN_CFG_BASE_URL][0] == '\0') {
        char def[300];
        bool v6 = strchr(host, ':') != NULL;
        if (!host_loopback) {
            /* Listening beyond loopback: the public URL cannot be guessed, and guessing
             * 127.0.0.1 would make every loopback-only safety rule look satisfied. */
            tn_buf_printf(err,
                          "HOST=%s listens beyond loopback: set BASE_URL to the public "
                          "https:// origin clients use (e.g. https://notes.example.com)",
                          host);
            return TN_ERR_CONFIG;
        }
        snprintf(def, sizeof def, "http://%s%s%s:%lld", v6 ? "[" : "", host, v6 ? "]" : "",
                 (long long)c->num[TN_CFG_PORT]);
        set(c, TN_CFG_BASE_URL, def, strlen(def), "derived");
    } else {
        /* a trailing slash is tolerated but never kept: the issuer must be byte-exact */
        size_t n = strlen(c->str[TN_CFG_BASE_URL]);
        if (n > 8 && c->str[TN_CFG_BASE_URL][n - 1] == '/')
            c->str[TN_CFG_BASE_URL][n - 1] = '\0';
    }
    return TN_OK;
}

/* Bounded lengths keep every URL derived from these within fixed buffers. */
static enum tn_err check_lengths(const struct tn_config *c, struct tn_buf *err)
{
    if (strlen(c->str[TN_CFG_BASE_URL]) > 256 || strlen(c->str[TN_CFG_MCP_PATH]) > 128 ||
        strlen(c->str[TN_CFG_AUTH_ISSUER]) > 400 ||
        strlen(c->str[TN_CFG_SCALEKIT_ENVIRONMENT_URL]) > 256 ||
        strlen(c->str[TN_CFG_SCALEKIT_RESOURCE_ID]) > 128 ||
        strlen(c->str[TN_CFG_AUTH_JWKS_URI]) > 1000 ||
        strlen(c->str[TN_CFG_AUTH_AUDIENCE]) > 2000) {
        tn_buf_puts(err, "BASE_URL (256), MCP_PATH (128), AUTH_ISSUER (400), SCALEKIT_* (256/128), "
                         "AUTH_JWKS_URI (1000) or AUTH_AUDIENCE (2000) is longer than allowed");
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

/* BASE_URL's shape, and https whenever the listener is reachable beyond loopback. */
static enum tn_err check_public_url(const struct tn_config *c, bool host_loopback,
                                    struct tn_buf *err)
{
    enum tn_err rc = check_base_url(c->str[TN_CFG_BASE_URL], err);
    if (rc != TN_OK)
        return rc;
    if (!host_loopback && strncmp(c->str[TN_CFG_BASE_URL], "http://", 7) == 0) {
        tn_buf_printf(err,
                      "HOST=%s listens beyond loopback but BASE_URL is plain http: bearer "
                      "tokens would cross the network unencrypted. Use an https:// BASE_URL "
                      "(TLS at a proxy) or HOST=127.0.0.1",
                      c->str[TN_CFG_HOST]);
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

/* MCP_PATH, the log settings and the proxy settings. */
static enum tn_err check_words(const struct tn_config *c, struct tn_buf *err)
{
    const char *mp = c->str[TN_CFG_MCP_PATH];
    if (mp[0] != '/' || strlen(mp) < 2 || mp[strlen(mp) - 1] == '/' || strpbrk(mp, "?#% ")) {
        tn_buf_printf(err,
                      "MCP_PATH must start with '/', not end with '/', and hold no ?, #, %% "
                      "or spaces (got '%s')",
                      mp);
        return TN_ERR_CONFIG;
    }
    const char *lvl = c->str[TN_CFG_LOG_LEVEL];
    if (strcmp(lvl, "debug") && strcmp(lvl, "info") && strcmp(lvl, "warn") &&
        strcmp(lvl, "error")) {
        tn_buf_printf(err, "LOG_LEVEL must be debug, info, warn or error (got '%s')", lvl);
        return TN_ERR_CONFIG;
    }
    const char *fmt = c->str[TN_CFG_LOG_FORMAT];
    if (strcmp(fmt, "text") && strcmp(fmt, "json")) {
        tn_buf_printf(err, "LOG_FORMAT must be text or json (got '%s')", fmt);
        return TN_ERR_CONFIG;
    }
    /* Checked here so that a typo stops the start with a sentence, not a silent "trust
     * nobody" (or everybody); the HTTP server parses the list again for its own use. */
    struct tn_proxies proxies;
    const char *tp = c->str[TN_CFG_TRUSTED_PROXIES];
    enum tn_err rc = tn_proxies_parse(tp, strlen(tp), &proxies, err);
    if (rc != TN_OK)
        return rc;
    const char *ph = c->str[TN_CFG_TRUSTED_PROXY_HEADER];
    if (strcasecmp(ph, "x-forwarded-for") && strcasecmp(ph, "forwarded")) {
        tn_buf_printf(err, "TRUSTED_PROXY_HEADER must be x-forwarded-for or forwarded (got '%s')",
                      ph);
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

/* AUTH_MODE=none only for a loopback listener with a loopback BASE_URL. */
static enum tn_err check_no_auth(const struct tn_config *c, bool host_loopback, struct tn_buf *err)
{
    if (!host_loopback) {
        tn_buf_printf(err, "AUTH_MODE=none is for development on loopback only: HOST=%s is not",
                      c->str[TN_CFG_HOST]);
        return TN_ERR_CONFIG;
    }
    const char *b = strstr(c->str[TN_CFG_BASE_URL], "://") + 3;
    size_t hl = strcspn(b, "/");
    const char *colon = b[0] == '[' ? memchr(b, ']', hl) : memchr(b, ':', hl);
    size_t host_len = colon ? (size_t)(colon - b) + (b[0] == '[') : hl;
    if (!tn_host_is_loopback(b, host_len)) {
        tn_buf_puts(err, "AUTH_MODE=none is for development on loopback only; a public "
                         "BASE_URL needs authentication");
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

/* AUTH_ISSUER and SCALEKIT_ENVIRONMENT_URL: https, or http on loopback. */
static enum tn_err check_issuer_urls(const struct tn_config *c, struct tn_buf *err)
{
    const char *issuers[] = {c->str[TN_CFG_AUTH_ISSUER], c->str[TN_CFG_SCALEKIT_ENVIRONMENT_URL]};
    for (int i = 0; i < 2; i++) {
        const char *u = issuers[i];
        if (!u[0])
            continue;
        bool https = strncmp(u, "https://", 8) == 0;
        const char *h = https ? u + 8 : strncmp(u, "http://", 7) == 0 ? u + 7 : NULL;
        size_t hl = h ? strcspn(h, ":/") : 0;
        if (!h || (!https && !tn_host_is_loopback(h, hl))) {
            tn_buf_printf(err, "%s must be an https:// URL (http:// only on loopback): '%s'",
                          i ? "SCALEKIT_ENVIRONMENT_URL" : "AUTH_ISSUER", u);
            return TN_ERR_CONFIG;
        }
    }
    return TN_OK;
}

/* Authentication mode: an issuer selects external mode; `none` only on loopback. */
static enum tn_err check_auth(struct tn_config *c, bool host_loopback, struct tn_buf *err)
{
    char *mode = c->str[TN_CFG_AUTH_MODE];
    bool has_issuer = c->str[TN_CFG_AUTH_ISSUER][0] || c->str[TN_CFG_SCALEKIT_ENVIRONMENT_URL][0];
    if (!mode[0]) {
        set(c, TN_CFG_AUTH_MODE, has_issuer ? "external" : "builtin", has_issuer ? 8 : 7,
            "derived");
        mode = c->str[TN_CFG_AUTH_MODE];
    }
    if (strcmp(mode, "builtin") && strcmp(mode, "external") && strcmp(mode, "none")) {
        tn_buf_printf(err, "AUTH_MODE must be builtin, external or none (got '%s')", mode);
        return TN_ERR_CONFIG;
    }
    if (!strcmp(mode, "external") && !has_issuer) {
        tn_buf_puts(err, "AUTH_MODE=external needs AUTH_ISSUER (or SCALEKIT_ENVIRONMENT_URL)");
        return TN_ERR_CONFIG;
    }
    enum tn_err rc = TN_OK;
    if (!strcmp(mode, "none") && (rc = check_no_auth(c, host_loopback, err)) != TN_OK)
        return rc;
    return check_issuer_urls(c, err);
}

static tn_config_check_fn checks[4];
static size_t n_checks;

void tn_config_add_check(tn_config_check_fn fn)
{
    for (size_t i = 0; i < n_checks; i++)
        if (checks[i] == fn)
            return;
    if (n_checks < sizeof checks / sizeof checks[0])
        checks[n_checks++] = fn;
}

enum tn_err tn_config_metrics_listen(const char *v, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon = v[0] == '[' ? strstr(v, "]:") : strrchr(v, ':');
    const char *h = v[0] == '[' ? v + 1 : v;
    if (!colon || colon == v || (v[0] != '[' && memchr(v, ']', (size_t)(colon - v))))
        return TN_ERR_CONFIG;
    size_t hl = (size_t)(colon - h);
    const char *ps = colon + (v[0] == '[' ? 2 : 1);
    char *end = NULL;
    long p = strtol(ps, &end, 10);
    if (!hl || hl >= host_cap || !*ps || *end || p < 0 || p > 65535 || ps[0] == '-' || ps[0] == '+')
        return TN_ERR_CONFIG;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return TN_OK;
}

/* METRICS_LISTEN's form, and a token beside it whenever it reaches beyond loopback. */
static enum tn_err check_metrics(const struct tn_config *c, struct tn_buf *err)
{
    const char *listen = c->str[TN_CFG_METRICS_LISTEN], *token = c->str[TN_CFG_METRICS_TOKEN];
    if (token[0] && strlen(token) < 16) {
        tn_buf_puts(err,
                    "METRICS_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 16`)");
        return TN_ERR_CONFIG;
    }
    if (!listen[0])
        return TN_OK;
    char host[64];
    uint16_t port;
    if (tn_config_metrics_listen(listen, host, sizeof host, &port) != TN_OK) {
        tn_buf_printf(
            err,
            "METRICS_LISTEN must be ADDRESS:PORT, e.g. 127.0.0.1:9090 or [::1]:9090 (got '%s')",
            listen);
        return TN_ERR_CONFIG;
    }
    if (!tn_host_is_loopback(host, strlen(host)) && !token[0]) {
        tn_buf_printf(err,
                      "METRICS_LISTEN=%s is reachable beyond this host: set METRICS_TOKEN too "
                      "(the scraper sends it as a bearer token), or listen on 127.0.0.1",
                      listen);
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

enum tn_err tn_config_load(struct tn_config *c, int argc, char **argv, const char *dotenv_path,
                           struct tn_buf *err)
{
    enum tn_err rc = TN_OK;
    bool taken[TN_CFG__COUNT] = {false};
    memset(c, 0, sizeof *c);
    if ((rc = take_flags(c, argc, argv, taken, err)) != TN_OK)
        goto done;
    take_env(c, taken);
    load_dotenv(c, dotenv_path, taken);
    take_defaults(c);
    const char *host = c->str[TN_CFG_HOST];
    bool host_loopback = tn_host_is_loopback(host, strlen(host));
    if ((rc = parse_ints(c, err)) != TN_OK ||
        (rc = derive_base_url(c, host_loopback, err)) != TN_OK ||
        (rc = check_lengths(c, err)) != TN_OK ||
        (rc = check_public_url(c, host_loopback, err)) != TN_OK ||
        (rc = check_words(c, err)) != TN_OK || (rc = check_auth(c, host_loopback, err)) != TN_OK)
        goto done;
    const char *key = c->str[TN_CFG_SECRET_KEY];
    if (key[0] && strlen(key) < 32) {
        tn_buf_puts(err, "SECRET_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)");
        rc = TN_ERR_CONFIG;
        goto done;
    }
    if ((rc = check_metrics(c, err)) != TN_OK)
        goto done;
    for (size_t i = 0; i < n_checks && rc == TN_OK; i++)
        rc = checks[i](c, err);
done:
    if (rc != TN_OK)
        tn_config_deinit(c);
    return rc;
}

void tn_config_deinit(struct tn_config *c)
{
    for (int i = 0; i < TN_CFG__COUNT; i++) {
        free(c->str[i]);
        c->str[i] = NULL;
    }
}

const char *tn_config_str(const struct tn_config *c, enum tn_config_id id) { return c->str[id]; }

int64_t tn_config_int(const struct tn_config *c, enum tn_config_id id) { return c->num[id]; }

void tn_config_print(const struct tn_config *c, struct tn_buf *out)
{
    for (int i = 0; i < TN_CFG__COUNT; i++) {
        const char *v = c->str[i];
        if (table[i].secret && v[0])
            v = "<redacted>";
        tn_buf_printf(out, "%s=%s    # %s\n", table[i].env, v, c->source[i]);
    }
}

void tn_config_help(struct tn_buf *out)
{
    char f[64];
    for (int i = 0; i < TN_CFG__COUNT; i++) {
        flag_name(table[i].env, f, sizeof f);
        tn_buf_printf(out, "  --%-24s %s\n  %-26s env %s, default '%s'\n", f, table[i].help, "",
                      table[i].env, table[i].def);
    }
}
