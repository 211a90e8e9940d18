/* teamnotes org sso set|show|test|remove ORG, teamnotes org domain add|remove|list ORG:
 * argv in, the functions of auth/signin/sso.h called, their sentence printed. */
#include "cli/sso.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/signin/sso.h"
#include "cli/serve.h"

const char tn_cli_sso_usage[] =
    "  teamnotes org sso set ORG --issuer URL --client-id ID --secret-stdin [--scopes S]\n"
    "        [--groups-claim CLAIM] [--role-map group=role,...] [--default-role ROLE]\n"
    "        [--require-sso] [--allow-signup]\n"
    "                                  ORG's own OpenID provider (\"Continue with SSO\"); the\n"
    "                                  secret is read from standard input and stored sealed;\n"
    "                                  --require-sso: no password or email code for ORG's\n"
    "                                  domains; --allow-signup: a first SSO sign-in creates the\n"
    "                                  member (role from --role-map, else --default-role, viewer)\n"
    "  teamnotes org sso show|test|remove ORG\n"
    "                                  test: discovery and keys, and what is wrong\n"
    "  teamnotes org domain add|remove ORG DOMAIN | list ORG\n"
    "                                  email domains sent to ORG's provider; a domain belongs to\n"
    "                                  one organization. Adding it IS its verification: teamnotes\n"
    "                                  does not check DNS ownership, so add only domains ORG owns\n";

static void usage(void) { fprintf(stderr, "Usage:\n%s", tn_cli_sso_usage); }

static int finish(enum tn_err e, struct tn_buf *msg)
{
    if (e == TN_OK)
        printf("%s\n", msg->data ? msg->data : "");
    else
        fprintf(stderr, "teamnotes: %s\n", msg->data ? msg->data : tn_err_message(e));
    tn_buf_deinit(msg);
    return e == TN_OK ? 0 : e == TN_ERR_BAD_INPUT ? 2 : 1;
}

/* The secret line of standard input, without its line end; false when there is none. */
static bool read_secret(char *out, size_t cap)
{
    if (!fgets(out, (int)cap, stdin))
        return false;
    size_t n = strcspn(out, "\r\n");
    bool whole = out[n] != '\0' || feof(stdin);
    out[n] = '\0';
    return whole && n > 0;
}

static int sso_set(const struct tn_sso_admin *a, const struct tn_config *cfg, const char *org,
                   int argc, char **argv)
{
    struct tn_sso_input in = {.allow_loopback = tn_config_int(cfg, TN_CFG_SSO_ALLOW_LOOPBACK) != 0};
    bool secret_stdin = false;
    char secret[TN_SSO_SECRET_MAX + 2] = "";
    static const char *const valued[] = {"--issuer",       "--client-id", "--scopes",
                                         "--groups-claim", "--role-map",  "--default-role"};
    const char **slot[] = {&in.issuer,       &in.client_id, &in.scopes,
                           &in.groups_claim, &in.role_map,  &in.default_role};
    for (int i = 0; i < argc; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            if (strcmp(argv[i], valued[k]))
                continue;
            known = true;
            if (i + 1 >= argc) {
                fprintf(stderr, "teamnotes: %s needs a value\n", valued[k]);
                return 2;
            }
            if (*slot[k]) {
                fprintf(stderr, "teamnotes: %s is given twice\n", valued[k]);
                return 2;
            }
            *slot[k] = argv[++i];
        }
        if (known)
            continue;
        if (!strcmp(argv[i], "--secret-stdin"))
            secret_stdin = true;
        else if (!strcmp(argv[i], "--require-sso"))
            in.require_sso = true;
        else if (!strcmp(argv[i], "--allow-signup"))
            in.allow_signup = true;
        else {
            fprintf(stderr, "teamnotes: unknown option '%s' for org sso set\n", argv[i]);
            return 2;
        }
    }
    if (!in.issuer || !in.client_id) {
        fprintf(stderr, "teamnotes: org sso set needs --issuer and --client-id\n");
        return 2;
    }
    if (!secret_stdin) {
        fprintf(stderr, "teamnotes: give the client secret on standard input with --secret-stdin "
                        "(never on the command line)\n");
        return 2;
    }
    if (!read_secret(secret, sizeof secret)) {
        sodium_memzero(secret, sizeof secret);
        fprintf(stderr,
                "teamnotes: no client secret on standard input (one line, at most %u "
                "bytes)\n",
                TN_SSO_SECRET_MAX);
        return 2;
    }
    in.client_secret = secret;
    struct tn_buf msg;
    tn_buf_init(&msg, 4096);
    enum tn_err e = tn_sso_set(a, org, &in, &msg);
    sodium_memzero(secret, sizeof secret);
    return finish(e, &msg);
}

int tn_cli_org_sso(struct tn_store *s, const struct tn_config *cfg, int argc, char **argv)
{
    const char *what = argc > 0 ? argv[0] : "", *sub = argc > 1 ? argv[1] : "";
    const char *org = argc > 2 ? argv[2] : NULL;
    bool sso = !strcmp(what, "sso");
    if (!org ||
        (sso && strcmp(sub, "set") && strcmp(sub, "show") && strcmp(sub, "test") &&
         strcmp(sub, "remove")) ||
        (!sso && strcmp(sub, "add") && strcmp(sub, "remove") && strcmp(sub, "list")) ||
        (sso && strcmp(sub, "set") && argc != 3) || (!sso && !strcmp(sub, "list") && argc != 3) ||
        (!sso && strcmp(sub, "list") && argc != 4)) {
        usage();
        return 2;
    }
    uint8_t key[32];
    size_t key_len = 0;
    struct tn_sso_admin a = {.store = s, .actor = "cli"};
    /* only set and test open the sealed secret */
    if (sso && (!strcmp(sub, "set") || !strcmp(sub, "test"))) {
        if (tn_serve_secret(cfg, key, &key_len) != TN_OK) {
            fprintf(stderr, "teamnotes: no server secret: set SECRET_KEY (as the server has it), "
                            "or DATA_DIR\n");
            return 1;
        }
        a.secret = key;
        a.secret_len = key_len;
    }
    struct tn_buf msg;
    tn_buf_init(&msg, 16384);
    int rc;
    if (sso && !strcmp(sub, "set")) {
        tn_buf_deinit(&msg);
        rc = sso_set(&a, cfg, org, argc - 3, argv + 3);
    } else if (sso && !strcmp(sub, "show")) {
        enum tn_err e = tn_sso_show(&a, org, &msg);
        if (e == TN_OK)
            fputs(msg.data ? msg.data : "", stdout);
        rc = e == TN_OK ? (tn_buf_deinit(&msg), 0) : finish(e, &msg);
    } else if (sso && !strcmp(sub, "test")) {
        rc = finish(tn_sso_test(&a, org, tn_config_int(cfg, TN_CFG_SSO_ALLOW_LOOPBACK) != 0, &msg),
                    &msg);
    } else if (sso) {
        rc = finish(tn_sso_remove(&a, org, &msg), &msg);
    } else if (!strcmp(sub, "add")) {
        rc = finish(tn_sso_domain_add(&a, org, argv[3], &msg), &msg);
    } else if (!strcmp(sub, "remove")) {
        rc = finish(tn_sso_domain_remove(&a, org, argv[3], &msg), &msg);
    } else {
        enum tn_err e = tn_sso_domain_list(&a, org, &msg);
        if (e == TN_OK)
            fputs(msg.data ? msg.data : "", stdout);
        rc = e == TN_OK ? (tn_buf_deinit(&msg), 0) : finish(e, &msg);
    }
    sodium_memzero(key, sizeof key);
    return rc;
}
