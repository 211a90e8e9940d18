/* teamnotes oidc try: the relying party of src/auth/upstream driven by hand.
 *
 * Two invocations make one sign-in, as a browser would: the first prints the
 * authorization URL and keeps state, nonce and code_verifier in a 0600 file (the sign-in
 * page keeps them in the browser's sealed state); the second reads the callback URL the
 * provider redirected to from standard input and prints the verified identity as JSON,
 * or the exact reason for the refusal. The client secret is read from standard input
 * only, never from the command line (where `ps` would show it). */
#include "cli/oidc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/upstream/oidc.h"
#include "core/fetch.h"

static const char usage[] =
    "Usage:\n"
    "  teamnotes oidc try --issuer URL --client-id ID [--client-secret-stdin]\n"
    "                     --redirect-uri URI --state-file FILE [--scope S]\n"
    "                     [--groups-claim NAME] [--login-hint H] [--allow-loopback] [--finish]\n"
    "Without --finish: discovers the provider, prints the authorization URL and writes\n"
    "state, nonce and PKCE verifier to FILE (mode 0600). With --finish: reads the callback\n"
    "URL from standard input (after the secret line with --client-secret-stdin), redeems\n"
    "the code and prints the verified identity as JSON, or the reason it was refused.\n"
    "--allow-loopback lets the provider be plain http on 127.0.0.1 (tests only).\n";

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

/* One line of standard input without its line end; false at end of input. */
static bool read_line(char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, stdin))
        return false;
    buf[strcspn(buf, "\r\n")] = '\0';
    return true;
}

static int write_state(const char *path, const struct tn_oidc_start *st)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "state", st->state, "nonce", st->nonce,
                          "code_verifier", st->code_verifier);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = 1;
    if (text && fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0)
        rc = 0;
    else
        fprintf(stderr, "teamnotes oidc: cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    return rc;
}

static void print_identity(const struct tn_oidc_identity *id)
{
    json_t *g = json_array();
    for (size_t i = 0; i < id->n_groups; i++)
        json_array_append_new(g, json_string(id->groups[i]));
    json_t *j = json_pack("{s:s, s:s, s:s?, s:b, s:s?, s:o}", "iss", id->iss, "sub", id->sub,
                          "email", id->email, "email_verified", id->email_verified, "name",
                          id->name, "groups", g);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

static int finish(struct tn_oidc_provider *p, const char *state_file)
{
    int rc = 1;
    char line[8192];
    json_error_t je;
    json_t *st = json_load_file(state_file, JSON_REJECT_DUPLICATES, &je);
    struct tn_oidc_identity id;
    struct tn_buf detail;
    tn_buf_init(&detail, 1024);
    if (!st) {
        fprintf(stderr, "teamnotes oidc: cannot read %s: %s\n", state_file, je.text);
        goto done;
    }
    if (!read_line(line, sizeof line)) {
        fprintf(stderr, "teamnotes oidc: no callback URL on standard input\n");
        goto done;
    }
    /* the query of the callback URL, without a fragment */
    char *q = strchr(line, '?');
    q = q ? q + 1 : line;
    q[strcspn(q, "#")] = '\0';
    struct tn_oidc_pending pend = {
        json_string_value(json_object_get(st, "state")),
        json_string_value(json_object_get(st, "nonce")),
        json_string_value(json_object_get(st, "code_verifier")),
    };
    enum tn_oidc_reason why;
    enum tn_err e = tn_oidc_finish(p, q, strlen(q), &pend, &id, &why, &detail);
    sodium_memzero(line, sizeof line); /* the code */
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes oidc: refused: %s: %s%s%s%s\n", tn_oidc_reason_name(why),
                tn_oidc_reason_text(why), detail.len ? " (" : "", detail.len ? detail.data : "",
                detail.len ? ")" : "");
        goto done;
    }
    print_identity(&id);
    tn_oidc_identity_deinit(&id);
    rc = 0;
done:
    json_decref(st);
    tn_buf_deinit(&detail);
    return rc;
}

static int cmd_try(int argc, char **argv)
{
    const char *state_file = opt(argc, argv, "--state-file");
    char secret[1100] = "";
    struct tn_oidc_config c = {
        .issuer = opt(argc, argv, "--issuer"),
        .client_id = opt(argc, argv, "--client-id"),
        .redirect_uri = opt(argc, argv, "--redirect-uri"),
        .scopes = opt(argc, argv, "--scope"),
        .groups_claim = opt(argc, argv, "--groups-claim"),
        .allow_loopback = flag(argc, argv, "--allow-loopback"),
        .leeway_s = TN_OIDC_DEFAULT_LEEWAY_S,
    };
    if (!c.issuer || !c.client_id || !c.redirect_uri || !state_file) {
        fputs(usage, stderr);
        return 2;
    }
    if (flag(argc, argv, "--client-secret-stdin")) {
        if (!read_line(secret, sizeof secret) || !secret[0]) {
            fprintf(stderr, "teamnotes oidc: no client secret on standard input\n");
            return 2;
        }
        c.client_secret = secret;
    }
    if (tn_fetch_global_init() != TN_OK)
        return 1;
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why;
    enum tn_err e = tn_oidc_provider_new(&c, &p, &why);
    sodium_memzero(secret, sizeof secret); /* the provider keeps its own copy */
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes oidc: provider refused: %s: %s\n", tn_oidc_reason_name(why),
                tn_oidc_reason_text(why));
        return e == TN_ERR_CONFIG ? 2 : 1;
    }
    int rc = 1;
    if (flag(argc, argv, "--finish")) {
        rc = finish(p, state_file);
    } else {
        struct tn_oidc_start st;
        if (tn_oidc_begin(p, opt(argc, argv, "--login-hint"), &st) != TN_OK) {
            fprintf(stderr, "teamnotes oidc: cannot build the authorization URL\n");
        } else if ((rc = write_state(state_file, &st)) == 0) {
            printf("%s\n", st.url);
        }
        tn_oidc_start_deinit(&st);
    }
    tn_oidc_provider_free(p);
    return rc;
}

int tn_oidc_cli_main(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "try"))
        return cmd_try(argc - 1, argv + 1);
    fputs(usage,
          argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) ? stdout : stderr);
    return argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) ? 0 : 2;
}
