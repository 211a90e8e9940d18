/* Redirect URIs of the built-in authorization server: one strict parser for what a client
 * registers (dynamic registration and client ID metadata documents alike) and for what
 * /authorize is asked to redirect to, and the rule that matches the two.
 *
 * A browser reads a Location with the WHATWG URL parser, which takes everything before
 * the last '@' of the authority as a user name, treats '\' as '/', decodes and lowercases
 * the host, reads hex, octal, short and decimal IPv4 forms, strips tabs and newlines and
 * resolves dot segments. So this parser accepts only forms where all of that changes
 * nothing: the host it extracts is exactly the host a browser visits. Accepted:
 *
 *   https://HOST[:PORT][/PATH][?QUERY]          matched byte for byte
 *   http://LOOPBACK[:PORT][/PATH][?QUERY]        LOOPBACK is 127.0.0.1, [::1] or localhost
 *                                                as registered; only the port may differ
 *                                                (RFC 8252 §7.3)
 *   SCHEME:[//HOST[:PORT]][/]PATH[?QUERY]        a private-use scheme (RFC 8252 §7.1),
 *                                                matched byte for byte
 *
 * HOST is a lowercase DNS name (labels of a-z, 0-9 and '-', the last one starting with a
 * letter, no trailing dot), a canonical dotted-quad IPv4 address, or [::1]. PORT is 1 to
 * 65535 in digits without a leading zero. Never: userinfo, a fragment, a backslash, a
 * space, control or non-ASCII byte, a percent escape in the host, a dot segment ("." or
 * "..", also written with %2e), a malformed percent escape, an uppercase scheme, or one
 * of the schemes a browser runs or reads locally (javascript, data, file, ...). */
#ifndef TN_AUTH_AS_REDIRECT_H
#define TN_AUTH_AS_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define TN_REDIRECT_MAX 1000 /* bytes */

enum tn_redirect_kind {
    TN_REDIRECT_HTTPS,    /* https */
    TN_REDIRECT_LOOPBACK, /* http on 127.0.0.1, [::1] or localhost */
    TN_REDIRECT_APP,      /* a private-use scheme, handed to an app on the device */
};

/* A parsed redirect URI: spans borrowed from the parsed string. */
struct tn_redirect_uri {
    enum tn_redirect_kind kind;
    struct tn_span scheme;
    struct tn_span host;  /* {NULL, 0} without an authority (private-use only) */
    unsigned port;        /* 0 when no port is written */
    struct tn_span path;  /* may be empty */
    struct tn_span query; /* without its '?'; ptr is NULL when there is no '?' */
};

/* Parses uri[0..len) by the rules above. On success fills *out; on failure returns
 * TN_ERR_BAD_INPUT, resets *out and points *why at a static reason that completes the
 * sentence "The redirect URI ..." ("must not contain user information"). */
enum tn_err tn_redirect_parse(const char *uri, size_t len, struct tn_redirect_uri *out,
                              const char **why);

/* Checks a NUL-terminated URI offered for registration (the same parser). On failure
 * returns TN_ERR_BAD_INPUT and appends the reason to `why`. */
enum tn_err tn_redirect_validate(const char *uri, struct tn_buf *why);

/* True when /authorize may redirect to `requested` for a client that registered
 * `registered`: both parse, and either they are the same bytes, or both are loopback http
 * with the same host spelling, path and query, the port alone differing. A URI that fails
 * the parser (even a registered one stored before these rules) never matches. */
bool tn_redirect_matches(const char *registered, const char *requested);

/* True when `uri` parses and is loopback http. */
bool tn_redirect_is_loopback(const char *uri);

/* The host to show a person on the consent page: the host of an https or loopback URI,
 * "SCHEME: (an app on this device)" for a private-use scheme (its authority is the app's
 * own business and is never shown as a web host), "(invalid)" when it does not parse.
 * Truncated to cap - 1 bytes. */
void tn_redirect_host(const char *uri, char *out, size_t cap);

#endif
