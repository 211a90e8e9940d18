/* Enterprise single sign-on per organization: domains, role mapping, require_sso and
 * the administration functions (auth/signin/sso.h). */
#include "auth/signin/sso.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/as/keys.h"
#include "auth/as/users.h"
#include "auth/upstream/oidc.h"
#include "core/util.h"

/* ---------- domains ---------- */

static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

enum tn_err tn_sso_domain_normalise(const char *in, char out[TN_SSO_DOMAIN_MAX + 1],
                                    const char **why)
{
    const char *w = NULL;
    size_t n = in ? strnlen(in, TN_SSO_DOMAIN_MAX + 1) : 0;
    out[0] = '\0';
    if (n == 0) {
        w = "the domain is empty";
        goto done;
    }
    if (n > TN_SSO_DOMAIN_MAX) {
        w = "the domain is longer than 253 characters";
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x80) {
            w = "the domain is not ASCII: give an internationalized domain in its punycode "
                "form (xn--...)";
            goto done;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[n] = '\0';
    if (out[n - 1] == '.') {
        w = "the domain ends with a dot: give it without the trailing dot";
        goto done;
    }
    size_t labels = 0;
    const char *last = out;
    for (const char *p = out; *p;) {
        size_t l = strcspn(p, ".");
        if (l == 0) {
            w = "the domain has an empty label (two dots in a row, or a leading dot)";
            goto done;
        }
        if (l > 63) {
            w = "a label of the domain is longer than 63 characters";
            goto done;
        }
        for (size_t i = 0; i < l; i++)
            if (!label_char(p[i])) {
                w = "the domain may hold only letters, digits, hyphens and dots (no address, "
                    "port, brackets or '@')";
                goto done;
            }
        if (p[0] == '-' || p[l - 1] == '-') {
            w = "a label of the domain starts or ends with a hyphen";
            goto done;
        }
        if (l >= 4 && p[2] == '-' && p[3] == '-' && !(p[0] == 'x' && p[1] == 'n')) {
            w = "a label of the domain has \"--\" in third and fourth place (reserved except for "
                "xn--)";
            goto done;
        }
        labels++;
        last = p;
        p += l;
        if (*p == '.')
            p++;
    }
    if (labels < 2) {
        w = "the domain needs at least two labels (e.g. example.com)";
        goto done;
    }
    if (strspn(last, "0123456789") == strlen(last)) {
        w = "the domain looks like an IP address: give a DNS name";
        goto done;
    }
done:
    if (w) {
        out[0] = '\0';
        if (why)
            *why = w;
        return TN_ERR_BAD_INPUT;
    }
    return TN_OK;
}

enum tn_err tn_sso_email_domain(const char *email, char out[TN_SSO_DOMAIN_MAX + 1])
{
    out[0] = '\0';
    const char *at = email ? strrchr(email, '@') : NULL;
    if (!at || at == email)
        return TN_ERR_BAD_INPUT;
    return tn_sso_domain_normalise(at + 1, out, NULL);
}

/* ---------- role mapping ---------- */

static bool group_ok(const char *g, size_t n)
{
    if (n == 0 || n > TN_SSO_GROUP_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)g[i] < 0x20 || g[i] == 0x7f)
            return false;
    return true;
}

