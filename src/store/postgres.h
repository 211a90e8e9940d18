/* Internal to src/store/: the PostgreSQL backend (src/store/postgres.c). */
#ifndef TN_STORE_POSTGRES_H
#define TN_STORE_POSTGRES_H

#include "core/buf.h"
#include "core/err.h"

struct tn_store;

/* Connects to the PostgreSQL database named by `url` (postgres://... or
 * postgresql://..., any libpq URI), applies pending migrations under an advisory lock
 * (so instances starting together apply each one once) and returns a handle with a
 * pool of connections. On failure *out stays NULL and `err` (may be NULL) says what to
 * fix; it never repeats the URL, which may carry a password. Errors: TN_ERR_CONFIG (an
 * unparsable URL, a schema newer than this binary), TN_ERR_IO (cannot connect, a
 * migration failed), TN_ERR_NOMEM. Close with tn_store_close. */
enum tn_err tn_store_postgres_open(const char *url, struct tn_store **out, struct tn_buf *err);

#endif
