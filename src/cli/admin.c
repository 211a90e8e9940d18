#include "cli/admin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include "auth/as/admin_ops.h"
#include "auth/as/keys.h"
#include "auth/as/users.h"
#include "cli/invite.h"
#include "cli/sso.h"
#include "core/config.h"
#include "core/util.h"
#include "store/store.h"

static const char usage[] =
    "Usage:\n"
    "  teamnotes user add EMAIL [--name N] [--role viewer|editor|admin] [--org ORG] [--password-stdin]\n"
    "  teamnotes user list | show EMAIL | set-role EMAIL ROLE | disable EMAIL | enable EMAIL\n"
    "  teamnotes user invite EMAIL --role ROLE [--org ORG] [--by EMAIL] | invites |\n"
    "                 invite-revoke EMAIL          invitations, mailed (or printed: outbox)\n"
    "  teamnotes role list\n"
    "  teamnotes org add NAME | list\n"
    "%s"
    "  teamnotes client list | revoke CLIENT_ID\n"
    "  teamnotes audit [--user EMAIL|ID] [--tool T] [--outcome O] [--since T] [--until T]\n"
    "                  [--limit N] [--csv]         who did what to which note (never the text)\n"
    "  teamnotes keys list | rotate                the issuer's signing keys; rotate now\n"
    "  teamnotes migrate                           apply pending storage migrations\n"
    "Storage options (--data-dir, --database-url, …) are those of `teamnotes serve`.\n";

static int64_t now_s(void) { return tn_time_now_ms() / 1000; }

static void random_id(char *out, size_t cap, const char *prefix)
{
    uint8_t b[12];
    tn_random(b, sizeof b);
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    tn_b64url_encode(out + n, cap - n, b, sizeof b);
}

static void print_user(const struct tn_user *u, void *ud)
{
    (void)ud;
    printf("%-32s %-8s %-20s %s%s\n", u->email, u->role, u->org_id[0] ? u->org_id : "-", u->id,
           u->disabled ? "  (disabled)" : "");
}

static void print_org(const struct tn_org *o, void *ud)
{
    (void)ud;
    printf("%-24s %s\n", o->name, o->id);
}

static void print_audit(const struct tn_audit *a, void *ud)
{
    (void)ud;
    char when[32];
    time_t t = (time_t)(a->at / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s  %-9s %-16s %-24s %s  client=%s%s%s%s%s\n", when, a->outcome, a->tool,
           a->note_id[0] ? a->note_id : "-", a->user, a->client_id[0] ? a->client_id : "-",
           a->org[0] ? "  org=" : "", a->org, a->detail[0] ? "  " : "", a->detail);
}

static void print_client(const struct tn_client *c, void *ud)
{
    (void)ud;
    char when[32] = "never";
    if (c->last_used_at) {
        time_t t = (time_t)c->last_used_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    }
    printf("%-26s %-28.28s %-20s last used %s\n", c->id, c->name, c->auth_method, when);
}

/* Pulls --name VALUE style options out of argv. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static bool flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name))
            return true;
    return false;
}

/* Who acts on the command line: the login of the person running it (the audit's user). */
static struct tn_admin_actor cli_actor(void)
{
    static char key[300];
    const char *login = getenv("SUDO_USER");
    struct passwd *pw = login ? NULL : getpwuid(getuid());
    if (!login)
        login = pw && pw->pw_name ? pw->pw_name : "unknown";
    snprintf(key, sizeof key, "cli|%s", login);
    return (struct tn_admin_actor){.user = key, .org = "", .via = "cli"};
}

static int admin_failed(enum tn_err e)
{
    fprintf(stderr, "teamnotes: %s\n",
            e == TN_ERR_CONFLICT    ? "that would leave no enabled administrator"
            : e == TN_ERR_NOT_FOUND ? "no such account"
                                    : tn_err_message(e));
    return 1;
}

/* ---------- audit [filters] [--csv] ---------- */

