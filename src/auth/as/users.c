#include "auth/as/users.h"

#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

const char *const tn_roles[] = {"viewer", "editor", "admin", NULL};

const char *tn_role_permissions(const char *role)
{
    if (!role)
        return NULL;
    if (!strcmp(role, "viewer"))
        return "notes:read";
    if (!strcmp(role, "editor"))
        return "notes:read notes:write";
    if (!strcmp(role, "admin"))
        return "notes:read notes:write teamnotes:admin";
    return NULL;
}

static sem_t hash_slots;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_slots(void) { sem_init(&hash_slots, 0, 2); }

enum tn_err tn_password_hash(const char *pw, char out[TN_PASSWORD_HASH_MAX])
{
    size_t n = strlen(pw);
    out[0] = '\0';
    if (n < TN_PASSWORD_MIN || n > 1024)
        return TN_ERR_BAD_INPUT;
    pthread_once(&once, init_slots);
    sem_wait(&hash_slots);
    int r = crypto_pwhash_str(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
    sem_post(&hash_slots);
    return r == 0 ? TN_OK : TN_ERR_NOMEM;
}

enum tn_err tn_password_verify(const char *hash, const char *pw, bool *rehash)
{
    if (rehash)
        *rehash = false;
    if (!hash || !hash[0] || strlen(pw) > 1024)
        return TN_ERR_FORBIDDEN;
    pthread_once(&once, init_slots);
    sem_wait(&hash_slots);
    int r = crypto_pwhash_str_verify(hash, pw, strlen(pw));
    sem_post(&hash_slots);
    if (r != 0)
        return TN_ERR_FORBIDDEN;
    if (rehash)
        *rehash = crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                 crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
    return TN_OK;
}
