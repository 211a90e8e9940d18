/* Invitations (auth/signin/invite.h) on SQLite with the outbox mailer: token hashing,
 * creation and its exact refusals (hostile addresses, roles, organizations, inviters,
 * existing accounts), the message (escaped), acceptance once and only before expiry,
 * claims by another sign-in method, revocation, and the audit records (never a token). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/as/pages.h"
#include "auth/signin/invite.h"
#include "core/config.h"
#include "core/util.h"
#include <sodium.h>
#include "mail/mail.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_invite_XXXXXX"
#include "store_fixture.h"

#define BASE "https://notes.example.com"

struct ctx {
    struct fx *f;
    struct tn_config cfg;
    struct tn_mailer *m;
};

static int setup_all(void **state)
{
    struct fx *f;
    if (setup((void **)&f) != 0)
        return -1;
    struct ctx *c = calloc(1, sizeof *c);
    c->f = f;
    char arg[600];
    snprintf(arg, sizeof arg, "--data-dir=%s", f->data);
    char *argv[] = {arg};
    struct tn_buf e;
    tn_buf_init(&e, 1024);
    assert_int_equal(tn_config_load(&c->cfg, 1, argv, NULL, &e), TN_OK);
    assert_int_equal(tn_mailer_new(&c->cfg, &c->m, &e), TN_OK);
    assert_int_equal(tn_mailer_kind(c->m), TN_MAIL_OUTBOX);
    tn_buf_deinit(&e);
    struct tn_org o = {.id = "org_acme", .name = "Acme", .created_at = 1};
    assert_int_equal(tn_store_org_insert(f->s, &o), TN_OK);
    struct tn_user a = {.id = "usr_admin",
                        .email = "admin@example.com",
                        .name = "Ada <Admin>",
                        .role = "admin",
                        .created_at = 1};
    assert_int_equal(tn_store_user_insert(f->s, &a), TN_OK);
    struct tn_user d = {.id = "usr_off",
                        .email = "off@example.com",
                        .name = "Off",
                        .role = "viewer",
                        .disabled = true,
                        .created_at = 1};
    assert_int_equal(tn_store_user_insert(f->s, &d), TN_OK);
    *state = c;
    return 0;
}

static int teardown_all(void **state)
{
    struct ctx *c = *state;
    tn_mailer_free(c->m);
    tn_config_deinit(&c->cfg);
    void *f = c->f;
    free(c);
    return teardown(&f);
}

struct seen {
    int n;
    char user[8][512], tool[8][64], detail[8][512], org[8][128];
};

static void collect(const struct tn_audit *a, void *ud)
{
    struct seen *s = ud;
    if (s->n < 8) {
        snprintf(s->user[s->n], sizeof s->user[0], "%s", a->user);
        snprintf(s->tool[s->n], sizeof s->tool[0], "%s", a->tool);
        snprintf(s->detail[s->n], sizeof s->detail[0], "%s", a->client_id);
        snprintf(s->org[s->n], sizeof s->org[0], "%s", a->org);
    }
    s->n++;
}

static void test_token_hash(void **state)
{
    (void)state;
    char t[TN_INVITE_TOKEN_LEN + 1];
    uint8_t h[32], h2[32], want[32];
    tn_invite_token_new(t, h);
    assert_int_equal(strlen(t), TN_INVITE_TOKEN_LEN);
    crypto_hash_sha256(want, (const uint8_t *)t, strlen(t));
    assert_memory_equal(h, want, 32); /* SHA-256 of the token: what the store keeps */
    assert_true(tn_invite_token_hash(t, h2));
    assert_memory_equal(h2, h, 32);
    char t2[TN_INVITE_TOKEN_LEN + 1];
    tn_invite_token_new(t2, h2);
    assert_string_not_equal(t, t2);

    static const struct {
        const char *token;
        bool ok;
    } rows[] = {
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},   /* 42 */
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false}, /* 44 */
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", false},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ", false},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", false},
        {"", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        memset(h, 0xff, sizeof h);
        assert_int_equal(tn_invite_token_hash(rows[i].token, h), rows[i].ok);
        if (!rows[i].ok) {
            uint8_t zero[32] = {0};
            assert_memory_equal(h, zero, 32);
        }
    }
}