static void csv_audit(const struct tn_audit *a, void *ud)
{
    struct tn_buf *b = ud;
    tn_buf_reset(b);
    if (tn_admin_csv_row(b, a) == TN_OK)
        fwrite(b->data, 1, b->len, stdout);
}

static int audit_cmd(struct tn_store *s, int nr, char **rest)
{
    const char *l = opt(nr, rest, "--limit");
    long lim = l ? strtol(l, NULL, 10) : 50;
    bool csv = flag(nr, rest, "--csv");
    if (lim < 1 || lim > TN_AUDIT_QUERY_MAX) {
        fprintf(stderr, "teamnotes: --limit must be 1 to %d\n", TN_AUDIT_QUERY_MAX);
        return 2;
    }
    struct tn_admin_audit_query q = {.person = opt(nr, rest, "--user"),
                                     .tool = opt(nr, rest, "--tool"),
                                     .outcome = opt(nr, rest, "--outcome"),
                                     .limit = (unsigned)lim};
    const char *since = opt(nr, rest, "--since"), *until = opt(nr, rest, "--until");
    if ((since && tn_admin_parse_time(since, &q.since_ms) != TN_OK) ||
        (until && tn_admin_parse_time(until, &q.until_ms) != TN_OK)) {
        fprintf(stderr, "teamnotes: --since and --until take 2026-12-06, 2026-12-06T17:30[:05] "
                        "(UTC) or milliseconds since 1970\n");
        return 2;
    }
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    enum tn_err e = TN_OK;
    if (csv && (e = tn_admin_csv_header(&b)) == TN_OK)
        fwrite(b.data, 1, b.len, stdout);
    if (e == TN_OK)
        e = tn_admin_audit(s, &q, csv ? csv_audit : print_audit, &b);
    tn_buf_deinit(&b);
    if (e != TN_OK)
        fprintf(stderr, "teamnotes: %s\n", tn_err_message(e));
    return e == TN_OK ? 0 : e == TN_ERR_BAD_INPUT ? 2 : 1;
}

/* ---------- keys list | rotate ---------- */

static void print_key(const struct tn_admin_key *k, void *ud)
{
    (void)ud;
    char f[3][32];
    int64_t t[3] = {k->key.signs_from, k->key.retire_at, k->published_until};
    for (int i = 0; i < 3; i++) {
        time_t tt = (time_t)t[i];
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(f[i], sizeof f[i], "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    printf("%-44s %-8s signs %s .. %s  published until %s\n", k->key.kid,
           k->state == TN_AS_KEY_CURRENT ? "current"
           : k->state == TN_AS_KEY_NEXT  ? "next"
                                         : "retired",
           f[0], f[1], f[2]);
}

/* The server secret as `serve` derives it (SECRET_KEY, else DATA_DIR/secret.key, which
 * is never created here: without it there are no keys to rotate). */
static int server_secret(const struct tn_config *cfg, uint8_t key[32])
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    if (k[0]) {
        tn_hmac_sha256(key, (const uint8_t *)"teamnotes-secret", 16, k, strlen(k));
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", tn_config_str(cfg, TN_CFG_DATA_DIR));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, key, 32) : -1;
    if (fd >= 0)
        close(fd);
    if (n != 32) {
        fprintf(stderr,
                "teamnotes: no server secret: set SECRET_KEY as the server has it, or "
                "run where DATA_DIR/secret.key is (%s)\n",
                path);
        return 1;
    }
    return 0;
}

static int keys_cmd(struct tn_store *s, const struct tn_config *cfg, int nr, char **rest)
{
    int64_t ttl = tn_config_int(cfg, TN_CFG_ACCESS_TOKEN_TTL_S);
    if (nr >= 1 && !strcmp(rest[0], "list"))
        return tn_admin_keys(s, now_s(), ttl, print_key, NULL) == TN_OK ? 0 : 1;
    if (nr < 1 || strcmp(rest[0], "rotate")) {
        fputs(usage, stderr);
        return 2;
    }
    uint8_t secret[32];
    if (server_secret(cfg, secret) != 0)
        return 1;
    struct tn_as_keys_config kc = {
        .store = s,
        .secret = secret,
        .secret_len = sizeof secret,
        .rotate_s = tn_config_int(cfg, TN_CFG_KEY_ROTATION_DAYS) * 86400,
        .lead_s = tn_config_int(cfg, TN_CFG_KEY_PUBLISH_LEAD_S),
        .token_ttl_s = ttl,
    };
    struct tn_as_keys *k = NULL;
    enum tn_err e = tn_as_keys_open(&kc, &k);
    memset(secret, 0, sizeof secret);
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes: cannot open the signing keys (%s)\n", tn_err_message(e));
        return 1;
    }
    struct tn_as_rotation r;
    struct tn_admin_actor who = cli_actor();
    e = tn_admin_keys_rotate(k, s, &who, now_s(), &r);
    tn_as_keys_free(k);
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes: rotation failed (%s)\n", tn_err_message(e));
        return 1;
    }
    time_t tt = (time_t)r.signs_from;
    struct tm tm;
    char when[32];
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s %s, published now, signs from %s (replacing %s); running servers pick it up "
           "within 30 s\n",
           r.created ? "new key" : "next key", r.kid, when, r.old_kid[0] ? r.old_kid : "none");
    return tn_store_audit_flush(s) == TN_OK ? 0 : 1;
}

