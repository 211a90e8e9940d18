#include "ops/reqid.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>

bool tn_reqid_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > TN_REQID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static uint8_t key[crypto_shorthash_siphashx24_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t counter;

static void key_init(void) { randombytes_buf(key, sizeof key); }

void tn_reqid_make(char out[TN_REQID_MADE_LEN + 1])
{
    pthread_once(&key_once, key_init);
    uint64_t n = atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    uint8_t in[8], h[crypto_shorthash_siphashx24_BYTES];
    for (int i = 0; i < 8; i++)
        in[i] = (uint8_t)(n >> (8 * i));
    crypto_shorthash_siphashx24(h, in, sizeof in, key);
    sodium_bin2base64(out, TN_REQID_MADE_LEN + 1, h, sizeof h,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
