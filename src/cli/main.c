/* teamnotes: the command line. */
#include <stdio.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/doctor.h"
#include "cli/backup.h"
#include "cli/import.h"
#include "cli/mail.h"
#include "cli/oidc.h"
#include "cli/serve.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/mail.h"
#include "notes/notes.h"

#ifndef TN_VERSION
#define TN_VERSION "0.1.0"
#endif

static const char usage[] =
    "teamnotes " TN_VERSION " - a multi-user MCP server for team notes\n"
    "\n"
    "Usage:\n"
    "  teamnotes serve [--option value ...]   start the server (reads .env, environment, flags)\n"
    "  teamnotes serve --print-config         show the effective configuration and exit\n"
    "  teamnotes user add EMAIL [--name N] [--role viewer|editor|admin] [--org ORG] [--password-stdin]\n"
    "  teamnotes user list | show EMAIL | set-role EMAIL ROLE | disable EMAIL | enable EMAIL\n"
    "  teamnotes role list | org add NAME | org list | client list | client revoke ID\n"
    "  teamnotes audit [--user U] [--tool T] [--outcome O] [--since T] [--until T] [--limit N] [--csv]\n"
    "                                         who did what to which note (never the text)\n"
    "  teamnotes keys list | keys rotate      the issuer's signing keys; rotate one now\n"
    "  teamnotes migrate                      apply storage migrations (serve does it too)\n"
    "  teamnotes import --from-xmcp PATH/.data/notes.json [--map SUB=EMAIL ...] [--org ORG]\n"
    "                                         move in from the xmcp template (import --help)\n"
    "  teamnotes doctor [--local] | doctor --url URL   check a configuration and deployment\n"
    "  teamnotes --help | --version\n"
    "\n"
    "Options (flags override the environment, which overrides .env):\n";

/* Creates the notes application (into *ud) and registers it with the server. */
static enum tn_err setup(struct tn_mcp_server *s, struct tn_store *store, void *ud)
{
    struct tn_notes **app = ud;
    *app = tn_notes_new(store);
    return *app ? tn_notes_register(*app, s) : TN_ERR_NOMEM;
}

static int cmd_serve(int argc, char **argv)
{
    bool print = false;
    int n = 0;
    char *args[256];
    for (int i = 0; i < argc && n < 255; i++) {
        if (strcmp(argv[i], "--print-config") == 0)
            print = true;
        else
            args[n++] = argv[i];
    }
    struct tn_config cfg;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    if (tn_config_load(&cfg, n, args, ".env", &err) != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid configuration");
        tn_buf_deinit(&err);
        return 2;
    }
    tn_buf_deinit(&err);
    if (print) {
        struct tn_buf out;
        tn_buf_init(&out, 1 << 20);
        tn_config_print(&cfg, &out);
        fputs(out.data ? out.data : "", stdout);
        tn_buf_deinit(&out);
        tn_config_deinit(&cfg);
        return 0;
    }
    const char *lvl = tn_config_str(&cfg, TN_CFG_LOG_LEVEL);
    tn_log_setup(!strcmp(lvl, "debug")   ? TN_LOG_DEBUG
                 : !strcmp(lvl, "warn")  ? TN_LOG_WARN
                 : !strcmp(lvl, "error") ? TN_LOG_ERROR
                                         : TN_LOG_INFO,
                 !strcmp(tn_config_str(&cfg, TN_CFG_LOG_FORMAT), "json"));
    struct tn_notes *app = NULL;
    struct tn_serve_opts opts = {
        .name = "teamnotes",
        .title = "Team notes",
        .version = TN_VERSION,
        .instructions = "Team notes: each person's own notes, saved and searched through tools.",
        .setup = setup,
        .ud = &app,
    };
    int rc = tn_serve(&cfg, &opts);
    tn_notes_free(app); /* after the server and the store it served */
    tn_config_deinit(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (tn_util_init() != TN_OK) {
        fprintf(stderr, "teamnotes: cannot initialise libsodium\n");
        return 1;
    }
    tn_config_add_check(tn_mail_config_check); /* SMTP_* refused at start by every command */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        struct tn_buf b;
        tn_buf_init(&b, 1 << 16);
        tn_config_help(&b);
        printf("%s%s", usage, b.data ? b.data : "");
        tn_buf_deinit(&b);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("teamnotes %s\n", TN_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "mail"))
        return tn_mail_cli_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "oidc"))
        return tn_oidc_cli_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "doctor"))
        return tn_doctor_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "backup") || !strcmp(argv[1], "restore"))
        return tn_backup_main(argv[1], argc - 2, argv + 2);
    if (!strcmp(argv[1], "import"))
        return tn_import_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "user") || !strcmp(argv[1], "role") || !strcmp(argv[1], "org") ||
        !strcmp(argv[1], "client") || !strcmp(argv[1], "audit") || !strcmp(argv[1], "migrate") ||
        !strcmp(argv[1], "keys"))
        return tn_admin_main(argv[1], argc - 2, argv + 2);
    fprintf(stderr, "teamnotes: unknown command '%s' (see teamnotes --help)\n", argv[1]);
    return 2;
}