/* The organization named `name`, created when there is none. */
static int org_for(struct tn_store *s, const char *name, struct tn_org *o)
{
    if (tn_store_org_by_name(s, name, o) == TN_OK)
        return 0;
    memset(o, 0, sizeof *o);
    random_id(o->id, sizeof o->id, "org_");
    snprintf(o->name, sizeof o->name, "%s", name);
    o->created_at = now_s();
    if (tn_store_org_insert(s, o) != TN_OK) {
        fprintf(stderr, "teamnotes: cannot create organization '%s'\n", name);
        return 1;
    }
    return 0;
}

/* The new account's password: one line of standard input (--password-stdin), else a
 * random one (*generated). */
static int new_password(int argc, char **argv, char *pw, size_t cap, bool *generated)
{
    *generated = false;
    if (flag(argc, argv, "--password-stdin")) {
        if (!fgets(pw, (int)cap, stdin)) {
            fprintf(stderr, "teamnotes: no password on standard input\n");
            return 2;
        }
        pw[strcspn(pw, "\r\n")] = '\0';
        return 0;
    }
    uint8_t b[15];
    tn_random(b, sizeof b);
    tn_b64url_encode(pw, cap, b, sizeof b);
    *generated = true;
    return 0;
}

/* user add EMAIL [--name N] [--role R] [--org ORG] [--password-stdin] */
static int user_add(struct tn_store *s, int argc, char **argv, const char *email)
{
    struct tn_user u;
    struct tn_org o;
    char pw[1100] = "";
    bool generated = false;
    int rc = 2;
    memset(&u, 0, sizeof u);
    const char *role = opt(argc, argv, "--role");
    if (!role)
        role = "editor";
    if (!tn_role_permissions(role)) {
        fprintf(stderr, "teamnotes: unknown role '%s' (see `teamnotes role list`)\n", role);
        goto done;
    }
    random_id(u.id, sizeof u.id, "usr_");
    snprintf(u.email, sizeof u.email, "%s", email);
    const char *name = opt(argc, argv, "--name");
    snprintf(u.name, sizeof u.name, "%s", name ? name : email);
    snprintf(u.role, sizeof u.role, "%s", role);
    const char *orgname = opt(argc, argv, "--org");
    if (!orgname)
        orgname = "default";
    if ((rc = org_for(s, orgname, &o)) != 0)
        goto done;
    snprintf(u.org_id, sizeof u.org_id, "%s", o.id);
    if ((rc = new_password(argc, argv, pw, sizeof pw, &generated)) != 0)
        goto done;
    rc = 2;
    if (tn_password_hash(pw, u.password_hash) != TN_OK) {
        fprintf(stderr, "teamnotes: the password needs %d to 1024 characters\n", TN_PASSWORD_MIN);
        goto done;
    }
    u.created_at = now_s();
    enum tn_err e = tn_store_user_insert(s, &u);
    rc = e == TN_OK ? 0 : 1;
    if (e == TN_ERR_CONFLICT) {
        fprintf(stderr, "teamnotes: %s already has an account\n", email);
    } else if (e != TN_OK) {
        fprintf(stderr, "teamnotes: cannot create the account (%s)\n", tn_err_message(e));
    } else {
        printf("created %s (%s, organization %s)\n", email, role, orgname);
        if (generated)
            printf("initial password (shown once): %s\n", pw);
    }
done:
    memset(pw, 0, sizeof pw);
    return rc;
}

