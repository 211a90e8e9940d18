/* The sealed browser state of an upstream sign-in (signin_state.h). */
#include "auth/upstream/signin_state.h"

#include <jansson.h>
#include <string.h>

#include "core/seal.h"

char *tn_oidc_state_seal(const uint8_t *key, size_t key_len, const char *provider,
                         const struct tn_oidc_start *start, const char *req)
{
    if (!key || !provider || !start || !req || !provider[0] ||
        strlen(provider) > TN_OIDC_PROVIDER_ID_MAX || strlen(req) > TN_OIDC_STATE_REQ_MAX)
        return NULL;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "p", provider, "s", start->state, "n",
                          start->nonce, "v", start->code_verifier, "r", req);
    if (!j)
        return NULL;
    char *out = tn_seal(key, key_len, TN_OIDC_STATE_PURPOSE, j, TN_OIDC_STATE_TTL_S);
    json_decref(j);
    return out;
}

/* Copies string member `name` into dst[cap]; false when absent, not a string, empty or
 * too long. */
static bool member(json_t *j, const char *name, char *dst, size_t cap)
{
    json_t *v = json_object_get(j, name);
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    if (n == 0 || n >= cap || memchr(json_string_value(v), '\0', n))
        return false;
    memcpy(dst, json_string_value(v), n + 1);
    return true;
}

enum tn_err tn_oidc_state_open(const uint8_t *key, size_t key_len, const char *sealed,
                               struct tn_oidc_signin_state *out)
{
    if (!out)
        return TN_ERR_BAD_INPUT;
    memset(out, 0, sizeof *out);
    if (!key || !sealed || !sealed[0])
        return TN_ERR_BAD_INPUT;
    json_t *j = tn_unseal(key, key_len, TN_OIDC_STATE_PURPOSE, sealed);
    bool ok = j && member(j, "p", out->provider, sizeof out->provider) &&
              member(j, "s", out->state, sizeof out->state) &&
              member(j, "n", out->nonce, sizeof out->nonce) &&
              member(j, "v", out->code_verifier, sizeof out->code_verifier) &&
              member(j, "r", out->req, sizeof out->req);
    json_decref(j);
    if (!ok) {
        explicit_bzero(out, sizeof *out);
        return TN_ERR_BAD_INPUT;
    }
    return TN_OK;
}
