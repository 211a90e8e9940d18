/* Server-wide upstream providers: settings and lazy creation (providers.h). */
#include "auth/upstream/providers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char id[TN_OIDC_PROVIDER_ID_MAX + 1];
    char name[TN_OIDC_PROVIDER_NAME_MAX + 1];
    char *issuer, *client_id, *client_secret, *scopes;
    struct tn_oidc_provider *p;
    int64_t failed_at; /* 0: no failure remembered */
    enum tn_oidc_reason failed_why;
};

struct tn_oidc_providers {
    pthread_mutex_t mu;
    char *redirect_uri;
    bool allow_loopback;
    size_t n;
    struct entry e[TN_OIDC_PROVIDERS_MAX];
};

const char *tn_oidc_lookup_env(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

static bool id_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

/* "OIDC_<ID>_<suffix>" with the id upper-cased, '-' as '_'. */
static void var_name(char *dst, size_t cap, const char *id, const char *suffix)
{
    char up[TN_OIDC_PROVIDER_ID_MAX + 1];
    size_t i = 0;
    for (; id[i] && i < TN_OIDC_PROVIDER_ID_MAX; i++)
        up[i] = id[i] == '-' ? '_' : (id[i] >= 'a' && id[i] <= 'z') ? (char)(id[i] - 32) : id[i];
    up[i] = '\0';
    snprintf(dst, cap, "OIDC_%s_%s", up, suffix);
}

static bool printable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The secret file's content, without one trailing newline; NULL with err set. */
static char *read_secret_file(const char *var, const char *path, struct tn_buf *err)
{
    char *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        tn_buf_printf(err, "%s: cannot read %s: %s", var, path, strerror(errno));
        return NULL;
    }
    char buf[TN_OIDC_SECRET_FILE_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n > TN_OIDC_SECRET_FILE_MAX) {
        tn_buf_printf(err, "%s: %s is longer than %u bytes", var, path, TN_OIDC_SECRET_FILE_MAX);
        goto done;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n) || !printable(buf)) {
        tn_buf_printf(err, "%s: %s is empty or holds control characters", var, path);
        goto done;
    }
    out = strdup(buf);
    if (!out)
        tn_buf_printf(err, "out of memory");
done:
    explicit_bzero(buf, sizeof buf);
    return out;
}

static void entry_wipe(struct entry *e)
{
    tn_oidc_provider_free(e->p);
    if (e->client_secret) {
        explicit_bzero(e->client_secret, strlen(e->client_secret));
        free(e->client_secret);
    }
    free(e->issuer);
    free(e->client_id);
    free(e->scopes);
    memset(e, 0, sizeof *e);
}

void tn_oidc_providers_free(struct tn_oidc_providers *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        entry_wipe(&ps->e[i]);
    pthread_mutex_destroy(&ps->mu);
    free(ps->redirect_uri);
    free(ps);
}

/* Reads one provider's variables into e (e->id set). */
static enum tn_err read_entry(tn_oidc_lookup_fn lookup, void *ud, bool allow_loopback,
                              struct entry *e, struct tn_buf *err)
{
    char var[80], var2[80];
    var_name(var, sizeof var, e->id, "ISSUER");
    const char *v = lookup(var, ud);
    if (!v || !v[0]) {
        tn_buf_printf(err, "%s is required for provider '%s' (listed in OIDC_PROVIDERS)", var,
                      e->id);
        return TN_ERR_CONFIG;
    }
    if (!tn_oidc_url_ok(v, allow_loopback)) {
        tn_buf_printf(err, "%s must be an https URL without user, query or fragment", var);
        return TN_ERR_CONFIG;
    }
    if (!(e->issuer = strdup(v)))
        return TN_ERR_NOMEM;

    var_name(var, sizeof var, e->id, "CLIENT_ID");
    v = lookup(var, ud);
    if (!v || !v[0] || strlen(v) > 512 || !printable(v)) {
        tn_buf_printf(err, "%s is required for provider '%s' (printable, at most 512 bytes)", var,
                      e->id);
        return TN_ERR_CONFIG;
    }
    if (!(e->client_id = strdup(v)))
        return TN_ERR_NOMEM;

