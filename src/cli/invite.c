/* teamnotes user invite | invites | invite-revoke (cli/invite.h). */
#include "cli/invite.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/signin/invite.h"
#include "core/fetch.h"
#include "core/util.h"
#include "mail/mail.h"

static const char usage[] =
    "Usage:\n"
    "  teamnotes user invite EMAIL --role viewer|editor|admin [--org ORG] [--by EMAIL]\n"
    "  teamnotes user invites                 pending invitations\n"
    "  teamnotes user invite-revoke EMAIL     delete the pending invitation of EMAIL\n"
    "The invitation is mailed (SMTP_URL, or DATA_DIR/outbox/ whose link is printed too) and\n"
    "works once, for INVITE_TTL_S seconds (7 days); the link starts with BASE_URL.\n";

static const char *opt(int argc, char **argv, const char *name, bool *missing)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name)) {
            if (i + 1 < argc && argv[i + 1][0] != '-')
                return argv[i + 1];
            *missing = true;
            return NULL;
        }
    return NULL;
}

static void when(int64_t at, char out[32])
{
    time_t t = (time_t)at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

/* The organization of an invitation without --org: "default", as `user add` does. */
static enum tn_err default_org(struct tn_store *s, struct tn_org *o)
{
    if (tn_store_org_by_name(s, "default", o) == TN_OK)
        return TN_OK;
    memset(o, 0, sizeof *o);
    uint8_t b[12];
    tn_random(b, sizeof b);
    size_t n = (size_t)snprintf(o->id, sizeof o->id, "org_");
    tn_b64url_encode(o->id + n, sizeof o->id - n, b, sizeof b);
    snprintf(o->name, sizeof o->name, "default");
    o->created_at = tn_time_now_ms() / 1000;
    return tn_store_org_insert(s, o);
}

static int invite(struct tn_store *s, const struct tn_config *cfg, int argc, char **argv)
{
    bool missing = false;
    const char *role = opt(argc, argv, "--role", &missing);
    const char *org = opt(argc, argv, "--org", &missing);
    const char *by = opt(argc, argv, "--by", &missing);
    if (argc < 2 || argv[1][0] == '-' || missing) {
        fputs(usage, stderr);
        return 2;
    }
    if (!role) {
        fprintf(stderr, "teamnotes: user invite needs --role viewer|editor|admin\n");
        return 2;
    }
    struct tn_org o;
    if (!org) {
        if (default_org(s, &o) != TN_OK) {
            fprintf(stderr, "teamnotes: cannot create organization 'default'\n");
            return 1;
        }
        org = "default";
    }
    struct tn_mailer *m = NULL;
    struct tn_buf err;
    struct tn_invite_result res;
    tn_buf_init(&err, 2048);
    int rc = 1;
    if (tn_fetch_global_init() != TN_OK) {
        fprintf(stderr, "teamnotes: cannot initialise libcurl\n");
        goto done;
    }
    if (tn_mailer_new(cfg, &m, &err) != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid mail configuration");
        rc = 2;
        goto done;
    }
    struct tn_invite_request in = {.email = argv[1],
                                   .role = role,
                                   .org = org,
                                   .by = by,
                                   .ttl_s = tn_config_int(cfg, TN_CFG_INVITE_TTL_S),
                                   .via = "cli"};
    const char *base = tn_config_str(cfg, TN_CFG_BASE_URL);
    enum tn_err e = tn_invite_create(s, m, base, &in, tn_time_now_ms() / 1000, &res, &err);
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data && err.len ? err.data : tn_err_message(e));
        rc = e == TN_ERR_BAD_INPUT || e == TN_ERR_NOT_FOUND || e == TN_ERR_CONFIG ? 2 : 1;
        goto done;
    }
    char until[32];
    when(res.inv.expires_at, until);
    printf("invited %s as %s%s%s%s, valid once until %s\n", res.inv.email, res.inv.role,
           res.org_name[0] ? " (organization " : "", res.org_name, res.org_name[0] ? ")" : "",
           until);
    if (res.outbox) {
        printf("the mail is in %s (no SMTP_URL)\n", res.where);
        printf("invitation link (for %s only): %s\n", res.inv.email, res.link);
    } else {
        printf("mailed through %s\n", res.where);
    }
    rc = 0;
done:
    sodium_memzero(res.link, sizeof res.link);
    tn_mailer_free(m);
    tn_buf_deinit(&err);
    return rc;
}

struct lister {
    struct tn_store *s;
    int n;
};

static void print_invitation(const struct tn_invitation *v, void *ud)
{
    struct lister *l = ud;
    struct tn_org o;
    struct tn_user u;
    char until[32];
    when(v->expires_at, until);
    const char *org = v->org_id[0] && tn_store_org_get(l->s, v->org_id, &o) == TN_OK ? o.name : "-";
    const char *by = v->invited_by[0] && tn_store_user_get(l->s, v->invited_by, &u) == TN_OK
                         ? u.email
                         : "(command line)";
    if (l->n++ == 0)
        printf("%-32s %-8s %-20s %-24s %s\n", "EMAIL", "ROLE", "ORGANIZATION", "INVITED BY",
               "EXPIRES");
    printf("%-32s %-8s %-20s %-24s %s\n", v->email, v->role, org, by, until);
}

int tn_cli_invite(struct tn_store *s, const struct tn_config *cfg, const char *sub, int argc,
                  char **argv)
{
    if (!strcmp(sub, "invite"))
        return invite(s, cfg, argc, argv);
    if (!strcmp(sub, "invites")) {
        struct lister l = {s, 0};
        if (tn_store_invitation_list(s, tn_time_now_ms() / 1000, print_invitation, &l) != TN_OK)
            return 1;
        if (!l.n)
            printf("no pending invitations\n");
        return 0;
    }
    if (!strcmp(sub, "invite-revoke")) {
        if (argc < 2 || argv[1][0] == '-') {
            fputs(usage, stderr);
            return 2;
        }
        int64_t n = 0;
        enum tn_err e = tn_invite_revoke(s, argv[1], "cli", &n);
        if (e == TN_ERR_BAD_INPUT) {
            fprintf(stderr, "teamnotes: '%s' is not an email address\n", argv[1]);
            return 2;
        }
        if (e != TN_OK) {
            fprintf(stderr, "teamnotes: %s\n", tn_err_message(e));
            return 1;
        }
        if (!n) {
            fprintf(stderr, "teamnotes: no pending invitation for %s\n", argv[1]);
            return 1;
        }
        printf("revoked the invitation of %s; its link no longer works\n", argv[1]);
        return 0;
    }
    fputs(usage, stderr);
    return 2;
}