static void test_usable(void **state)
{
    (void)state;
    struct tn_invitation v = {.expires_at = 100, .used_at = 0};
    assert_true(tn_invite_usable(&v, 99));
    assert_false(tn_invite_usable(&v, 100)); /* expiry is exclusive */
    v.used_at = 50;
    assert_false(tn_invite_usable(&v, 60));
}

/* The token of the link in a result. */
static const char *token_of(const struct tn_invite_result *r)
{
    const char *t = strstr(r->link, "/invite?t=");
    assert_non_null(t);
    return t + strlen("/invite?t=");
}

static void test_create_refusals(void **state)
{
    struct ctx *c = *state;
    struct tn_store *s = c->f->s;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    struct tn_invite_result r;
    static const struct {
        const char *email, *role, *org, *by;
        enum tn_err want;
        const char *msg;
    } rows[] = {
        {"bob", "editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "'bob' is not a plain email address such as alice@example.com"},
        {"bob@example.com\r\nBcc: x@evil.example", "editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "'bob@example.com\r\nBcc: x@evil.example' is not a plain email address such as "
         "alice@example.com"},
        {"\"bob\"@example.com", "editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "'\"bob\"@example.com' is not a plain email address such as alice@example.com"},
        {"bob@example.com, eve@evil.example", "editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "'bob@example.com, eve@evil.example' is not a plain email address such as "
         "alice@example.com"},
        {"bob@[127.0.0.1]", "editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "'bob@[127.0.0.1]' is not a plain email address such as alice@example.com"},
        {"", "editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "'' is not a plain email address such as alice@example.com"},
        {"bob@example.com", "root", NULL, NULL, TN_ERR_BAD_INPUT,
         "unknown role 'root' (one of viewer, editor, admin)"},
        {"bob@example.com", "Editor", NULL, NULL, TN_ERR_BAD_INPUT,
         "unknown role 'Editor' (one of viewer, editor, admin)"},
        {"bob@example.com", "editor", "Nope", NULL, TN_ERR_NOT_FOUND,
         "no organization 'Nope' (see `teamnotes org list`)"},
        {"bob@example.com", "editor", NULL, "nobody@example.com", TN_ERR_NOT_FOUND,
         "no active account for the inviter nobody@example.com"},
        {"bob@example.com", "editor", NULL, "off@example.com", TN_ERR_NOT_FOUND,
         "no active account for the inviter off@example.com"},
        {"ADMIN@example.com", "viewer", NULL, NULL, TN_ERR_CONFLICT,
         "admin@example.com already has an account: they can sign in with it"},
        {"off@example.com", "viewer", NULL, NULL, TN_ERR_CONFLICT,
         "off@example.com already has an account, which is disabled (`teamnotes user enable "
         "off@example.com` turns it back on)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct tn_invite_request in = {.email = rows[i].email,
                                       .role = rows[i].role,
                                       .org = rows[i].org,
                                       .by = rows[i].by,
                                       .via = "test"};
        tn_buf_reset(&err);
        assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1000, &r, &err), rows[i].want);
        assert_string_equal(err.data, rows[i].msg);
        assert_string_equal(r.link, ""); /* nothing handed out */
    }
    /* nothing was stored or mailed for any of them */
    struct tn_invitation v;
    assert_int_equal(tn_store_invitation_pending(s, "bob@example.com", 1000, &v), TN_ERR_NOT_FOUND);
    char outbox[700];
    snprintf(outbox, sizeof outbox, "%s/outbox", c->f->data);
    DIR *d = opendir(outbox);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    assert_int_equal(files, 0);
    /* no mail delivery: refused before anything is stored */
    struct tn_invite_request in = {.email = "bob@example.com", .role = "editor"};
    tn_buf_reset(&err);
    assert_int_equal(tn_invite_create(s, NULL, BASE, &in, 1000, &r, &err), TN_ERR_CONFIG);
    assert_string_equal(err.data, "no mail delivery: set SMTP_URL, or DATA_DIR for the outbox");
    tn_buf_deinit(&err);
}

static void test_create_accept_once(void **state)
{
    struct ctx *c = *state;
    struct tn_store *s = c->f->s;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    struct tn_invite_result r;
    struct tn_invite_request in = {.email = "Bob@Example.COM",
                                   .role = "editor",
                                   .org = "Acme",
                                   .by = "admin@example.com",
                                   .ttl_s = 500,
                                   .via = "test"};
    assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1000, &r, &err), TN_OK);
    assert_string_equal(r.inv.email, "bob@example.com");
    assert_string_equal(r.inv.role, "editor");
    assert_string_equal(r.inv.org_id, "org_acme");
    assert_string_equal(r.inv.invited_by, "usr_admin");
    assert_string_equal(r.org_name, "Acme");
    assert_int_equal(r.inv.expires_at, 1500);
    assert_true(r.outbox);
    assert_int_equal(strncmp(r.link, BASE "/invite?t=", strlen(BASE "/invite?t=")), 0);
    char t[TN_INVITE_TOKEN_LEN + 1];
    snprintf(t, sizeof t, "%s", token_of(&r));
    assert_int_equal(strlen(token_of(&r)), TN_INVITE_TOKEN_LEN);
    uint8_t h[32];
    assert_true(tn_invite_token_hash(t, h));
    assert_memory_equal(h, r.inv.hash, 32);

    /* the mail in the outbox carries the link; the database does not have the token */
    FILE *fp = fopen(r.where, "rb");
    assert_non_null(fp);
    char mail[16384];
    size_t n = fread(mail, 1, sizeof mail - 1, fp);
    fclose(fp);
    mail[n] = '\0';
    assert_non_null(strstr(mail, "Subject: You are invited to teamnotes"));
    assert_non_null(strstr(mail, "To: bob@example.com"));

    /* before expiry, once */
    struct tn_user u;
    assert_int_equal(tn_invite_accept(s, h, "Bob", "", "password", 1499, &u), TN_OK);
    assert_string_equal(u.email, "bob@example.com");
    assert_string_equal(u.role, "editor");
    assert_string_equal(u.org_id, "org_acme");
    assert_string_equal(u.name, "Bob");
    assert_int_equal(strncmp(u.id, "usr_", 4), 0);
    char u_id[48];
    snprintf(u_id, sizeof u_id, "%s", u.id);
    assert_int_equal(tn_invite_accept(s, h, "Bob", "", "password", 1499, &u), TN_ERR_INVALID_GRANT);
    assert_string_equal(u.id, "");
    /* the account exists now: a new invitation for it is refused */
    tn_buf_reset(&err);
    assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1600, &r, &err), TN_ERR_CONFLICT);
    assert_string_equal(r.link, "");

    /* the audit log, newest first: accepted by password, created by the admin */
    struct seen seen = {0};
    assert_int_equal(tn_store_audit_list(s, 10, collect, &seen), TN_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.tool[0], "invite_accepted");
    assert_string_equal(seen.user[0], u_id);
    assert_string_equal(seen.detail[0], "method:password");
    assert_string_equal(seen.org[0], "org_acme");
    assert_string_equal(seen.tool[1], "invite_created");
    assert_string_equal(seen.user[1], "usr_admin");
    assert_string_equal(seen.detail[1], "invitee:bob@example.com");
    for (int i = 0; i < seen.n; i++) {
        assert_null(strstr(seen.user[i], t));
        assert_null(strstr(seen.detail[i], t));
    }
    tn_buf_deinit(&err);
}