    var_name(var, sizeof var, e->id, "CLIENT_SECRET");
    var_name(var2, sizeof var2, e->id, "CLIENT_SECRET_FILE");
    const char *sec = lookup(var, ud), *file = lookup(var2, ud);
    bool has_sec = sec && sec[0], has_file = file && file[0];
    if (has_sec == has_file) {
        tn_buf_printf(err,
                      has_sec ? "set %s or %s for provider '%s', not both"
                              : "%s or %s is required for provider '%s'",
                      var, var2, e->id);
        return TN_ERR_CONFIG;
    }
    if (has_sec) {
        if (!printable(sec) || strlen(sec) > TN_OIDC_SECRET_FILE_MAX) {
            tn_buf_printf(err, "%s holds control characters or is too long", var);
            return TN_ERR_CONFIG;
        }
        if (!(e->client_secret = strdup(sec)))
            return TN_ERR_NOMEM;
    } else if (!(e->client_secret = read_secret_file(var2, file, err))) {
        return TN_ERR_CONFIG;
    }

    var_name(var, sizeof var, e->id, "NAME");
    v = lookup(var, ud);
    if (v && v[0]) {
        if (strlen(v) > TN_OIDC_PROVIDER_NAME_MAX || !printable(v)) {
            tn_buf_printf(err, "%s must be printable and at most %u bytes", var,
                          TN_OIDC_PROVIDER_NAME_MAX);
            return TN_ERR_CONFIG;
        }
        snprintf(e->name, sizeof e->name, "%s", v);
    } else {
        memcpy(e->name, e->id, strlen(e->id) + 1); /* ids are shorter than names */
    }

    var_name(var, sizeof var, e->id, "SCOPES");
    v = lookup(var, ud);
    if (!v || !v[0])
        v = TN_OIDC_DEFAULT_SCOPES;
    /* "openid" must be one of the space-separated words */
    bool openid = false;
    for (const char *p = v; *p;) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - w) == 6 && memcmp(w, "openid", 6) == 0)
            openid = true;
    }
    if (!openid || !printable(v) || strlen(v) > 512) {
        tn_buf_printf(err, "%s must be space-separated scopes including openid", var);
        return TN_ERR_CONFIG;
    }
    if (!(e->scopes = strdup(v)))
        return TN_ERR_NOMEM;
    return TN_OK;
}

enum tn_err tn_oidc_providers_parse(tn_oidc_lookup_fn lookup, void *ud, const char *base_url,
                                    bool allow_loopback, struct tn_oidc_providers **out,
                                    struct tn_buf *err)
{
    enum tn_err e = TN_OK;
    struct tn_oidc_providers *ps = NULL;
    if (out)
        *out = NULL;
    if (!lookup || !base_url || !out || !err)
        return TN_ERR_BAD_INPUT;
    const char *list = lookup("OIDC_PROVIDERS", ud);
    if (!list || !list[0])
        return TN_OK;
    if (!(ps = calloc(1, sizeof *ps)))
        return TN_ERR_NOMEM;
    pthread_mutex_init(&ps->mu, NULL);
    ps->allow_loopback = allow_loopback;
    size_t bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/')
        bl--;
    if (!(ps->redirect_uri = malloc(bl + sizeof TN_OIDC_CALLBACK_PATH))) {
        e = TN_ERR_NOMEM;
        goto done;
    }
    memcpy(ps->redirect_uri, base_url, bl);
    memcpy(ps->redirect_uri + bl, TN_OIDC_CALLBACK_PATH, sizeof TN_OIDC_CALLBACK_PATH);

