/* Mail delivery: the messages sign-in codes, magic links and invitations travel in.
 *
 * Two halves. The message (src/mail/msg.c) is pure: strict address checks, RFC 2047
 * encoded-words, quoted-printable, and an RFC 5322 + MIME multipart/alternative message
 * built into a buffer. The mailer (src/mail/mailer.c) delivers one: over SMTP with
 * libcurl (STARTTLS required, or implicit TLS with smtps://), or, with no SMTP_URL, as a
 * file in DATA_DIR/outbox/ so that a first run works without a mail server.
 *
 * Header injection is impossible by construction: every header value either passed a
 * check that refuses CR, LF, NUL and other control characters, or was generated here. */
#ifndef TN_MAIL_MAIL_H
#define TN_MAIL_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

/* Limits of the parts of a message (bytes). */
#define TN_MAIL_ADDR_MAX 254        /* RFC 5321 path limit less the angle brackets */
#define TN_MAIL_LOCAL_MAX 64        /* RFC 5321 §4.5.3.1.1 */
#define TN_MAIL_DOMAIN_MAX 255      /* RFC 5321 §4.5.3.1.2 */
#define TN_MAIL_NAME_MAX 200        /* display name */
#define TN_MAIL_SUBJECT_MAX 900     /* the unfolded Subject stays within RFC 5322's 998 */
#define TN_MAIL_BODY_MAX (1u << 20) /* each of the text and HTML parts */
/* A built message never exceeds this: quoted-printable at most triples a body, and soft
 * line breaks add 3 bytes per 73 of output. */
#define TN_MAIL_MSG_MAX (8u << 20)

/* One message. Every field is a borrowed span (no NUL needed, a NUL inside is refused).
 * `from_name` may be empty (From: shows the bare address). `text` and `html` become the
 * text/plain and text/html alternatives; line ends (LF or CRLF) become CRLF. */
struct tn_mail_msg {
    struct tn_span from_name;
    struct tn_span from;
    struct tn_span to;
    struct tn_span subject;
    struct tn_span text;
    struct tn_span html;
};

/* A span over a C string (NULL gives an empty span). */
static inline struct tn_span tn_mail_span(const char *s)
{
    return (struct tn_span){s ? s : "", s ? strlen(s) : 0};
}

/* Checks one address the way a mail server reads an envelope path: a single addr-spec
 * local@domain, ASCII, the local part a dot-atom (RFC 5322 atext; no quoted strings,
 * comments, routes, brackets, commas or spaces) of 1..64 bytes, the domain a DNS name of
 * two or more labels (letters, digits, inner hyphens; 1..63 bytes each; the last not all
 * digits, so no IP literal in disguise) of at most 255, the whole at most 254.
 * TN_OK or TN_ERR_BAD_INPUT. */
enum tn_err tn_mail_addr_check(const char *p, size_t n);

/* Checks a display name or subject: valid UTF-8 without control characters (C0, DEL),
 * at most `max` bytes. TN_OK, TN_ERR_BAD_INPUT or TN_ERR_LIMIT. */
enum tn_err tn_mail_text_check(const char *p, size_t n, size_t max);

/* Appends `in` as quoted-printable (RFC 2045 §6.7) for a text part: LF and CRLF become
 * hard line breaks (CRLF), lines are at most 76 characters with soft breaks ("=" CRLF),
 * "=" and bytes outside printable ASCII are =XX, a space or tab before a line end is
 * encoded, and so are a "." or "From " at the start of a line (mail transports alter
 * those). Fails only when `out` would pass its limit (TN_ERR_LIMIT). */
enum tn_err tn_mail_qp_encode(struct tn_buf *out, const char *in, size_t n);

/* Appends an unstructured header value (Subject, a display name) as is when it is plain
 * printable ASCII that fits the line, else as RFC 2047 "B" encoded-words of whole UTF-8
 * characters, each at most 75 characters, folded with CRLF SP. `used` is the length of
 * the line so far ("Subject: " = 9). `phrase` asks for a display name: ASCII goes into a
 * quoted-string. The value must have passed tn_mail_text_check. */
enum tn_err tn_mail_header_encode(struct tn_buf *out, const char *in, size_t n, size_t used,
                                  bool phrase);

/* Builds the whole message into `out` (initialised by the caller with a limit of at least
 * TN_MAIL_MSG_MAX): Date (`now_ms`, UTC), From, To, Subject, a random Message-ID at the
 * From domain, MIME-Version, Auto-Submitted, and a multipart/alternative body with a random
 * boundary that occurs in neither part. TN_ERR_BAD_INPUT when an address, the display name
 * or the subject is refused (see above; out is then empty), TN_ERR_LIMIT when a part is
 * larger than allowed. */
enum tn_err tn_mail_build(const struct tn_mail_msg *m, int64_t now_ms, struct tn_buf *out);

/* ---- delivery ---- */

enum tn_mail_kind {
    TN_MAIL_NONE,   /* no delivery: DATABASE_URL without SMTP_URL or an explicit DATA_DIR */
    TN_MAIL_OUTBOX, /* files in DATA_DIR/outbox/ */
    TN_MAIL_SMTP,   /* SMTP_URL */
};

struct tn_mailer;

/* Checks the SMTP_* settings (called by tn_config_load, so a bad value stops every
 * command with a sentence in `err`): SMTP_URL parses (smtp:// or smtps://, a host, an
 * optional port and EHLO name, no credentials, query or fragment), SMTP_TLS fits the
 * scheme and `none` names a loopback host, SMTP_FROM is set with SMTP_URL and is a valid
 * address, SMTP_FROM_NAME is a valid display name, a password has a user name, and
 * SMTP_CA_FILE is readable. TN_OK or TN_ERR_CONFIG. */
enum tn_err tn_mail_config_check(const struct tn_config *c, struct tn_buf *err);

/* Creates a mailer from a checked configuration; copies what it needs. TN_ERR_CONFIG (with
 * `err`) for settings tn_mail_config_check refuses. */
enum tn_err tn_mailer_new(const struct tn_config *c, struct tn_mailer **out, struct tn_buf *err);
void tn_mailer_free(struct tn_mailer *m);
enum tn_mail_kind tn_mailer_kind(const struct tn_mailer *m);
/* Where mail goes, for people: "smtp://host:port (STARTTLS)", the outbox directory, or
 * "nowhere (...)". */
const char *tn_mailer_describe(const struct tn_mailer *m);

/* Sends one message from the configured sender. Blocking, bounded by SMTP_TIMEOUT_MS:
 * call it from the blocking pool, never on an HTTP worker. Safe from several threads at
 * once (each call has its own libcurl handle); libcurl must have been set up once with
 * tn_fetch_global_init, as `serve` does. Logs one line (recipient,
 * subject, outcome; never the body or the password): keep secrets out of subjects.
 * On success `where` (optional) receives the outbox path or the SMTP server.
 *   TN_ERR_BAD_INPUT   an address, subject or display name refused (nothing sent)
 *   TN_ERR_LIMIT       a part too large
 *   TN_ERR_FORBIDDEN   the SMTP server refused our credentials
 *   TN_ERR_IO          connection, TLS (STARTTLS not offered included), timeout, refusal
 *                      by the server, or a failed outbox write; `err` says which
 *   TN_ERR_CONFIG      TN_MAIL_NONE: no delivery configured */
enum tn_err tn_mailer_send(struct tn_mailer *m, struct tn_span to, struct tn_span subject,
                           struct tn_span text, struct tn_span html, struct tn_buf *where,
                           struct tn_buf *err);

#endif