static void test_expired_not_accepted(void **state)
{
    struct ctx *c = *state;
    struct tn_store *s = c->f->s;
    struct tn_invite_result r;
    struct tn_invite_request in = {.email = "carol@example.com", .role = "viewer", .ttl_s = 60};
    assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1000, &r, NULL), TN_OK);
    assert_string_equal(r.inv.org_id, ""); /* no organization */
    uint8_t h[32];
    assert_true(tn_invite_token_hash(token_of(&r), h));
    struct tn_user u;
    assert_int_equal(tn_invite_accept(s, h, "", "", "password", 1060, &u), TN_ERR_INVALID_GRANT);
    assert_int_equal(tn_store_user_by_email(s, "carol@example.com", &u), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_invite_claim_for_email(s, "carol@example.com", 1060, &u), TN_ERR_NOT_FOUND);
    /* a wrong token of the right shape is unknown */
    h[0] ^= 1;
    assert_int_equal(tn_invite_accept(s, h, "", "", "password", 1001, &u), TN_ERR_NOT_FOUND);
}

static void test_claim_for_email(void **state)
{
    struct ctx *c = *state;
    struct tn_store *s = c->f->s;
    struct tn_invite_result r;
    struct tn_user u;
    /* no invitation: no account */
    assert_int_equal(tn_invite_claim_for_email(s, "dan@example.com", 1000, &u), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_user_by_email(s, "dan@example.com", &u), TN_ERR_NOT_FOUND);
    struct tn_invite_request in = {.email = "dan@example.com", .role = "admin", .org = "org_acme"};
    assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1000, &r, NULL), TN_OK);
    assert_string_equal(r.org_name, "Acme"); /* found by id too */
    /* another address (a provider asserting a look-alike) gets nothing */
    assert_int_equal(tn_invite_claim_for_email(s, "dan@example.co", 1001, &u), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_invite_claim_for_email(s, "dan@example.com.evil", 1001, &u),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tn_invite_claim_for_email_via(s, "DAN@example.com", 1001, "oidc", &u), TN_OK);
    assert_string_equal(u.email, "dan@example.com");
    assert_string_equal(u.role, "admin");
    assert_string_equal(u.org_id, "org_acme");
    assert_string_equal(u.name, "dan@example.com");
    assert_string_equal(u.password_hash, ""); /* no password: signs in with the method used */
    struct tn_user got;
    assert_int_equal(tn_store_user_by_email(s, "dan@example.com", &got), TN_OK);
    assert_string_equal(got.id, u.id);
    /* used: a second claim finds nothing; the link no longer works either */
    assert_int_equal(tn_invite_claim_for_email(s, "dan@example.com", 1002, &u), TN_ERR_NOT_FOUND);
    uint8_t h[32];
    assert_true(tn_invite_token_hash(token_of(&r), h));
    assert_int_equal(tn_invite_accept(s, h, "", "", "password", 1002, &u), TN_ERR_INVALID_GRANT);
    struct seen seen = {0};
    assert_int_equal(tn_store_audit_list(s, 1, collect, &seen), TN_OK);
    assert_string_equal(seen.detail[0], "method:oidc");
}

