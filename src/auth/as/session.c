/* The browser at the issuer: its session cookie, the device cookie of a browser that
 * signed in to an account, and the CSRF token of its forms. */
#include "auth/as/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/seal.h"

#define SESSION_TTL_S 43200   /* the browser session at the issuer */
#define DEVICE_TTL_S 15552000 /* a browser that signed in to an account is known 180 days */

/* ---------- sessions, known browsers and CSRF ---------- */

/* The signed-in user of this browser, or false. */
bool tn_as_session_user(struct tn_as *as, const struct tn_as_req *req, struct tn_user *u)
{
    char buf[2048];
    json_t *s = tn_unseal(as->secret, as->secret_len, "session",
                          tn_as_cookie(req, "tn_session", buf, sizeof buf));
    const char *uid = json_string_value(json_object_get(s, "uid"));
    json_int_t iat = json_integer_value(json_object_get(s, "iat"));
    bool ok = uid && tn_store_user_get(as->cfg.store, uid, u) == TN_OK && !u->disabled &&
              iat >= u->tokens_valid_after;
    json_decref(s);
    return ok;
}

void tn_as_start_session(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u)
{
    json_t *d = json_pack("{s:s, s:I}", "uid", u->id, "iat", (json_int_t)now_s());
    char *s = tn_seal(as->secret, as->secret_len, "session", d, SESSION_TTL_S);
    json_decref(d);
    if (s)
        tn_as_set_cookie(as, r, "tn_session", s, "/", "Lax", SESSION_TTL_S);
    free(s);
    /* the admin console's "last sign-in" (#19): every method starts its session here */
    tn_store_user_signed_in(as->cfg.store, u->id, now_s());
}

/* A browser that signed in to an account carries a device cookie (OWASP's "device
 * cookies"): sealed, bound to the account, with an id of its own. Failed sign-ins from
 * it count against that id only, so someone guessing the account's password elsewhere
 * cannot lock its owner out (auth/signin/throttle.h). */
const char *tn_as_device_of(struct tn_as *as, const struct tn_as_req *req, const char *uid,
                            int64_t valid_after, char *out, size_t cap)
{
    char buf[512];
    const char *id = NULL;
    json_t *d = tn_unseal(as->secret, as->secret_len, "device",
                          tn_as_cookie(req, "tn_device", buf, sizeof buf));
    const char *bound = json_string_value(json_object_get(d, "uid"));
    const char *dev = json_string_value(json_object_get(d, "dev"));
    json_int_t iat = json_integer_value(json_object_get(d, "iat"));
    /* a cookie from before the account's last "revoke everything" (disable, password
     * change) no longer vouches for the browser */
    if (bound && dev && !strcmp(bound, uid) && iat >= valid_after && strlen(dev) < cap) {
        memcpy(out, dev, strlen(dev) + 1);
        id = out;
    }
    json_decref(d);
    return id;
}

void tn_as_remember_device(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u)
{
    char dev[32];
    random_token(dev, sizeof dev, 16);
    json_t *d = json_pack("{s:s, s:s, s:I}", "uid", u->id, "dev", dev, "iat", (json_int_t)now_s());
    char *s = tn_seal(as->secret, as->secret_len, "device", d, DEVICE_TTL_S);
    json_decref(d);
    if (s)
        tn_as_set_cookie(as, r, "tn_device", s, "/authorize/login", "Strict", DEVICE_TTL_S);
    free(s);
}

/* The CSRF token of a form is bound to the browser's csrf cookie (double submit, with
 * the token an HMAC of the cookie so a planted cookie does not help). */
static void csrf_token(struct tn_as *as, const char *cookie_val, char out[64])
{
    uint8_t m[32];
    char msg[128];
    snprintf(msg, sizeof msg, "csrf|%s", cookie_val);
    tn_hmac_sha256(m, as->secret, as->secret_len, msg, strlen(msg));
    tn_b64url_encode(out, 64, m, 32);
}

/* Ensures the browser has a csrf cookie; returns the form token. */
void tn_as_csrf_prepare(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                        char token[64])
{
    char c[64];
    if (!tn_as_cookie(req, "tn_csrf", c, sizeof c) || strlen(c) < 20) {
        random_token(c, sizeof c, 18);
        tn_as_set_cookie(as, r, "tn_csrf", c, "/", "Strict", SESSION_TTL_S);
    }
    csrf_token(as, c, token);
}

bool tn_as_csrf_ok(struct tn_as *as, const struct tn_as_req *req, const char *sent)
{
    char c[64], want[64];
    if (!sent || !tn_as_cookie(req, "tn_csrf", c, sizeof c))
        return false;
    csrf_token(as, c, want);
    return strlen(sent) == strlen(want) && tn_ct_equal(sent, want, strlen(want));
}