/* user show | set-role ROLE | disable | enable, on the account of `email`. */
static int user_change(struct tn_store *s, const char *sub, int argc, char **argv,
                       const char *email)
{
    struct tn_user u;
    if (tn_store_user_by_email(s, email, &u) != TN_OK) {
        fprintf(stderr, "teamnotes: no account for %s\n", email);
        return 1;
    }
    if (!strcmp(sub, "show")) {
        printf("id           %s\nemail        %s\nname         %s\nrole         %s (%s)\n"
               "organization %s\nstatus       %s\n",
               u.id, u.email, u.name, u.role,
               tn_role_permissions(u.role) ? tn_role_permissions(u.role) : "?",
               u.org_id[0] ? u.org_id : "-", u.disabled ? "disabled" : "active");
        return 0;
    }
    struct tn_admin_actor who = cli_actor();
    if (!strcmp(sub, "set-role")) {
        if (argc < 3 || !tn_role_permissions(argv[2])) {
            fprintf(stderr, "teamnotes: give one of the roles of `teamnotes role list`\n");
            return 2;
        }
        enum tn_err e = tn_admin_set_role(s, &who, email, argv[2], &u);
        if (e != TN_OK)
            return admin_failed(e);
        printf("%s is now %s (permissions it lacks stop working within seconds; added ones "
               "come with their next token)\n",
               email, u.role);
        return 0;
    }
    if (!strcmp(sub, "disable") || !strcmp(sub, "enable")) {
        enum tn_err e = tn_admin_set_disabled(s, &who, email, !strcmp(sub, "disable"), &u);
        if (e != TN_OK)
            return admin_failed(e);
        printf("%s is %s%s\n", email, u.disabled ? "disabled" : "enabled",
               u.disabled ? "; their refresh tokens are revoked" : "");
        return 0;
    }
    fprintf(stderr, usage, tn_cli_sso_usage);
    return 2;
}

static int user_cmd(struct tn_store *s, const struct tn_config *cfg, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (!strcmp(sub, "list"))
        return tn_store_user_list(s, print_user, NULL) == TN_OK ? 0 : 1;
    if (!strcmp(sub, "invite") || !strcmp(sub, "invites") || !strcmp(sub, "invite-revoke"))
        return tn_cli_invite(s, cfg, sub, argc, argv);
    if (argc < 2) {
        fprintf(stderr, usage, tn_cli_sso_usage);
        return 2;
    }
    char email[256];
    size_t el = strlen(argv[1]);
    if (el >= sizeof email || !strchr(argv[1], '@')) {
        fprintf(stderr, "teamnotes: '%s' is not an email address\n", argv[1]);
        return 2;
    }
    for (size_t i = 0; i <= el; i++)
        email[i] = (char)tolower((unsigned char)argv[1][i]);
    return !strcmp(sub, "add") ? user_add(s, argc, argv, email)
                               : user_change(s, sub, argc, argv, email);
}

