/* Administration of an organization's SSO connection and domains (auth/signin/sso.h):
 * what `teamnotes org sso|domain` and the /admin page call. Every change is audited
 * (tool "sso.set", "sso.remove", "domain.add", "domain.remove"; never the secret). */
#include "auth/signin/sso.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/as/users.h"
#include "auth/upstream/oidc.h"
#include "core/util.h"

static void audit(const struct tn_sso_admin *a, const char *org_id, const char *what,
                  const char *outcome)
{
    struct tn_audit r;
    memset(&r, 0, sizeof r);
    r.at = tn_time_now_ms();
    tn_strlcpy(r.user, a->actor ? a->actor : "cli", sizeof r.user);
    tn_strlcpy(r.org, org_id, sizeof r.org);
    if (a->via)
        tn_strlcpy(r.client_id, a->via, sizeof r.client_id);
    tn_strlcpy(r.tool, what, sizeof r.tool);
    tn_strlcpy(r.outcome, outcome, sizeof r.outcome);
    tn_store_audit_insert(a->store, &r);
}

static enum tn_err find_org(const struct tn_sso_admin *a, const char *org, struct tn_org *o,
                            struct tn_buf *msg)
{
    enum tn_err rc = org && org[0] ? tn_store_org_by_name(a->store, org, o) : TN_ERR_NOT_FOUND;
    if (rc == TN_ERR_NOT_FOUND || rc == TN_ERR_BAD_INPUT) {
        tn_buf_printf(msg, "no organization named '%s' (see `teamnotes org list`)", org ? org : "");
        return TN_ERR_NOT_FOUND;
    }
    if (rc != TN_OK)
        tn_buf_printf(msg, "cannot read the organization (%s)", tn_err_message(rc));
    return rc;
}

static bool scopes_ok(const char *s)
{
    /* space-separated words of visible ASCII, "openid" among them */
    size_t n = strlen(s);
    if (n >= sizeof((struct tn_org_sso *)0)->scopes)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\'))
            return false;
    for (const char *p = s; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        if (l == 6 && !strncmp(p, "openid", 6))
            return true;
        p += l;
    }
    return false;
}

