/* People of the built-in authorization server: roles and the permissions they grant,
 * argon2id passwords. (Throttles of failed sign-ins: auth/signin/throttle.h.) */
#ifndef TN_AUTH_AS_USERS_H
#define TN_AUTH_AS_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* Built-in roles (DESIGN §4): viewer = notes:read; editor = + notes:write;
 * admin = editor + teamnotes:admin. Returns the space-separated permissions of a role,
 * or NULL for an unknown role. */
const char *tn_role_permissions(const char *role);
/* Every role, for `teamnotes role list`: NULL-terminated. */
extern const char *const tn_roles[];

#define TN_PASSWORD_MIN 10
#define TN_PASSWORD_HASH_MAX 160
/* Hashes with argon2id (libsodium's interactive limits). At most two hashes run at a
 * time: each takes ~64 MiB. TN_ERR_BAD_INPUT for a password shorter than
 * TN_PASSWORD_MIN or longer than 1024 bytes. */
enum tn_err tn_password_hash(const char *password, char out[TN_PASSWORD_HASH_MAX]);
/* TN_OK when it matches (and *rehash says whether the parameters are outdated),
 * TN_ERR_FORBIDDEN when it does not. An empty hash never matches. */
enum tn_err tn_password_verify(const char *hash, const char *password, bool *rehash);

#endif
