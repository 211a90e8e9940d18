/* The first administrator: the one-time setup link the server logs while the store
 * has no user. */
#include "auth/as/internal.h"

#include <ctype.h>
#include <stdio.h>

#include "auth/as/pages.h"
#include "auth/as/users.h"
#include "core/log.h"

/* ---------- first administrator ---------- */

void tn_as_handle_setup(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    int64_t users = 0;
    tn_store_user_count(as->cfg.store, &users);
    pthread_mutex_lock(&as->mu);
    char token[48];
    snprintf(token, sizeof token, "%s", as->setup_token);
    pthread_mutex_unlock(&as->mu);
    if (users > 0 || !token[0]) {
        tn_as_message_page(as, r, 404, "Setup is done",
                           "This server already has an administrator.");
        return;
    }
    char csrf[64];
    if (!strcmp(req->method, "GET")) {
        const char *t = req->query(req->ud, "token");
        if (!t || strlen(t) != strlen(token) || !tn_ct_equal(t, token, strlen(token))) {
            tn_as_message_page(as, r, 403, "Invalid setup link",
                               "Use the setup link printed in the server log.");
            return;
        }
        tn_as_csrf_prepare(as, req, r, csrf);
        struct tn_page_setup p = {.action = "/setup", .token = t, .csrf = csrf};
        r->status = 200;
        tn_as_page_headers(as, r, false, tn_page_setup(&r->body, &p));
        return;
    }
    struct tn_form f;
    if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request", "The setup form was not sent correctly.");
        return;
    }
    const char *t = tn_form_get(&f, "token"), *email = tn_form_get(&f, "email");
    const char *name = tn_form_get(&f, "name"), *pw = tn_form_get(&f, "password");
    const char *pw2 = tn_form_get(&f, "password2");
    const char *err = NULL;
    if (!t || strlen(t) != strlen(token) || !tn_ct_equal(t, token, strlen(token))) {
        tn_as_message_page(as, r, 403, "Invalid setup link",
                           "Use the setup link printed in the server log.");
        goto done;
    }
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf")))
        err = "The form expired; reload the setup link.";
    else if (!email || !strchr(email, '@') || strlen(email) > 254)
        err = "Enter a valid email address.";
    else if (!pw || strlen(pw) < TN_PASSWORD_MIN)
        err = "The password needs at least 10 characters.";
    else if (!pw2 || strcmp(pw, pw2))
        err = "The two passwords differ.";
    if (!err) {
        struct tn_user u;
        memset(&u, 0, sizeof u);
        snprintf(u.id, sizeof u.id, "usr_");
        random_token(u.id + 4, sizeof u.id - 4, 12);
        for (size_t i = 0; email[i] && i < sizeof u.email - 1; i++)
            u.email[i] = (char)tolower((unsigned char)email[i]);
        snprintf(u.name, sizeof u.name, "%s", name && name[0] ? name : email);
        snprintf(u.role, sizeof u.role, "admin");
        struct tn_org o;
        if (tn_store_org_by_name(as->cfg.store, "default", &o) != TN_OK) {
            memset(&o, 0, sizeof o);
            snprintf(o.id, sizeof o.id, "org_");
            random_token(o.id + 4, sizeof o.id - 4, 12);
            snprintf(o.name, sizeof o.name, "default");
            o.created_at = now_s();
            tn_store_org_insert(as->cfg.store, &o);
        }
        snprintf(u.org_id, sizeof u.org_id, "%s", o.id);
        u.created_at = now_s();
        if (tn_password_hash(pw, u.password_hash) != TN_OK ||
            tn_store_user_insert(as->cfg.store, &u) != TN_OK) {
            err = "The account could not be created.";
        } else {
            pthread_mutex_lock(&as->mu);
            as->setup_token[0] = '\0';
            pthread_mutex_unlock(&as->mu);
            tn_log(TN_LOG_INFO, "first administrator created", "user", u.id, NULL);
            tn_as_message_page(
                as, r, 200, "You are the administrator",
                "Your account is ready. Add this server's /mcp URL to your MCP client and sign in "
                "there; add your team with `teamnotes user add`.");
            goto done;
        }
    }
    tn_as_csrf_prepare(as, req, r, csrf);
    struct tn_page_setup p = {.action = "/setup", .token = t, .csrf = csrf, .error = err};
    r->status = 400;
    tn_as_page_headers(as, r, false, tn_page_setup(&r->body, &p));
done:
    tn_form_deinit(&f);
}