static void test_reinvite_and_revoke(void **state)
{
    struct ctx *c = *state;
    struct tn_store *s = c->f->s;
    struct tn_invite_result r1, r2;
    struct tn_invite_request in = {.email = "eve@example.com", .role = "viewer"};
    assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1000, &r1, NULL), TN_OK);
    in.role = "editor";
    assert_int_equal(tn_invite_create(s, c->m, BASE, &in, 1001, &r2, NULL), TN_OK);
    assert_string_not_equal(r1.link, r2.link);
    uint8_t h1[32], h2[32];
    assert_true(tn_invite_token_hash(token_of(&r1), h1));
    assert_true(tn_invite_token_hash(token_of(&r2), h2));
    struct tn_invitation v;
    /* inviting again replaced the first link */
    assert_int_equal(tn_store_invitation_get(s, h1, &v), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_get(s, h2, &v), TN_OK);
    int64_t n = -1;
    assert_int_equal(tn_invite_revoke(s, "EVE@example.com", "test", &n), TN_OK);
    assert_int_equal(n, 1);
    struct tn_user u;
    assert_int_equal(tn_invite_accept(s, h2, "", "", "password", 1002, &u), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_invite_revoke(s, "eve@example.com", "test", &n), TN_OK);
    assert_int_equal(n, 0);
    struct seen seen = {0};
    assert_int_equal(tn_store_audit_list(s, 1, collect, &seen), TN_OK);
    assert_string_equal(seen.tool[0], "invite_revoked");
    assert_string_equal(seen.user[0], "test");
    assert_string_equal(seen.detail[0], "invitee:eve@example.com");
}