    for (const char *p = list;;) {
        const char *w = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - w);
        /* spaces around an id are allowed, inside it not */
        while (n > 0 && *w == ' ')
            w++, n--;
        while (n > 0 && w[n - 1] == ' ')
            n--;
        bool ok = n >= 1 && n <= TN_OIDC_PROVIDER_ID_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = id_char(w[i]);
        if (!ok) {
            tn_buf_printf(err, "OIDC_PROVIDERS: '%.*s' is not a provider id ([a-z0-9-]{1,32})",
                          (int)(n > 40 ? 40 : n), w);
            e = TN_ERR_CONFIG;
            goto done;
        }
        if (tn_oidc_providers_find(ps, w, n) >= 0) {
            tn_buf_printf(err, "OIDC_PROVIDERS: '%.*s' is listed twice", (int)n, w);
            e = TN_ERR_CONFIG;
            goto done;
        }
        if (ps->n == TN_OIDC_PROVIDERS_MAX) {
            tn_buf_printf(err, "OIDC_PROVIDERS: at most %u providers", TN_OIDC_PROVIDERS_MAX);
            e = TN_ERR_CONFIG;
            goto done;
        }
        struct entry *en = &ps->e[ps->n++];
        memcpy(en->id, w, n);
        en->id[n] = '\0';
        if ((e = read_entry(lookup, ud, allow_loopback, en, err)) != TN_OK)
            goto done;
        if (!*p)
            break;
        p++;
    }
    *out = ps;
    ps = NULL;
done:
    tn_oidc_providers_free(ps);
    return e;
}

size_t tn_oidc_providers_count(const struct tn_oidc_providers *ps) { return ps ? ps->n : 0; }

const char *tn_oidc_providers_id(const struct tn_oidc_providers *ps, size_t i)
{
    return ps && i < ps->n ? ps->e[i].id : NULL;
}

const char *tn_oidc_providers_name(const struct tn_oidc_providers *ps, size_t i)
{
    return ps && i < ps->n ? ps->e[i].name : NULL;
}

int tn_oidc_providers_find(const struct tn_oidc_providers *ps, const char *id, size_t len)
{
    if (!ps || !id)
        return -1;
    for (size_t i = 0; i < ps->n; i++)
        if (strlen(ps->e[i].id) == len && memcmp(ps->e[i].id, id, len) == 0)
            return (int)i;
    return -1;
}

enum tn_err tn_oidc_providers_get(struct tn_oidc_providers *ps, size_t i, int64_t now,
                                  struct tn_oidc_provider **out, enum tn_oidc_reason *why)
{
    enum tn_oidc_reason scratch;
    if (!why)
        why = &scratch;
    *why = TN_OIDC_INTERNAL;
    if (out)
        *out = NULL;
    if (!ps || !out || i >= ps->n)
        return TN_ERR_BAD_INPUT;
    enum tn_err e = TN_OK;
    struct entry *en = &ps->e[i];
    /* one creation at a time; a slow provider holds the others' first use back, which
     * is rare (once per process, or per retry) and bounded by the fetch timeout */
    pthread_mutex_lock(&ps->mu);
    if (en->p) {
        *out = en->p;
        *why = TN_OIDC_OK;
        goto done;
    }
    if (en->failed_at && now - en->failed_at < TN_OIDC_PROVIDERS_RETRY_S) {
        *why = en->failed_why;
        e = TN_ERR_IO;
        goto done;
    }
    struct tn_oidc_config c = {
        .issuer = en->issuer,
        .client_id = en->client_id,
        .client_secret = en->client_secret,
        .scopes = en->scopes,
        .redirect_uri = ps->redirect_uri,
        .allow_loopback = ps->allow_loopback,
    };
    e = tn_oidc_provider_new(&c, &en->p, why);
    if (e == TN_OK) {
        en->failed_at = 0;
        *out = en->p;
    } else {
        en->failed_at = now;
        en->failed_why = *why;
        if (e != TN_ERR_NOMEM)
            e = TN_ERR_IO;
    }
done:
    pthread_mutex_unlock(&ps->mu);
    return e;
}
