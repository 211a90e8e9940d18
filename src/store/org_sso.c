/* The public API of organization domains and SSO connections (store.h, #18): argument
 * checks, then the backend. Domains must already be validated DNS names (see
 * auth/signin/sso.h); here they must fit, be non-empty and lower-case. */
#include "store/backend.h"

#include <string.h>

static bool fits(const char *v, size_t cap, bool nonempty)
{
    if (!v)
        return false;
    size_t n = strnlen(v, cap);
    return n < cap && (!nonempty || n > 0);
}

static bool domain_ok(const char *d)
{
    if (!fits(d, sizeof((struct tn_org_domain *)0)->domain, true))
        return false;
    for (const char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return false;
    return true;
}

#define ORG_OK(v) fits((v), sizeof((struct tn_org *)0)->id, true)

enum tn_err tn_store_org_domain_add(struct tn_store *s, const struct tn_org_domain *d)
{
    if (!s || !d || !domain_ok(d->domain) || !ORG_OK(d->org_id))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_domain_add(s, d);
}

enum tn_err tn_store_org_domain_get(struct tn_store *s, const char *domain,
                                    struct tn_org_domain *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !out || !domain_ok(domain))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_domain_get(s, domain, out);
}

enum tn_err tn_store_org_domain_remove(struct tn_store *s, const char *org_id, const char *domain)
{
    if (!s || !ORG_OK(org_id) || !domain_ok(domain))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_domain_remove(s, org_id, domain);
}

enum tn_err tn_store_org_domain_list(struct tn_store *s, const char *org_id,
                                     tn_store_org_domain_cb cb, void *ud)
{
    if (!s || !cb || !ORG_OK(org_id))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_domain_list(s, org_id, cb, ud);
}

enum tn_err tn_store_org_sso_put(struct tn_store *s, const struct tn_org_sso *c)
{
    if (!s || !c || !ORG_OK(c->org_id) || !fits(c->issuer, sizeof c->issuer, true) ||
        !fits(c->client_id, sizeof c->client_id, true) ||
        !fits(c->client_secret, sizeof c->client_secret, false) ||
        !fits(c->scopes, sizeof c->scopes, false) ||
        !fits(c->groups_claim, sizeof c->groups_claim, false) ||
        !fits(c->role_map, sizeof c->role_map, true) ||
        !fits(c->default_role, sizeof c->default_role, true))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_sso_put(s, c);
}

enum tn_err tn_store_org_sso_get(struct tn_store *s, const char *org_id, struct tn_org_sso *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !out || !ORG_OK(org_id))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_sso_get(s, org_id, out);
}

enum tn_err tn_store_org_sso_delete(struct tn_store *s, const char *org_id)
{
    if (!s || !ORG_OK(org_id))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_sso_delete(s, org_id);
}

enum tn_err tn_store_org_sso_count(struct tn_store *s, int64_t *n)
{
    if (n)
        *n = 0;
    if (!s || !n)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_sso_count(s, n);
}
