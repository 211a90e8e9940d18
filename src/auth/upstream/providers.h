/* Server-wide upstream OpenID providers ("Continue with NAME", #18): the settings
 *   OIDC_PROVIDERS=id1,id2          ids [a-z0-9-]{1,32}, each listed once
 *   OIDC_<ID>_ISSUER                required (https, or http on loopback when allowed)
 *   OIDC_<ID>_CLIENT_ID             required
 *   OIDC_<ID>_CLIENT_SECRET         or OIDC_<ID>_CLIENT_SECRET_FILE (one of them, not both)
 *   OIDC_<ID>_NAME                  button text, default the id
 *   OIDC_<ID>_SCOPES                default TN_OIDC_DEFAULT_SCOPES; must contain "openid"
 * where <ID> is the id upper-cased with '-' as '_'. The config table (core/config.h) is
 * static, so these are read here, from a lookup function (the environment in the server,
 * a table in tests). Every refusal names the variable. The providers themselves are made
 * lazily: discovery may fail at start, so the first sign-in that needs a provider runs
 * discovery, and a failure is remembered for TN_OIDC_PROVIDERS_RETRY_S before it is
 * tried again (the page says the provider is unreachable meanwhile). */
#ifndef TN_AUTH_UPSTREAM_PROVIDERS_H
#define TN_AUTH_UPSTREAM_PROVIDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/upstream/oidc.h"
#include "core/buf.h"
#include "core/err.h"

#define TN_OIDC_PROVIDERS_MAX 16u
#define TN_OIDC_PROVIDER_ID_MAX 32u
#define TN_OIDC_PROVIDER_NAME_MAX 64u
#define TN_OIDC_SECRET_FILE_MAX 4096u
#define TN_OIDC_PROVIDERS_RETRY_S 30
#define TN_OIDC_CALLBACK_PATH "/signin/oidc/callback"

/* Returns the value of variable `name` or NULL when unset. */
typedef const char *(*tn_oidc_lookup_fn)(const char *name, void *ud);

struct tn_oidc_providers;

/* Reads the settings through `lookup`. OIDC_PROVIDERS unset or empty: TN_OK with *out
 * NULL (no provider). Otherwise TN_OK and *out, or TN_ERR_CONFIG with `err` saying which
 * variable is wrong and *out NULL; TN_ERR_NOMEM. `base_url` (no trailing '/') gives the
 * redirect URI BASE_URL/signin/oidc/callback; `allow_loopback` lets issuers be http on a
 * loopback host (tests). Nothing is fetched. */
enum tn_err tn_oidc_providers_parse(tn_oidc_lookup_fn lookup, void *ud, const char *base_url,
                                    bool allow_loopback, struct tn_oidc_providers **out,
                                    struct tn_buf *err);
/* The process environment, for tn_oidc_providers_parse. */
const char *tn_oidc_lookup_env(const char *name, void *ud);
/* NULL is a no-op; wipes the secrets. */
void tn_oidc_providers_free(struct tn_oidc_providers *ps);

/* Count, and the i-th provider's id and button name (borrowed); NULL ps counts 0. */
size_t tn_oidc_providers_count(const struct tn_oidc_providers *ps);
const char *tn_oidc_providers_id(const struct tn_oidc_providers *ps, size_t i);
const char *tn_oidc_providers_name(const struct tn_oidc_providers *ps, size_t i);
/* Index of provider `id` (exact), or -1. */
int tn_oidc_providers_find(const struct tn_oidc_providers *ps, const char *id, size_t len);

/* The i-th provider, made on first use (network: call it on the blocking pool). TN_OK and
 * *out (owned by ps); TN_ERR_IO with *why when discovery failed now or less than
 * TN_OIDC_PROVIDERS_RETRY_S before `now` (then nothing is fetched); TN_ERR_BAD_INPUT for
 * a bad index. Thread-safe. */
enum tn_err tn_oidc_providers_get(struct tn_oidc_providers *ps, size_t i, int64_t now,
                                  struct tn_oidc_provider **out, enum tn_oidc_reason *why);

#endif
