/* The SQLite backend's organization domains and SSO connections (store.h, #18). */
#include "store/sqlite_internal.h"

static enum tn_err read_domain(sqlite3_stmt *st, struct tn_org_domain *d)
{
    bool ok = TEXT(0, d->domain) && TEXT(1, d->org_id);
    d->created_at = sqlite3_column_int64(st, 2);
    return sq_row_result(ok, "org_domains");
}

static enum tn_err read_sso(sqlite3_stmt *st, struct tn_org_sso *c)
{
    bool ok = TEXT(0, c->org_id) && TEXT(1, c->issuer) && TEXT(2, c->client_id) &&
              TEXT(3, c->client_secret) && TEXT(4, c->scopes) && TEXT(5, c->groups_claim) &&
              TEXT(6, c->role_map) && TEXT(7, c->default_role);
    c->require_sso = sqlite3_column_int(st, 8) != 0;
    c->allow_signup = sqlite3_column_int(st, 9) != 0;
    c->updated_at = sqlite3_column_int64(st, 10);
    return sq_row_result(ok, "org_sso");
}

static enum tn_err read_count(sqlite3_stmt *st, int64_t *n)
{
    *n = sqlite3_column_int64(st, 0);
    return TN_OK;
}

/* Primary key: a domain of any organization is TN_ERR_CONFLICT; foreign key: an unknown
 * organization TN_ERR_NOT_FOUND. */
enum tn_err sq_org_domain_add(struct tn_store *s, const struct tn_org_domain *d)
{
    WRITE1(s, false, S_ORG_DOMAIN_ADD, "tti", d->domain, d->org_id, d->created_at);
}

enum tn_err sq_org_domain_get(struct tn_store *s, const char *domain, struct tn_org_domain *out)
{
    READ1(s, out, read_domain, S_ORG_DOMAIN_GET, "t", domain);
}

enum tn_err sq_org_domain_remove(struct tn_store *s, const char *org_id, const char *domain)
{
    WRITE1(s, true, S_ORG_DOMAIN_REMOVE, "tt", org_id, domain);
}

enum tn_err sq_org_domain_list(struct tn_store *s, const char *org_id, tn_store_org_domain_cb cb,
                               void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_ORG_DOMAIN_LIST, &st, "t", org_id); e == TN_OK;
         e = sq_step(&k, st, S_ORG_DOMAIN_LIST)) {
        struct tn_org_domain item;
        memset(&item, 0, sizeof item);
        if ((e = read_domain(st, &item)) != TN_OK)
            break;
        cb(&item, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_org_sso_put(struct tn_store *s, const struct tn_org_sso *c)
{
    WRITE1(s, false, S_ORG_SSO_PUT, "ttttttttbbi", c->org_id, c->issuer, c->client_id,
           c->client_secret, c->scopes, c->groups_claim, c->role_map, c->default_role,
           (int)c->require_sso, (int)c->allow_signup, c->updated_at);
}

enum tn_err sq_org_sso_get(struct tn_store *s, const char *org_id, struct tn_org_sso *out)
{
    READ1(s, out, read_sso, S_ORG_SSO_GET, "t", org_id);
}

enum tn_err sq_org_sso_delete(struct tn_store *s, const char *org_id)
{
    WRITE1(s, true, S_ORG_SSO_DELETE, "t", org_id);
}

enum tn_err sq_org_sso_count(struct tn_store *s, int64_t *n)
{
    READ1(s, n, read_count, S_ORG_SSO_COUNT, "");
}
