#include "auth/rs/claims.h"

#include <string.h>

#include "core/buf.h"

/* Looks up "a.b.c" in claims. */
static json_t *path_get(json_t *claims, const char *path, size_t len)
{
    json_t *v = claims;
    char part[128];
    const char *p = path, *end = path + len;
    while (v && p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        if (n == 0 || n >= sizeof part || !json_is_object(v))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        v = json_object_get(v, part);
        p += n + (dot ? 1 : 0);
    }
    return v;
}

/* The first claim present along the comma-separated paths. */
static json_t *first_claim(json_t *claims, const char *paths)
{
    for (const char *p = paths; p && *p;) {
        size_t n = strcspn(p, ",");
        struct tn_span s = tn_span_trim((struct tn_span){p, n});
        json_t *v = s.len ? path_get(claims, s.ptr, s.len) : NULL;
        if (v && !json_is_null(v))
            return v;
        p += n;
        if (*p == ',')
            p++;
    }
    return NULL;
}

static enum tn_err take_list(struct tn_principal *p, enum tn_principal_list which, json_t *v)
{
    if (!v)
        return TN_OK;
    if (json_is_string(v))
        return tn_principal_add_words(p, which, json_string_value(v));
    if (!json_is_array(v))
        return TN_ERR_BAD_INPUT;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_string(x))
            return TN_ERR_BAD_INPUT;
        enum tn_err rc = tn_principal_add(p, which, json_string_value(x), json_string_length(x));
        if (rc != TN_OK)
            return rc;
    }
    return TN_OK;
}

static const char *or_default(const char *v, const char *d) { return v && *v ? v : d; }

enum tn_err tn_claims_to_principal(json_t *claims, const struct tn_claim_map *map,
                                   struct tn_principal **out)
{
    *out = NULL;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!iss || !sub || !*sub)
        return TN_ERR_BAD_INPUT;
    json_t *org = first_claim(claims, or_default(map->org, "oid,org_id"));
    if (org && !json_is_string(org))
        return TN_ERR_BAD_INPUT;
    json_t *cid = json_object_get(claims, "client_id");
    if (!json_is_string(cid))
        cid = json_object_get(claims, "azp");
    json_t *exp = json_object_get(claims, "exp");
    int64_t e = json_is_integer(exp) ? json_integer_value(exp)
                : json_is_real(exp)  ? (int64_t)json_real_value(exp)
                                     : 0;
    struct tn_principal *p = tn_principal_new(iss, sub, json_string_value(org),
                                              json_string_value(cid),
                                              json_string_value(json_object_get(claims, "jti")), e);
    json_t *iat = json_object_get(claims, "iat");
    p->issued_at = json_is_integer(iat) ? json_integer_value(iat)
                   : json_is_real(iat) && json_real_value(iat) > 0 && json_real_value(iat) < 9e15
                       ? (int64_t)json_real_value(iat)
                       : 0;
    json_t *perms = first_claim(claims, or_default(map->permissions, "permissions,perms"));
    enum tn_err rc;
    if ((rc = take_list(p, TN_PRINCIPAL_SCOPES,
                        first_claim(claims, or_default(map->scopes, "scope,scp,scopes")))) !=
            TN_OK ||
        (rc = take_list(p, TN_PRINCIPAL_ROLES,
                        first_claim(claims, or_default(map->roles, "roles")))) != TN_OK ||
        (rc = take_list(p, TN_PRINCIPAL_PERMISSIONS, perms)) != TN_OK)
        goto done;
    /* Fail closed: no permissions claim grants nothing, unless the operator configured
     * default permissions for an issuer that has no RBAC. */
    if (!perms && map->default_permissions)
        rc = tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, map->default_permissions);
done:
    if (rc != TN_OK)
        tn_principal_release(p);
    else
        *out = p;
    return rc;
}