int tn_admin_main(const char *cmd, int argc, char **argv)
{
    if (!strcmp(cmd, "role")) {
        if (argc < 1 || strcmp(argv[0], "list")) {
            fprintf(stderr, usage, tn_cli_sso_usage);
            return 2;
        }
        for (const char *const *r = tn_roles; *r; r++)
            printf("%-8s %s\n", *r, tn_role_permissions(*r));
        return 0;
    }
    /* storage options are the server's; everything else is the command's own */
    char *cfg_args[64];
    int n = 0;
    char *rest[64];
    int nr = 0;
    for (int i = 0; i < argc && n < 62 && nr < 63; i++) {
        if ((!strcmp(argv[i], "--data-dir") || !strcmp(argv[i], "--database-url")) &&
            i + 1 < argc) {
            cfg_args[n++] = argv[i];
            cfg_args[n++] = argv[++i];
        } else {
            rest[nr++] = argv[i];
        }
    }
    struct tn_config cfg;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    if (tn_config_load(&cfg, n, cfg_args, ".env", &err) != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid configuration");
        tn_buf_deinit(&err);
        return 2;
    }
    struct tn_store *s = NULL;
    tn_buf_reset(&err);
    if (tn_store_open(tn_config_str(&cfg, TN_CFG_DATA_DIR),
                      tn_config_str(&cfg, TN_CFG_DATABASE_URL), &s, &err) != TN_OK) {
        fprintf(stderr, "teamnotes: cannot open the store: %s\n", err.data ? err.data : "");
        tn_buf_deinit(&err);
        tn_config_deinit(&cfg);
        return 1;
    }
    tn_buf_deinit(&err);
    int rc = 2;
    if (!strcmp(cmd, "user")) {
        rc = user_cmd(s, &cfg, nr, rest);
    } else if (!strcmp(cmd, "org") && nr >= 1 &&
               (!strcmp(rest[0], "sso") || !strcmp(rest[0], "domain"))) {
        rc = tn_cli_org_sso(s, &cfg, nr, rest);
    } else if (!strcmp(cmd, "org") && nr >= 1 && !strcmp(rest[0], "list")) {
        rc = tn_store_org_list(s, print_org, NULL) == TN_OK ? 0 : 1;
    } else if (!strcmp(cmd, "org") && nr >= 2 && !strcmp(rest[0], "add")) {
        struct tn_org o;
        memset(&o, 0, sizeof o);
        random_id(o.id, sizeof o.id, "org_");
        snprintf(o.name, sizeof o.name, "%s", rest[1]);
        o.created_at = now_s();
        enum tn_err e = tn_store_org_insert(s, &o);
        if (e == TN_OK)
            printf("created organization %s (%s)\n", o.name, o.id);
        else
            fprintf(stderr, "teamnotes: %s\n",
                    e == TN_ERR_CONFLICT ? "that organization exists" : tn_err_message(e));
        rc = e == TN_OK ? 0 : 1;
    } else if (!strcmp(cmd, "migrate")) {
        /* opening the store applies what is pending (under a lock on PostgreSQL) */
        printf("%s store at schema version %d\n", tn_store_backend(s), tn_store_schema_version(s));
        rc = 0;
    } else if (!strcmp(cmd, "audit")) {
        rc = audit_cmd(s, nr, rest);
    } else if (!strcmp(cmd, "keys")) {
        rc = keys_cmd(s, &cfg, nr, rest);
    } else if (!strcmp(cmd, "client") && nr >= 1 && !strcmp(rest[0], "list")) {
        rc = tn_store_client_list(s, print_client, NULL) == TN_OK ? 0 : 1;
    } else if (!strcmp(cmd, "client") && nr >= 2 && !strcmp(rest[0], "revoke")) {
        struct tn_admin_actor who = cli_actor();
        enum tn_err e = tn_admin_app_revoke(s, &who, rest[1]);
        if (e == TN_OK)
            printf("client %s deleted with its consents and tokens\n", rest[1]);
        else
            fprintf(stderr, "teamnotes: %s\n",
                    e == TN_ERR_NOT_FOUND ? "no such client" : tn_err_message(e));
        rc = e == TN_OK ? 0 : 1;
    } else {
        fprintf(stderr, usage, tn_cli_sso_usage);
    }
    tn_store_close(s);
    tn_config_deinit(&cfg);
    return rc;
}
