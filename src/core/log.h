/* Logging: one line per event on stderr, text or JSON.
 *
 * Values are escaped (control characters become \xNN) so a client cannot forge log
 * lines. Never pass tokens, codes, passwords, secrets or note bodies. */
#ifndef TN_CORE_LOG_H
#define TN_CORE_LOG_H

#include <stdbool.h>

enum tn_log_level { TN_LOG_DEBUG, TN_LOG_INFO, TN_LOG_WARN, TN_LOG_ERROR };

void tn_log_setup(enum tn_log_level min, bool json);
/* Logs `msg` with optional key=value pairs given as a NULL-terminated list of
 * alternating keys and values (const char *). */
void tn_log(enum tn_log_level lvl, const char *msg, ...) __attribute__((sentinel));
/* The id of the request this thread is handling now (NULL: none): every record written
 * on this thread meanwhile carries it as its last field, request_id. The string must
 * stay valid until it is set again; the HTTP server sets and clears it around each call
 * into a handler. */
void tn_log_set_request_id(const char *id);
const char *tn_log_request_id(void);
/* True when records of this level are written (to skip formatting their fields). */
bool tn_log_enabled(enum tn_log_level lvl);

#endif
