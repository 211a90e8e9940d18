/* Client addresses behind reverse proxies: IP addresses, the TRUSTED_PROXIES list of
 * CIDR blocks, and the walk of X-Forwarded-For or Forwarded (RFC 7239) that finds the
 * real client.
 *
 * Pure functions over (ptr, len): no sockets, no allocation, no global state. The HTTP
 * server (src/http/server.c) feeds them the socket peer and the header lines; the
 * configuration (src/core/config.c) uses the list parser to refuse a bad TRUSTED_PROXIES
 * at start. */
#ifndef TN_CORE_PROXY_H
#define TN_CORE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/err.h"

/* An address in network order: IPv6, or IPv4 as its IPv4-mapped form ::ffff:a.b.c.d, so
 * that 10.0.0.1 and ::ffff:10.0.0.1 are one address everywhere. */
struct tn_ip {
    uint8_t b[16];
};

#define TN_IP_TEXT_MAX 46 /* INET6_ADDRSTRLEN, NUL included */

/* Parses a bare IPv4 dotted quad or IPv6 address: no brackets, port, zone or spaces.
 * TN_ERR_BAD_INPUT otherwise, with *out zeroed. */
enum tn_err tn_ip_parse(const char *s, size_t len, struct tn_ip *out);
/* The address of an AF_INET or AF_INET6 socket address; false (and *out zeroed) for any
 * other family or NULL. */
bool tn_ip_from_sockaddr(const struct sockaddr *sa, struct tn_ip *out);
/* Writes the address as text: IPv4-mapped ones as a dotted quad, others as RFC 5952. */
void tn_ip_format(const struct tn_ip *ip, char out[TN_IP_TEXT_MAX]);
bool tn_ip_is_v4(const struct tn_ip *ip);
/* The party an address stands for, for counting: an IPv4 (or IPv4-mapped) address is
 * itself; an IPv6 address is its /64, the low 64 bits zeroed, since one customer or host
 * is handed at least a /64 and chooses freely inside it (as tn_throttle_addr_key). */
void tn_ip_party(const struct tn_ip *ip, struct tn_ip *out);

struct tn_cidr {
    struct tn_ip net;
    uint8_t bits; /* prefix length over the 128-bit form (an IPv4 /8 is 104) */
};

#define TN_PROXIES_MAX 64

/* TRUSTED_PROXIES: the peers allowed to name the client. Fixed size, nothing to free. */
struct tn_proxies {
    struct tn_cidr v[TN_PROXIES_MAX];
    unsigned n;
};

/* Parses a list of addresses and CIDR blocks separated by commas and/or spaces:
 * "10.0.0.0/8, 192.168.1.7 2001:db8::/32 ::1". IPv4 prefixes are /0-/32, IPv6 /0-/128; a
 * bare address is a /32 or /128. Refuses (TN_ERR_CONFIG, *out empty, a sentence for the
 * operator in `err`) anything else: garbage, a prefix with host bits set (10.0.0.1/8 is
 * probably a typo), a zone, a port, more than TN_PROXIES_MAX entries. An empty text is
 * an empty list. */
enum tn_err tn_proxies_parse(const char *text, size_t len, struct tn_proxies *out,
                             struct tn_buf *err);
/* True when `ip` falls in one of the blocks. */
bool tn_proxies_match(const struct tn_proxies *p, const struct tn_ip *ip);

/* Which header the trusted proxies write the client into. Only one is read: a proxy
 * passes on, untouched, whatever header it does not set itself, so the other one is
 * whatever the client wanted it to be. */
enum tn_fwd_kind {
    TN_FWD_XFF,       /* X-Forwarded-For: 203.0.113.7, 10.0.0.2 */
    TN_FWD_FORWARDED, /* Forwarded: for=203.0.113.7;proto=https, for="[2001:db8::1]:443" */
};

/* Hops looked at, right to left, before giving up (and elements remembered). */
#define TN_FWD_MAX_HOPS 32

/* The client's address. When `peer` is not in `trusted`, it is the peer and nothing is
 * read. Otherwise the lines of the header (in the order received; several lines are one
 * comma-separated list) are parsed hop by hop from the right, skipping trusted addresses:
 * the first that is not trusted is the client, and the walk stops there (what is to its
 * left was written by the client and is never parsed, so garbage there changes nothing).
 * When every hop is trusted, the leftmost is the client; with no hop at all, the peer is.
 *
 * *out is always set. On failure it is the peer, and the return says why:
 *  - TN_ERR_BAD_INPUT: a hop walked is malformed (Forwarded syntax, or not an address);
 *  - TN_ERR_NOT_FOUND: the hop that would be the client is "unknown", an obfuscated
 *    identifier ("_hidden") or, in Forwarded, an element without for=;
 *  - TN_ERR_LIMIT: more than TN_FWD_MAX_HOPS trusted hops. */
enum tn_err tn_proxy_client(const struct tn_proxies *trusted, enum tn_fwd_kind kind,
                            const struct tn_span *lines, size_t n_lines, const struct tn_ip *peer,
                            struct tn_ip *out);

#endif
