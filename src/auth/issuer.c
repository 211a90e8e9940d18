#include "auth/issuer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

/* printf into a fixed buffer; false when the result did not fit. */
static bool put(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool put(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

/* The length of s without its trailing slashes. */
static size_t without_slashes(const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '/')
        n--;
    return n;
}

enum tn_err tn_issuer_external(const char *auth_issuer, const char *scalekit_env, char *out,
                               size_t cap)
{
    enum tn_err rc = TN_OK;
    if (cap)
        out[0] = '\0';
    if (auth_issuer[0])
        rc = put(out, cap, "%s", auth_issuer) ? TN_OK : TN_ERR_LIMIT;
    else if (scalekit_env[0])
        rc = put(out, cap, "%.*s", (int)without_slashes(scalekit_env), scalekit_env) ? TN_OK
                                                                                     : TN_ERR_LIMIT;
    else
        rc = TN_ERR_CONFIG;
    if (rc != TN_OK && cap)
        out[0] = '\0';
    return rc;
}

/* AUTH_ISSUER: the issuer itself, its RFC 8414 §3.1 metadata (the well-known segment
 * between host and path), then the OpenID Connect location (appended). */
static enum tn_err generic_issuer(const char *ai, struct tn_issuer_urls *out)
{
    const char *scheme_end = strstr(ai, "://");
    if (!scheme_end || scheme_end == ai)
        return TN_ERR_CONFIG;
    const char *host = scheme_end + 3;
    const char *path = host + strcspn(host, "/");
    size_t pl = without_slashes(path);
    if (!put(out->issuers[out->n_issuers++], TN_ISSUER_URL_SIZE, "%s", ai) ||
        !put(out->metadata[out->n_metadata++], TN_ISSUER_DOC_SIZE,
             "%.*s/.well-known/oauth-authorization-server%.*s", (int)(path - ai), ai, (int)pl,
             path) ||
        !put(out->metadata[out->n_metadata++], TN_ISSUER_DOC_SIZE,
             "%.*s/.well-known/openid-configuration", (int)without_slashes(ai), ai))
        return TN_ERR_LIMIT;
    out->loopback_http = strncmp(ai, "http://", 7) == 0;
    return TN_OK;
}

/* Scalekit: issuer ENV/resources/ID (migration) and ENV, keys through the resource's
 * authorization-server metadata, else ENV/keys; the template's audience. */
static enum tn_err scalekit_issuer(const struct tn_issuer_settings *in, struct tn_issuer_urls *out)
{
    char env[TN_ISSUER_URL_SIZE];
    enum tn_err rc = tn_issuer_external("", in->scalekit_env, env, sizeof env);
    if (rc != TN_OK)
        return rc;
    const char *rid = in->scalekit_resource_id;
    if (rid[0] &&
        (!put(out->issuers[out->n_issuers++], TN_ISSUER_URL_SIZE, "%s/resources/%s", env, rid) ||
         !put(out->metadata[out->n_metadata++], TN_ISSUER_DOC_SIZE,
              "%s/.well-known/oauth-authorization-server/resources/%s", env, rid)))
        return TN_ERR_LIMIT;
    if (!put(out->issuers[out->n_issuers++], TN_ISSUER_URL_SIZE, "%s", env) ||
        !put(out->metadata[out->n_metadata++], TN_ISSUER_DOC_SIZE,
             "%s/.well-known/oauth-authorization-server", env) ||
        !put(out->jwks_fallback, sizeof out->jwks_fallback, "%s/keys", env) ||
        !put(out->audiences[out->n_audiences++], TN_ISSUER_URL_SIZE, "%s",
             rid[0] ? rid : in->base_url))
        return TN_ERR_LIMIT;
    out->loopback_http = strncmp(env, "http://", 7) == 0;
    return TN_OK;
}

/* AUTH_AUDIENCE's comma-separated entries, trimmed; empty and over-long ones dropped. */
static size_t split_audiences(const char *csv, struct tn_issuer_urls *out)
{
    size_t n = 0;
    for (const char *p = csv; *p && n < TN_ISSUER_AUDIENCES_MAX;) {
        size_t len = strcspn(p, ",");
        struct tn_span s = tn_span_trim((struct tn_span){p, len});
        if (s.len && s.len < TN_ISSUER_URL_SIZE) {
            memcpy(out->audiences[n], s.ptr, s.len);
            out->audiences[n++][s.len] = '\0';
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

enum tn_err tn_issuer_urls(const struct tn_issuer_settings *in, struct tn_issuer_urls *out)
{
    enum tn_err rc = TN_OK;
    memset(out, 0, sizeof *out);
    if (!strcmp(in->mode, "builtin")) {
        if (!put(out->issuers[out->n_issuers++], TN_ISSUER_URL_SIZE, "%s", in->base_url))
            rc = TN_ERR_LIMIT;
    } else {
        if (in->auth_issuer[0])
            rc = generic_issuer(in->auth_issuer, out);
        else
            rc = scalekit_issuer(in, out);
        if (rc == TN_OK && !put(out->jwks, sizeof out->jwks, "%s", in->jwks_uri))
            rc = TN_ERR_LIMIT;
    }
    if (rc != TN_OK)
        goto done;
    if (in->audience[0]) {
        out->n_audiences = split_audiences(in->audience, out);
    } else if (!put(out->audiences[out->n_audiences++], TN_ISSUER_URL_SIZE, "%s", in->resource) ||
               !put(out->audiences[out->n_audiences++], TN_ISSUER_URL_SIZE, "%s/", in->resource)) {
        rc = TN_ERR_LIMIT;
    }
done:
    if (rc != TN_OK)
        memset(out, 0, sizeof *out);
    return rc;
}
