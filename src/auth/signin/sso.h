/* Enterprise single sign-on per organization (#18): the rules, apart from HTTP and argv.
 *
 *  - Domains: an organization owns email domains (store: org_domains). A domain is a DNS
 *    name in its ASCII form: 2 to 127 labels of [a-z0-9-] (1 to 63 bytes, no hyphen at
 *    either end, "--" in the third and fourth place only as the IDNA prefix "xn--"), at
 *    most 253 bytes, a top-level label that is not all digits (so no IPv4 literal), no
 *    trailing dot, no brackets or colons (no IPv6 literal). Upper case is lowered;
 *    non-ASCII (an IDN in Unicode) is refused: give its punycode form. A domain matches
 *    only itself, never a parent or a child ("a.example.evil" is not "a.example"). An
 *    administrator adding a domain is its verification: ownership is not proven by DNS.
 *  - Role mapping: role_map is a JSON object {group: role} kept in the order it was
 *    given; the first entry whose group the person has decides their role, groups not in
 *    the map are ignored, and without a match the organization's default role applies.
 *  - require_sso: password and email-code sign-in are refused for the addresses of
 *    that organization's domains (tn_signin_sso_required).
 *  - The administration functions (set, show, test, remove, domains) are what
 *    `teamnotes org sso|domain` and the /admin page call. Client secrets are stored
 *    sealed with the server secret (auth/as/keys.h's "tnk1:" form, the org id bound as
 *    associated data), never in clear and never printed. */
#ifndef TN_AUTH_SIGNIN_SSO_H
#define TN_AUTH_SIGNIN_SSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

#define TN_SSO_DOMAIN_MAX 253u
#define TN_SSO_ROLE_MAP_MAX 32u /* entries */
#define TN_SSO_GROUP_MAX 128u   /* bytes of one group name */
#define TN_SSO_SECRET_MAX 512u  /* bytes of a client secret */
#define TN_SSO_CALLBACK_PATH "/signin/sso/callback"
#define TN_SSO_REQUIRED_TEXT "Your organization signs in with SSO"

/* Validates and lower-cases a domain into out[0..TN_SSO_DOMAIN_MAX]. TN_OK, or
 * TN_ERR_BAD_INPUT with *why (a sentence for people; `why` may be NULL). */
enum tn_err tn_sso_domain_normalise(const char *in, char out[TN_SSO_DOMAIN_MAX + 1],
                                    const char **why);
/* The domain of an email address (after its last '@'), normalised as above. */
enum tn_err tn_sso_email_domain(const char *email, char out[TN_SSO_DOMAIN_MAX + 1]);

/* Parses the command-line form "group=role,group=role" (empty: no mapping) into the
 * stored JSON object (caller frees). Every role must be a built-in role; a group may
 * appear once, be 1..TN_SSO_GROUP_MAX bytes without control characters; at most
 * TN_SSO_ROLE_MAP_MAX entries. NULL with *why on refusal. */
char *tn_sso_role_map_parse(const char *spec, const char **why);
/* The role for a person in `groups`: the first entry of `role_map` (stored JSON) whose
 * group is among them, else `default_role`. TN_OK with `out` set; TN_ERR_CONFIG when the
 * map does not parse or the role chosen is not a valid role (then no account is made). */
enum tn_err tn_sso_role_for(const char *role_map, const char *const *groups, size_t n_groups,
                            const char *default_role, char out[16]);

/* True when `email`'s domain belongs to an organization whose SSO connection has
 * require_sso. False for anything else (unknown domain, no connection, store error,
 * malformed address): the answer depends on the domain alone, never on an account. */
bool tn_signin_sso_required(struct tn_store *s, const char *email);

/* Seals / opens an organization's client secret with the server secret. */
enum tn_err tn_sso_secret_seal(const uint8_t *secret, size_t secret_len, const char *org_id,
                               const char *clear, char *out, size_t cap);
enum tn_err tn_sso_secret_open(const uint8_t *secret, size_t secret_len, const char *org_id,
                               const char *sealed, char *out, size_t cap);

/* ---- administration (CLI and /admin) ----------------------------------------------------
 * Each returns TN_OK or an error with one sentence in `msg` (for people; never a secret).
 * `org` is the organization's name. `actor` is recorded in the audit log. */

struct tn_sso_input {
    const char *issuer;
    const char *client_id;
    const char *client_secret; /* clear; sealed before it is stored */
    const char *scopes;        /* NULL or "": the default scopes */
    const char *groups_claim;  /* NULL or "": none */
    const char *role_map;      /* "group=role,..." or NULL */
    const char *default_role;  /* NULL: viewer */
    bool require_sso;
    bool allow_signup;
    bool allow_loopback; /* the issuer may be http on loopback (tests, development) */
};

struct tn_sso_admin {
    struct tn_store *store;
    const uint8_t *secret; /* the server secret (SECRET_KEY or DATA_DIR/secret.key) */
    size_t secret_len;
    const char *actor; /* "cli", or the administrator's user id */
    const char *via;   /* the audit record's client: "admin-page"; NULL: none */
};

enum tn_err tn_sso_set(const struct tn_sso_admin *a, const char *org, const struct tn_sso_input *in,
                       struct tn_buf *msg);
/* The settings as text lines (the secret as "(set, sealed)"), the domains included. */
enum tn_err tn_sso_show(const struct tn_sso_admin *a, const char *org, struct tn_buf *out);
enum tn_err tn_sso_remove(const struct tn_sso_admin *a, const char *org, struct tn_buf *msg);
/* Runs discovery and fetches the keys of the organization's provider; TN_OK with a line
 * saying what was found, or the reason it failed in `msg`. Network: blocking. */
enum tn_err tn_sso_test(const struct tn_sso_admin *a, const char *org, bool allow_loopback,
                        struct tn_buf *msg);
enum tn_err tn_sso_domain_add(const struct tn_sso_admin *a, const char *org, const char *domain,
                              struct tn_buf *msg);
enum tn_err tn_sso_domain_remove(const struct tn_sso_admin *a, const char *org, const char *domain,
                                 struct tn_buf *msg);
/* One domain per line. */
enum tn_err tn_sso_domain_list(const struct tn_sso_admin *a, const char *org, struct tn_buf *out);

#endif
