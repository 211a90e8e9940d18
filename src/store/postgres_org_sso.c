/* The PostgreSQL backend's organization domains and SSO connections (store.h, #18). */
#include "store/postgres_internal.h"

static enum tn_err read_domain(const PGresult *r, int i, struct tn_org_domain *d)
{
    bool ok = TEXT(0, d->domain) && TEXT(1, d->org_id);
    d->created_at = pg_col_int(r, i, 2);
    return pg_row_result(ok, "org_domains");
}

static enum tn_err read_sso(const PGresult *r, int i, struct tn_org_sso *c)
{
    bool ok = TEXT(0, c->org_id) && TEXT(1, c->issuer) && TEXT(2, c->client_id) &&
              TEXT(3, c->client_secret) && TEXT(4, c->scopes) && TEXT(5, c->groups_claim) &&
              TEXT(6, c->role_map) && TEXT(7, c->default_role);
    c->require_sso = pg_col_bool(r, i, 8);
    c->allow_signup = pg_col_bool(r, i, 9);
    c->updated_at = pg_col_int(r, i, 10);
    return pg_row_result(ok, "org_sso");
}

static enum tn_err read_count(const PGresult *r, int i, int64_t *n)
{
    *n = pg_col_int(r, i, 0);
    return TN_OK;
}

/* Primary key: a domain of any organization is TN_ERR_CONFLICT; foreign key: an unknown
 * organization TN_ERR_NOT_FOUND. */
enum tn_err pg_org_domain_add(struct tn_store *s, const struct tn_org_domain *d)
{
    WRITE(s, S_ORG_DOMAIN_ADD, d->domain, d->org_id, d->created_at);
}

enum tn_err pg_org_domain_get(struct tn_store *s, const char *domain, struct tn_org_domain *out)
{
    READ1(s, out, read_domain, S_ORG_DOMAIN_GET, domain);
}

enum tn_err pg_org_domain_remove(struct tn_store *s, const char *org_id, const char *domain)
{
    WRITE_ONE(s, S_ORG_DOMAIN_REMOVE, org_id, domain);
}

enum tn_err pg_org_domain_list(struct tn_store *s, const char *org_id, tn_store_org_domain_cb cb,
                               void *ud)
{
    LIST(s, struct tn_org_domain, read_domain, cb, ud, S_ORG_DOMAIN_LIST, org_id);
}

enum tn_err pg_org_sso_put(struct tn_store *s, const struct tn_org_sso *c)
{
    WRITE(s, S_ORG_SSO_PUT, c->org_id, c->issuer, c->client_id, c->client_secret, c->scopes,
          c->groups_claim, c->role_map, c->default_role, (int)c->require_sso, (int)c->allow_signup,
          c->updated_at);
}

enum tn_err pg_org_sso_get(struct tn_store *s, const char *org_id, struct tn_org_sso *out)
{
    READ1(s, out, read_sso, S_ORG_SSO_GET, org_id);
}

enum tn_err pg_org_sso_delete(struct tn_store *s, const char *org_id)
{
    WRITE_ONE(s, S_ORG_SSO_DELETE, org_id);
}

enum tn_err pg_org_sso_count(struct tn_store *s, int64_t *n)
{
    READ1(s, n, read_count, S_ORG_SSO_COUNT);
}
