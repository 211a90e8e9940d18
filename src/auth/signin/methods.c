/* SIGNIN_METHODS (auth/signin/methods.h). */
#include "auth/signin/methods.h"

#include <string.h>

#define LIST_MAX 256

static const struct {
    const char *word;
    unsigned bit;
} methods[] = {
    {"password", TN_SIGNIN_PASSWORD},
    {"email", TN_SIGNIN_EMAIL},
    {"oidc", TN_SIGNIN_OIDC},
    {"sso", TN_SIGNIN_SSO},
};

static unsigned method_of(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].word) == n && memcmp(methods[i].word, w, n) == 0)
            return methods[i].bit;
    return 0;
}

/* The listed methods that cannot work: a sentence naming what to set. */
static enum tn_err check_usable(unsigned set, const struct tn_signin_env *env, struct tn_buf *err)
{
    if ((set & TN_SIGNIN_EMAIL) && !env->mail) {
        tn_buf_puts(err, "SIGNIN_METHODS lists email but no mail can be delivered: set SMTP_URL "
                         "(and SMTP_FROM), or DATA_DIR for an outbox, or remove email");
        return TN_ERR_CONFIG;
    }
    if ((set & TN_SIGNIN_OIDC) && !env->oidc) {
        tn_buf_puts(err, "SIGNIN_METHODS lists oidc but no OpenID Connect provider is configured: "
                         "set OIDC_PROVIDERS, or remove oidc");
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

enum tn_err tn_signin_methods_parse(const char *list, const struct tn_signin_env *env,
                                    unsigned *out, struct tn_buf *err)
{
    enum tn_err rc = TN_ERR_CONFIG;
    unsigned set = 0;
    *out = 0;
    if (!list || !list[0]) {
        /* the default: what works without further settings */
        *out = TN_SIGNIN_PASSWORD | (env->mail ? TN_SIGNIN_EMAIL : 0);
        return TN_OK;
    }
    size_t len = strlen(list);
    if (len > LIST_MAX) {
        tn_buf_printf(err, "SIGNIN_METHODS is longer than %d characters", LIST_MAX);
        goto done;
    }
    for (const char *p = list; p <= list + len;) {
        size_t n = strcspn(p, ",");
        const char *w = p;
        size_t wl = n;
        while (wl && (*w == ' ' || *w == '\t')) {
            w++;
            wl--;
        }
        while (wl && (w[wl - 1] == ' ' || w[wl - 1] == '\t'))
            wl--;
        unsigned bit = method_of(w, wl);
        if (!bit) {
            tn_buf_printf(err,
                          "SIGNIN_METHODS: '%.*s' is not a sign-in method (use password, email, "
                          "oidc or sso, separated by commas)",
                          (int)(wl > 64 ? 64 : wl), w);
            goto done;
        }
        if (set & bit) {
            tn_buf_printf(err, "SIGNIN_METHODS lists %.*s twice", (int)wl, w);
            goto done;
        }
        set |= bit;
        p += n + 1;
    }
    if ((rc = check_usable(set, env, err)) != TN_OK)
        goto done;
    *out = set;
    rc = TN_OK;
done:
    return rc;
}
