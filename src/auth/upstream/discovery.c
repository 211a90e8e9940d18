/* Upstream OpenID Connect: reason table, URL rule and the discovery document check.
 * Pure functions over bytes (no network), so the fuzz target links only this file. */
#include "auth/upstream/oidc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static const char *const reason_text[] = {
#define TN_OIDC_REASON_TEXT(name, text) text,
    TN_OIDC_REASON_TABLE(TN_OIDC_REASON_TEXT)
#undef TN_OIDC_REASON_TEXT
};
static const char *const reason_name[] = {
#define TN_OIDC_REASON_NAME(name, text) #name,
    TN_OIDC_REASON_TABLE(TN_OIDC_REASON_NAME)
#undef TN_OIDC_REASON_NAME
};

const char *tn_oidc_reason_text(enum tn_oidc_reason r)
{
    return (unsigned)r < TN_OIDC__COUNT ? reason_text[r] : reason_text[TN_OIDC_INTERNAL];
}

const char *tn_oidc_reason_name(enum tn_oidc_reason r)
{
    return (unsigned)r < TN_OIDC__COUNT ? reason_name[r] : reason_name[TN_OIDC_INTERNAL];
}

/* ---- URLs ------------------------------------------------------------------------------ */

static bool port_ok(const char *p, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* A deliberately narrow URL rule: what a browser and libcurl agree on. Anything that the
 * WHATWG parser reads differently from RFC 3986 (backslashes, userinfo, whitespace that
 * it strips, non-ASCII hosts) is refused rather than interpreted. */
bool tn_oidc_url_ok(const char *url, bool allow_http_loopback)
{
    if (!url)
        return false;
    size_t len = strnlen(url, TN_OIDC_URL_MAX + 1);
    if (len == 0 || len > TN_OIDC_URL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '\\' || ch == '#')
            return false;
    }
    bool https = strncmp(url, "https://", 8) == 0;
    bool http = !https && strncmp(url, "http://", 7) == 0;
    if (!https && !http)
        return false;
    const char *a = url + (https ? 8 : 7);
    size_t al = strcspn(a, "/?");
    if (al == 0 || memchr(a, '@', al))
        return false;
    size_t hl;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', al);
        if (!close || close == a + 1)
            return false;
        hl = (size_t)(close - a) + 1;
    } else {
        hl = strcspn(a, ":/?");
        if (hl > al)
            hl = al;
        if (hl == 0)
            return false;
    }
    if (hl < al && (a[hl] != ':' || !port_ok(a + hl + 1, al - hl - 1)))
        return false;
    if (http && (!allow_http_loopback || !tn_host_is_loopback(a, hl)))
        return false;
    return true;
}

/* ---- discovery ------------------------------------------------------------------------- */

static const char *const tenant_aliases[] = {"common", "organizations", "consumers"};

/* True when `doc` is `configured` with one whole path segment that is a tenant alias
 * replaced by "{tenantid}" (Entra's multi-tenant document for /common/v2.0 and friends). */
static bool tenant_template_matches(const char *configured, const char *doc)
{
    static const char tpl[] = TN_OIDC_TENANT_TEMPLATE;
    const char *t = strstr(doc, tpl);
    if (!t || strstr(t + 1, tpl) || t == doc || t[-1] != '/' ||
        (t[sizeof tpl - 1] != '/' && t[sizeof tpl - 1] != '\0'))
        return false;
    size_t pre = (size_t)(t - doc), post = strlen(t + sizeof tpl - 1);
    size_t cl = strlen(configured);
    for (size_t i = 0; i < sizeof tenant_aliases / sizeof tenant_aliases[0]; i++) {
        size_t al = strlen(tenant_aliases[i]);
        if (cl == pre + al + post && memcmp(configured, doc, pre) == 0 &&
            memcmp(configured + pre, tenant_aliases[i], al) == 0 &&
            memcmp(configured + pre + al, t + sizeof tpl - 1, post) == 0)
            return true;
    }
    return false;
}

static bool array_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

void tn_oidc_discovery_deinit(struct tn_oidc_discovery *d)
{
    if (!d)
        return;
    free(d->issuer);
    free(d->authorization_endpoint);
    free(d->token_endpoint);
    free(d->jwks_uri);
    memset(d, 0, sizeof *d);
}

enum tn_err tn_oidc_discovery_parse(const char *configured_issuer, const char *json, size_t len,
                                    bool allow_loopback, struct tn_oidc_discovery *out,
                                    enum tn_oidc_reason *why)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    enum tn_oidc_reason r = TN_OIDC_DISCOVERY_MALFORMED;
    json_t *doc = NULL;
    memset(out, 0, sizeof *out);

    if (!configured_issuer || !tn_oidc_url_ok(configured_issuer, allow_loopback) ||
        strchr(configured_issuer, '?')) {
        rc = TN_ERR_CONFIG;
        r = TN_OIDC_BAD_CONFIG;
        goto done;
    }
    if (len > TN_OIDC_DISCOVERY_MAX_BYTES) {
        r = TN_OIDC_DISCOVERY_TOO_LARGE;
        goto done;
    }
    if (!json || !(doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL)) ||
        !json_is_object(doc))
        goto done;

    /* OIDC Discovery §4.3: the issuer in the document is the one configured, exactly. */
    r = TN_OIDC_ISSUER_MISMATCH;
    const char *iss = json_string_value(json_object_get(doc, "issuer"));
    bool tenant = false;
    if (!iss)
        goto done;
    if (strcmp(iss, configured_issuer) != 0) {
        if (!tenant_template_matches(configured_issuer, iss))
            goto done;
        tenant = true;
    }

    static const char *const names[] = {"authorization_endpoint", "token_endpoint", "jwks_uri"};
    const char *v[3];
    r = TN_OIDC_ENDPOINT_MISSING;
    for (size_t i = 0; i < 3; i++)
        if (!(v[i] = json_string_value(json_object_get(doc, names[i]))) || !v[i][0])
            goto done;
    r = TN_OIDC_ENDPOINT_INSECURE;
    for (size_t i = 0; i < 3; i++)
        if (!tn_oidc_url_ok(v[i], allow_loopback))
            goto done;

    r = TN_OIDC_CODE_FLOW_UNSUPPORTED;
    json_t *rt = json_object_get(doc, "response_types_supported");
    if (!json_is_array(rt) || !array_has(rt, "code"))
        goto done;
    /* Absent means unknown (many providers do PKCE without saying so); present without
     * S256 means the provider would drop or refuse our challenge. */
    r = TN_OIDC_PKCE_UNSUPPORTED;
    json_t *ccm = json_object_get(doc, "code_challenge_methods_supported");
    if (ccm && (!json_is_array(ccm) || !array_has(ccm, "S256")))
        goto done;

    rc = TN_ERR_NOMEM;
    r = TN_OIDC_INTERNAL;
    out->tenant_template = tenant;
    out->iss_parameter =
        json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
    if (!(out->issuer = strdup(iss)) || !(out->authorization_endpoint = strdup(v[0])) ||
        !(out->token_endpoint = strdup(v[1])) || !(out->jwks_uri = strdup(v[2])))
        goto done;
    rc = TN_OK;
    r = TN_OIDC_OK;
done:
    json_decref(doc);
    if (rc != TN_OK)
        tn_oidc_discovery_deinit(out);
    if (why)
        *why = r;
    return rc;
}