static void test_message_escaped(void **state)
{
    (void)state;
    struct tn_buf text, html;
    tn_buf_init(&text, 16384);
    tn_buf_init(&html, 16384);
    assert_int_equal(tn_invite_message("Eve <script>alert(1)</script> & \"co\"", "editor",
                                       "<b>Org</b>", "https://n.example/invite?t=a&b", 0, &text,
                                       &html),
                     TN_OK);
    assert_null(strstr(html.data, "<script>"));
    assert_null(strstr(html.data, "<b>Org"));
    assert_non_null(
        strstr(html.data, "Eve &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;"));
    assert_non_null(strstr(html.data, "href=\"https://n.example/invite?t=a&amp;b\""));
    assert_non_null(strstr(html.data, "1970-01-01 00:00 UTC"));
    assert_non_null(strstr(text.data, "Eve <script>alert(1)</script> & \"co\" invited you to "
                                      "teamnotes as editor in the organization <b>Org</b>."));
    assert_non_null(strstr(text.data, "\nhttps://n.example/invite?t=a&b\n"));
    tn_buf_reset(&text);
    tn_buf_reset(&html);
    assert_int_equal(tn_invite_message("", "viewer", "", "https://x/invite?t=1", 0, &text, &html),
                     TN_OK);
    assert_non_null(strstr(text.data, "An administrator invited you to teamnotes as viewer.\n"));
    tn_buf_deinit(&text);
    tn_buf_deinit(&html);
}

static void test_page_escaped(void **state)
{
    (void)state;
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    struct tn_page_invite p = {.token = "tok\"><x>",
                               .csrf = "c",
                               .request_id = "r\"x",
                               .email = "bob@example.com",
                               .role = "editor",
                               .org = "<i>Acme</i>",
                               .inviter = "Eve \xe2\x80\xae<script>",
                               .password_action = "/invite",
                               .email_action = "/invite/email",
                               .name = "\"><img src=x>",
                               .error = "<b>no</b>"};
    assert_int_equal(tn_page_invite(&b, &p), TN_OK);
    assert_null(strstr(b.data, "<x>"));
    assert_null(strstr(b.data, "<i>"));
    assert_null(strstr(b.data, "<script>"));
    assert_null(strstr(b.data, "<img"));
    assert_null(strstr(b.data, "<b>no"));
    assert_null(strstr(b.data, "\xe2\x80\xae")); /* a bidi override cannot reorder the page */
    assert_non_null(strstr(b.data, "name=\"t\" value=\"tok&quot;&gt;&lt;x&gt;\""));
    assert_non_null(strstr(b.data, "name=\"req\" value=\"r&quot;x\""));
    assert_non_null(
        strstr(b.data, "as <strong>editor</strong> (<bdi>&lt;i&gt;Acme&lt;/i&gt;</bdi>)"));
    assert_non_null(strstr(b.data, "action=\"/invite\""));
    assert_non_null(strstr(b.data, "action=\"/invite/email\""));
    /* the enabled ways only */
    tn_buf_reset(&b);
    p.email_action = NULL;
    p.request_id = NULL;
    assert_int_equal(tn_page_invite(&b, &p), TN_OK);
    assert_null(strstr(b.data, "/invite/email"));
    assert_null(strstr(b.data, "name=\"req\""));
    tn_buf_reset(&b);
    p.email_action = "/invite/email";
    p.password_action = NULL;
    assert_int_equal(tn_page_invite(&b, &p), TN_OK);
    assert_null(strstr(b.data, "type=\"password\""));
    /* required fields */
    size_t before = b.len;
    p.email_action = NULL;
    assert_int_equal(tn_page_invite(&b, &p), TN_ERR_INTERNAL); /* no way to accept */
    p.email_action = "/invite/email";
    p.token = NULL;
    assert_int_equal(tn_page_invite(&b, &p), TN_ERR_INTERNAL);
    assert_int_equal(b.len, before);
    assert_int_equal(tn_page_invite_done(&b, NULL, "u"), TN_ERR_INTERNAL);
    tn_buf_reset(&b);
    assert_int_equal(tn_page_invite_done(&b, "a<b>@example.com", "https://n.example/mcp"), TN_OK);
    assert_non_null(strstr(b.data, "a&lt;b&gt;@example.com"));
    assert_non_null(strstr(b.data, "<code>https://n.example/mcp</code>"));
    tn_buf_deinit(&b);
}

int main(void)
{
    if (tn_util_init() != TN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_hash),
        cmocka_unit_test(test_usable),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_all, teardown_all)
        T(test_create_refusals),
        T(test_create_accept_once),
        T(test_expired_not_accepted),
        T(test_claim_for_email),
        T(test_reinvite_and_revoke),
#undef T
        cmocka_unit_test(test_message_escaped),
        cmocka_unit_test(test_page_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