char *tn_sso_role_map_parse(const char *spec, const char **why)
{
    json_t *m = json_object();
    char *out = NULL;
    const char *w = NULL;
    size_t entries = 0;
    if (!m) {
        w = "out of memory";
        goto done;
    }
    for (const char *p = spec ? spec : ""; *p;) {
        size_t l = strcspn(p, ",");
        const char *eq = memchr(p, '=', l);
        if (!eq) {
            w = "--role-map takes group=role pairs separated by commas";
            goto done;
        }
        size_t gl = (size_t)(eq - p), rl = l - gl - 1;
        char group[TN_SSO_GROUP_MAX + 1], role[16];
        if (!group_ok(p, gl)) {
            w = "--role-map: a group name is empty, too long or has control characters";
            goto done;
        }
        if (rl == 0 || rl >= sizeof role) {
            w = "--role-map: a role is not one of viewer, editor, admin";
            goto done;
        }
        memcpy(group, p, gl);
        group[gl] = '\0';
        memcpy(role, eq + 1, rl);
        role[rl] = '\0';
        if (!tn_role_permissions(role)) {
            w = "--role-map: a role is not one of viewer, editor, admin";
            goto done;
        }
        if (json_object_get(m, group)) {
            w = "--role-map names a group twice";
            goto done;
        }
        if (++entries > TN_SSO_ROLE_MAP_MAX) {
            w = "--role-map has more than 32 entries";
            goto done;
        }
        json_object_set_new(m, group, json_string(role));
        p += l;
        if (*p == ',') {
            p++;
            if (!*p) {
                w = "--role-map ends with a comma";
                goto done;
            }
        }
    }
    out = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!out)
        w = "out of memory";
done:
    json_decref(m);
    if (w && why)
        *why = w;
    return w ? NULL : out;
}

enum tn_err tn_sso_role_for(const char *role_map, const char *const *groups, size_t n_groups,
                            const char *default_role, char out[16])
{
    out[0] = '\0';
    json_t *m = json_loads(role_map && role_map[0] ? role_map : "{}", 0, NULL);
    enum tn_err rc = TN_ERR_CONFIG;
    const char *chosen = default_role;
    if (!json_is_object(m))
        goto done;
    const char *key;
    json_t *v;
    bool found = false;
    json_object_foreach(m, key, v) {
        for (size_t i = 0; i < n_groups && !found; i++)
            if (groups[i] && !strcmp(groups[i], key)) {
                chosen = json_string_value(v);
                found = true;
            }
        if (found)
            break;
    }
    if (!chosen || strlen(chosen) >= 16 || !tn_role_permissions(chosen))
        goto done;
    snprintf(out, 16, "%s", chosen);
    rc = TN_OK;
done:
    json_decref(m);
    return rc;
}

/* ---------- require_sso ---------- */

bool tn_signin_sso_required(struct tn_store *s, const char *email)
{
    char domain[TN_SSO_DOMAIN_MAX + 1];
    struct tn_org_domain d;
    struct tn_org_sso c;
    if (tn_sso_email_domain(email, domain) != TN_OK ||
        tn_store_org_domain_get(s, domain, &d) != TN_OK ||
        tn_store_org_sso_get(s, d.org_id, &c) != TN_OK)
        return false;
    bool req = c.require_sso;
    sodium_memzero(c.client_secret, sizeof c.client_secret);
    return req;
}

/* ---------- the sealed client secret ---------- */

static void secret_kid(const char *org_id, char kid[80])
{
    snprintf(kid, 80, "org_sso:%s", org_id);
}

enum tn_err tn_sso_secret_seal(const uint8_t *secret, size_t secret_len, const char *org_id,
                               const char *clear, char *out, size_t cap)
{
    uint8_t kek[32];
    char kid[80];
    enum tn_err rc = tn_as_keys_kek(kek, secret, secret_len);
    secret_kid(org_id, kid);
    if (rc == TN_OK)
        rc = tn_as_key_seal(kek, kid, clear, out, cap);
    sodium_memzero(kek, sizeof kek);
    return rc;
}

enum tn_err tn_sso_secret_open(const uint8_t *secret, size_t secret_len, const char *org_id,
                               const char *sealed, char *out, size_t cap)
{
    uint8_t kek[32];
    char kid[80];
    enum tn_err rc = tn_as_keys_kek(kek, secret, secret_len);
    secret_kid(org_id, kid);
    if (rc == TN_OK)
        rc = tn_as_key_unseal(kek, kid, sealed, out, cap);
    sodium_memzero(kek, sizeof kek);
    return rc;
}