static bool claim_ok(const char *s)
{
    size_t n = strlen(s);
    if (n >= sizeof((struct tn_org_sso *)0)->groups_claim)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

enum tn_err tn_sso_set(const struct tn_sso_admin *a, const char *org, const struct tn_sso_input *in,
                       struct tn_buf *msg)
{
    struct tn_org o;
    struct tn_org_sso *c = calloc(1, sizeof *c);
    char *map = NULL;
    const char *why = NULL;
    enum tn_err rc = TN_ERR_NOMEM;
    if (!c)
        goto done;
    if ((rc = find_org(a, org, &o, msg)) != TN_OK)
        goto done;
    rc = TN_ERR_BAD_INPUT;
    const char *role = in->default_role ? in->default_role : "viewer";
    if (!in->issuer || !in->issuer[0] || strlen(in->issuer) >= sizeof c->issuer ||
        !tn_oidc_url_ok(in->issuer, in->allow_loopback)) {
        tn_buf_puts(msg, "--issuer must be an https URL without user, query or fragment");
    } else if (!in->client_id || !in->client_id[0] ||
               strlen(in->client_id) >= sizeof c->client_id) {
        tn_buf_puts(msg, "--client-id is required (at most 255 characters)");
    } else if (!in->client_secret || !in->client_secret[0] ||
               strlen(in->client_secret) > TN_SSO_SECRET_MAX) {
        tn_buf_puts(msg, "the client secret is required on standard input (at most 512 bytes)");
    } else if (in->scopes && in->scopes[0] && !scopes_ok(in->scopes)) {
        tn_buf_puts(msg, "--scopes must be space-separated words including openid");
    } else if (in->groups_claim && !claim_ok(in->groups_claim)) {
        tn_buf_puts(msg, "--groups-claim must be a claim name of at most 63 visible characters");
    } else if (strlen(role) >= sizeof c->default_role || !tn_role_permissions(role)) {
        tn_buf_puts(msg, "--default-role is not one of viewer, editor, admin");
    } else if (!(map = tn_sso_role_map_parse(in->role_map, &why))) {
        tn_buf_puts(msg, why);
    } else if (strlen(map) >= sizeof c->role_map) {
        tn_buf_puts(msg, "--role-map is too long");
    } else if (strcmp(map, "{}") && !(in->groups_claim && in->groups_claim[0])) {
        tn_buf_puts(msg, "--role-map needs --groups-claim (the claim that carries the groups)");
    } else {
        rc = TN_OK;
    }
    if (rc != TN_OK)
        goto done;
    snprintf(c->org_id, sizeof c->org_id, "%s", o.id);
    snprintf(c->issuer, sizeof c->issuer, "%s", in->issuer);
    snprintf(c->client_id, sizeof c->client_id, "%s", in->client_id);
    snprintf(c->scopes, sizeof c->scopes, "%s", in->scopes ? in->scopes : "");
    snprintf(c->groups_claim, sizeof c->groups_claim, "%s",
             in->groups_claim ? in->groups_claim : "");
    snprintf(c->role_map, sizeof c->role_map, "%s", map);
    snprintf(c->default_role, sizeof c->default_role, "%s", role);
    c->require_sso = in->require_sso;
    c->allow_signup = in->allow_signup;
    c->updated_at = tn_time_now_ms() / 1000;
    if ((rc = tn_sso_secret_seal(a->secret, a->secret_len, o.id, in->client_secret,
                                 c->client_secret, sizeof c->client_secret)) != TN_OK) {
        tn_buf_printf(msg, "cannot seal the client secret (%s)", tn_err_message(rc));
        goto done;
    }
    if ((rc = tn_store_org_sso_put(a->store, c)) != TN_OK) {
        tn_buf_printf(msg, "cannot store the connection (%s)", tn_err_message(rc));
        goto done;
    }
    audit(a, o.id, "sso.set", "ok");
    tn_buf_printf(msg, "single sign-on of %s set: issuer %s%s", o.name, c->issuer,
                  c->require_sso ? ", required for its domains" : "");
done:
    free(map);
    if (c)
        sodium_memzero(c, sizeof *c);
    free(c);
    return rc;
}

struct domain_lines {
    struct tn_buf *out;
    const char *prefix;
    size_t n;
};

static void domain_line(const struct tn_org_domain *d, void *ud)
{
    struct domain_lines *l = ud;
    tn_buf_printf(l->out, "%s%s\n", l->prefix, d->domain);
    l->n++;
}

enum tn_err tn_sso_show(const struct tn_sso_admin *a, const char *org, struct tn_buf *out)
{
    struct tn_org o;
    struct tn_org_sso c;
    enum tn_err rc = find_org(a, org, &o, out);
    if (rc != TN_OK)
        return rc;
    rc = tn_store_org_sso_get(a->store, o.id, &c);
    if (rc == TN_ERR_NOT_FOUND) {
        tn_buf_printf(out, "%s has no single sign-on connection", o.name);
        return rc;
    }
    if (rc != TN_OK) {
        tn_buf_printf(out, "cannot read the connection (%s)", tn_err_message(rc));
        return rc;
    }
    tn_buf_printf(out,
                  "organization  %s (%s)\nissuer        %s\nclient id     %s\n"
                  "client secret (set, sealed)\nscopes        %s\ngroups claim  %s\n"
                  "role map      %s\ndefault role  %s\nrequire sso   %s\nallow signup  %s\n",
                  o.name, o.id, c.issuer, c.client_id,
                  c.scopes[0] ? c.scopes : TN_OIDC_DEFAULT_SCOPES,
                  c.groups_claim[0] ? c.groups_claim : "-", c.role_map, c.default_role,
                  c.require_sso ? "yes" : "no", c.allow_signup ? "yes" : "no");
    struct domain_lines l = {out, "domain        ", 0};
    rc = tn_store_org_domain_list(a->store, o.id, domain_line, &l);
    if (rc == TN_OK && l.n == 0)
        tn_buf_puts(out, "domain        - (none: nobody is sent to this provider; add one with "
                         "`teamnotes org domain add`)\n");
    sodium_memzero(c.client_secret, sizeof c.client_secret);
    return rc;
}

enum tn_err tn_sso_remove(const struct tn_sso_admin *a, const char *org, struct tn_buf *msg)
{
    struct tn_org o;
    enum tn_err rc = find_org(a, org, &o, msg);
    if (rc != TN_OK)
        return rc;
    rc = tn_store_org_sso_delete(a->store, o.id);
    if (rc == TN_ERR_NOT_FOUND)
        tn_buf_printf(msg, "%s has no single sign-on connection", o.name);
    else if (rc != TN_OK)
        tn_buf_printf(msg, "cannot remove the connection (%s)", tn_err_message(rc));
    else {
        audit(a, o.id, "sso.remove", "ok");
        tn_buf_printf(msg, "single sign-on of %s removed (its domains stay)", o.name);
    }
    return rc;
}

enum tn_err tn_sso_test(const struct tn_sso_admin *a, const char *org, bool allow_loopback,
                        struct tn_buf *msg)
{
    struct tn_org o;
    struct tn_org_sso c;
    char secret[TN_SSO_SECRET_MAX + 1] = "";
    enum tn_err rc = find_org(a, org, &o, msg);
    if (rc != TN_OK)
        return rc;
    if ((rc = tn_store_org_sso_get(a->store, o.id, &c)) != TN_OK) {
        tn_buf_printf(msg, "%s has no single sign-on connection", o.name);
        return rc;
    }
    rc = tn_sso_secret_open(a->secret, a->secret_len, o.id, c.client_secret, secret, sizeof secret);
    if (rc != TN_OK) {
        tn_buf_puts(msg, "the stored client secret does not open with this server's secret "
                         "(SECRET_KEY or DATA_DIR/secret.key changed?): set the connection again");
        goto done;
    }
    struct tn_oidc_config oc = {
        .issuer = c.issuer,
        .client_id = c.client_id,
        .client_secret = secret,
        .scopes = c.scopes[0] ? c.scopes : NULL,
        .redirect_uri = "https://teamnotes.invalid" TN_SSO_CALLBACK_PATH,
        .groups_claim = c.groups_claim[0] ? c.groups_claim : NULL,
        .allow_loopback = allow_loopback,
    };
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why = TN_OIDC_INTERNAL;
    rc = tn_oidc_provider_new(&oc, &p, &why);
    if (rc != TN_OK) {
        tn_buf_printf(msg, "%s: %s (%s)", c.issuer, tn_oidc_reason_text(why),
                      tn_oidc_reason_name(why));
        goto done;
    }
    tn_buf_printf(msg,
                  "%s: discovery and signing keys ok (the client secret is checked only at "
                  "a sign-in)",
                  c.issuer);
    tn_oidc_provider_free(p);
done:
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(c.client_secret, sizeof c.client_secret);
    return rc;
}

enum tn_err tn_sso_domain_add(const struct tn_sso_admin *a, const char *org, const char *domain,
                              struct tn_buf *msg)
{
    struct tn_org o;
    struct tn_org_domain d, other;
    const char *why = "";
    enum tn_err rc = find_org(a, org, &o, msg);
    if (rc != TN_OK)
        return rc;
    memset(&d, 0, sizeof d);
    if (tn_sso_domain_normalise(domain, d.domain, &why) != TN_OK) {
        tn_buf_printf(msg, "'%.300s' is not a domain: %s", domain ? domain : "", why);
        return TN_ERR_BAD_INPUT;
    }
    snprintf(d.org_id, sizeof d.org_id, "%s", o.id);
    d.created_at = tn_time_now_ms() / 1000;
    rc = tn_store_org_domain_add(a->store, &d);
    if (rc == TN_ERR_CONFLICT) {
        bool mine = tn_store_org_domain_get(a->store, d.domain, &other) == TN_OK &&
                    !strcmp(other.org_id, o.id);
        tn_buf_printf(msg,
                      mine ? "%s is already a domain of %s"
                           : "%s is already a domain of another organization",
                      d.domain, o.name);
    } else if (rc != TN_OK) {
        tn_buf_printf(msg, "cannot add the domain (%s)", tn_err_message(rc));
    } else {
        audit(a, o.id, "domain.add", "ok");
        tn_buf_printf(msg, "%s added to %s", d.domain, o.name);
    }
    return rc;
}

enum tn_err tn_sso_domain_remove(const struct tn_sso_admin *a, const char *org, const char *domain,
                                 struct tn_buf *msg)
{
    struct tn_org o;
    char norm[TN_SSO_DOMAIN_MAX + 1];
    const char *why = "";
    enum tn_err rc = find_org(a, org, &o, msg);
    if (rc != TN_OK)
        return rc;
    if (tn_sso_domain_normalise(domain, norm, &why) != TN_OK) {
        tn_buf_printf(msg, "'%.300s' is not a domain: %s", domain ? domain : "", why);
        return TN_ERR_BAD_INPUT;
    }
    rc = tn_store_org_domain_remove(a->store, o.id, norm);
    if (rc == TN_ERR_NOT_FOUND) {
        tn_buf_printf(msg, "%s is not a domain of %s", norm, o.name);
    } else if (rc != TN_OK) {
        tn_buf_printf(msg, "cannot remove the domain (%s)", tn_err_message(rc));
    } else {
        audit(a, o.id, "domain.remove", "ok");
        tn_buf_printf(msg, "%s removed from %s", norm, o.name);
    }
    return rc;
}

enum tn_err tn_sso_domain_list(const struct tn_sso_admin *a, const char *org, struct tn_buf *out)
{
    struct tn_org o;
    enum tn_err rc = find_org(a, org, &o, out);
    if (rc != TN_OK)
        return rc;
    struct domain_lines l = {out, "", 0};
    rc = tn_store_org_domain_list(a->store, o.id, domain_line, &l);
    if (rc != TN_OK)
        tn_buf_printf(out, "cannot list the domains (%s)", tn_err_message(rc));
    return rc;
}
