#include "cli/mail.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "mail/mail.h"

static const char usage[] =
    "Usage:\n"
    "  teamnotes mail test ADDRESS [--subject S] [--text-file F] [--html-file F]\n"
    "Sends a test message through SMTP_URL (or writes it to DATA_DIR/outbox/ without one).\n"
    "--subject and the files replace the default test content (UTF-8). Mail options\n"
    "(--smtp-url, --smtp-from, ...) are those of `teamnotes serve`; see teamnotes --help.\n";

/* The default content: non-ASCII text and a line longer than quoted-printable's 76
 * characters, so a test message shows the encodings working end to end. */
static const char default_subject[] = "teamnotes test message \xe2\x9c\x93";
static const char default_text[] =
    "This is a test message from teamnotes.\n"
    "\n"
    "If you can read it, mail delivery works: sign-in codes and invitations will arrive the\n"
    "same way. Gr\xc3\xbc\xc3\x9f"
    "e, \xe2\x9c\x93.\n";
static const char default_html[] =
    "<!doctype html>\n"
    "<html><body style=\"font-family: sans-serif\">\n"
    "<p>This is a test message from <strong>teamnotes</strong>.</p>\n"
    "<p>If you can read it, mail delivery works: sign-in codes and invitations will arrive the "
    "same way. Gr\xc3\xbc\xc3\x9f"
    "e, &#10003;.</p>\n"
    "</body></html>\n";

/* Reads a whole file of at most TN_MAIL_BODY_MAX bytes. */
static int read_file(const char *path, struct tn_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "teamnotes: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (tn_buf_append(out, chunk, n) != TN_OK) {
            fprintf(stderr, "teamnotes: %s is larger than %u bytes\n", path, TN_MAIL_BODY_MAX);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "teamnotes: cannot read %s\n", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

static void setup_log(const struct tn_config *cfg)
{
    const char *lvl = tn_config_str(cfg, TN_CFG_LOG_LEVEL);
    tn_log_setup(!strcmp(lvl, "debug")   ? TN_LOG_DEBUG
                 : !strcmp(lvl, "warn")  ? TN_LOG_WARN
                 : !strcmp(lvl, "error") ? TN_LOG_ERROR
                                         : TN_LOG_INFO,
                 !strcmp(tn_config_str(cfg, TN_CFG_LOG_FORMAT), "json"));
}

int tn_mail_cli_main(int argc, char **argv)
{
    int rc = 2;
    bool have_cfg = false;
    struct tn_config cfg;
    struct tn_mailer *m = NULL;
    struct tn_buf err, where, text, html;
    tn_buf_init(&err, 4096);
    tn_buf_init(&where, 4200);
    tn_buf_init(&text, TN_MAIL_BODY_MAX);
    tn_buf_init(&html, TN_MAIL_BODY_MAX);
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage, argc < 1 ? stderr : stdout);
        rc = argc < 1 ? 2 : 0;
        goto done;
    }
    if (strcmp(argv[0], "test") != 0 || argc < 2 || argv[1][0] == '-') {
        fputs(usage, stderr);
        goto done;
    }
    const char *to = argv[1];
    const char *subject = default_subject, *text_file = NULL, *html_file = NULL;
    char *cfg_args[256];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--subject")     ? &subject
                            : !strcmp(argv[i], "--text-file") ? &text_file
                            : !strcmp(argv[i], "--html-file") ? &html_file
                                                              : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (slot) {
            fprintf(stderr, "teamnotes: %s needs a value\n", argv[i]);
            goto done;
        } else if (n < 255) {
            cfg_args[n++] = argv[i];
        }
    }
    if (tn_config_load(&cfg, n, cfg_args, ".env", &err) != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid configuration");
        goto done;
    }
    have_cfg = true;
    setup_log(&cfg);
    if ((text_file && read_file(text_file, &text) != 0) ||
        (html_file && read_file(html_file, &html) != 0))
        goto done;
    if (!text_file)
        tn_buf_puts(&text, default_text);
    if (!html_file)
        tn_buf_puts(&html, default_html);
    if (tn_mail_addr_check(to, strlen(to)) != TN_OK) {
        fprintf(stderr, "teamnotes: '%s' is not a plain address such as alice@example.com\n", to);
        goto done;
    }
    if (tn_fetch_global_init() != TN_OK) {
        fprintf(stderr, "teamnotes: cannot initialise libcurl\n");
        rc = 1;
        goto done;
    }
    tn_buf_reset(&err);
    if (tn_mailer_new(&cfg, &m, &err) != TN_OK) {
        fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid mail configuration");
        goto done;
    }
    enum tn_err e = tn_mailer_send(m, tn_mail_span(to), tn_mail_span(subject),
                                   (struct tn_span){text.data ? text.data : "", text.len},
                                   (struct tn_span){html.data ? html.data : "", html.len}, &where,
                                   &err);
    if (e == TN_OK) {
        if (tn_mailer_kind(m) == TN_MAIL_SMTP)
            printf("sent a test message to %s through %s\n", to, tn_mailer_describe(m));
        else
            printf("wrote a test message for %s to %s\n", to, where.data ? where.data : "");
        rc = 0;
    } else {
        fprintf(stderr, "teamnotes: the test message to %s was not delivered: %s%s\n", to,
                err.data ? err.data : tn_err_message(e),
                e == TN_ERR_FORBIDDEN   ? " (the server refused SMTP_USERNAME/SMTP_PASSWORD)"
                : e == TN_ERR_BAD_INPUT ? " (see SMTP_FROM_NAME and --subject)"
                                        : "");
        rc = e == TN_ERR_CONFIG || e == TN_ERR_BAD_INPUT || e == TN_ERR_LIMIT ? 2 : 1;
    }
done:
    tn_mailer_free(m);
    if (have_cfg)
        tn_config_deinit(&cfg);
    tn_buf_deinit(&err);
    tn_buf_deinit(&where);
    tn_buf_deinit(&text);
    tn_buf_deinit(&html);
    return rc;
}
