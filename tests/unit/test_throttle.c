/* The sign-in and registration throttles (auth/signin/throttle.h): locks and their
 * doubling, rate limits, a full table refusing instead of forgetting, keys an attacker
 * cannot steer into a victim's slot, address keys, and the sign-in guard's policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/signin/throttle.h"

static const struct tn_throttle_rule five = {5, 900, 60, 3600};

static void test_lock_and_doubling(void **state)
{
    struct tn_throttle *t = tn_throttle_new(&five, 64);
    assert_non_null(t);
    int64_t now = 1000000;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tn_throttle_wait(t, "k", now), 0);
        assert_int_equal(tn_throttle_hit(t, "k", now), 0);
    }
    assert_int_equal(tn_throttle_hit(t, "k", now), 60); /* the fifth starts a lock */
    assert_int_equal(tn_throttle_wait(t, "k", now), 60);
    assert_int_equal(tn_throttle_wait(t, "k", now + 59), 1);
    assert_int_equal(tn_throttle_wait(t, "k", now + 60), 0);
    assert_int_equal(tn_throttle_wait(t, "other", now), 0);
    /* the next lockout doubles, up to the hour */
    now += 60;
    for (int i = 0; i < 4; i++)
        tn_throttle_hit(t, "k", now);
    assert_int_equal(tn_throttle_hit(t, "k", now), 120);
    for (int l = 2; l < 12; l++) {
        now += 3600;
        for (int i = 0; i < 4; i++)
            tn_throttle_hit(t, "k", now);
        unsigned want = 60u << l;
        assert_int_equal(tn_throttle_hit(t, "k", now), want > 3600 ? 3600 : want);
    }
    /* clearing forgets the history */
    tn_throttle_clear(t, "k");
    assert_int_equal(tn_throttle_wait(t, "k", now), 0);
    for (int i = 0; i < 4; i++)
        tn_throttle_hit(t, "k", now);
    assert_int_equal(tn_throttle_hit(t, "k", now), 60);
    tn_throttle_free(t);
    tn_throttle_free(NULL);
}

static void test_window_expires(void **state)
{
    struct tn_throttle *t = tn_throttle_new(&five, 64);
    int64_t now = 5000;
    for (int i = 0; i < 4; i++)
        tn_throttle_hit(t, "k", now);
    /* four failures, then a quarter of an hour passes: the count starts over */
    now += 900;
    for (int i = 0; i < 4; i++)
        assert_int_equal(tn_throttle_hit(t, "k", now + i), 0);
    assert_int_equal(tn_throttle_hit(t, "k", now + 4), 60);
    tn_throttle_free(t);
}

static void test_rate_limit(void **state)
{
    struct tn_throttle_rule r = {3, 3600, 0, 3600};
    struct tn_throttle *t = tn_throttle_new(&r, 64);
    int64_t now = 7200;
    assert_int_equal(tn_throttle_take(t, "a", now), 0);
    assert_int_equal(tn_throttle_take(t, "a", now + 10), 0);
    assert_int_equal(tn_throttle_take(t, "a", now + 20), 0);
    /* refused until the window that began at `now` ends, and nothing more is counted */
    assert_int_equal(tn_throttle_take(t, "a", now + 30), 3600 - 30);
    assert_int_equal(tn_throttle_take(t, "a", now + 3599), 1);
    assert_int_equal(tn_throttle_take(t, "b", now + 30), 0);
    assert_int_equal(tn_throttle_take(t, "a", now + 3600), 0);
    tn_throttle_free(t);
}

/* The old table recycled a slot for any new key: one failure as a colliding key cleared
 * a victim's lock. Now thousands of other keys cannot erase it, and once no slot is
 * idle a new key is refused instead. */
static void test_full_table_refuses(void **state)
{
    struct tn_throttle *t = tn_throttle_new(&five, 64);
    int64_t now = 100000;
    for (int i = 0; i < 5; i++)
        tn_throttle_hit(t, "victim", now);
    assert_int_equal(tn_throttle_wait(t, "victim", now), 60);
    char k[32];
    unsigned refused = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "attacker-%d", i);
        if (tn_throttle_hit(t, k, now) == 900)
            refused++;
    }
    assert_int_equal(tn_throttle_wait(t, "victim", now), 60);
    assert_true(refused >= 5000 - 64);
    assert_int_equal(tn_throttle_full_refusals(t), refused);
    /* a key never seen, with no room: refused for a window, not let through */
    assert_int_equal(tn_throttle_wait(t, "newcomer", now), 900);
    /* once the counts' window has passed, the slots are idle and reusable (the victim's
     * lock history stays until its longest lock would have passed) */
    now += 901;
    assert_int_equal(tn_throttle_wait(t, "newcomer", now), 0);
    assert_int_equal(tn_throttle_hit(t, "newcomer", now), 0);
    tn_throttle_free(t);
}

/* An active count is not erased either: four failures survive a flood. */
static void test_counts_survive(void **state)
{
    struct tn_throttle *t = tn_throttle_new(&five, 64);
    int64_t now = 100000;
    for (int i = 0; i < 4; i++)
        tn_throttle_hit(t, "victim", now);
    char k[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "x%d", i);
        tn_throttle_hit(t, k, now);
    }
    assert_int_equal(tn_throttle_hit(t, "victim", now), 60);
    tn_throttle_free(t);
}

/* Keys are hashed with a secret drawn per table, so which keys share a set cannot be
 * computed offline: two tables fed the same keys refuse different ones when full (an
 * unkeyed hash would refuse exactly the same keys in both). */
static void test_keyed_placement(void **state)
{
    struct tn_throttle *a = tn_throttle_new(&five, 64), *b = tn_throttle_new(&five, 64);
    int64_t now = 100000;
    char k[32];
    int refused_a = 0, refused_b = 0, differ = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key%d", i);
        bool ra = tn_throttle_hit(a, k, now) == 900, rb = tn_throttle_hit(b, k, now) == 900;
        refused_a += ra;
        refused_b += rb;
        differ += ra != rb;
    }
    assert_true(refused_a >= 200 - 64 && refused_b >= 200 - 64);
    assert_true(differ > 0);
    tn_throttle_free(a);
    tn_throttle_free(b);
}

static void test_addr_key(void **state)
{
    static const char *cases[][2] = {
        {"203.0.113.7", "203.0.113.7"},
        {"::ffff:203.0.113.7", "203.0.113.7"},
        {"[::ffff:203.0.113.7]", "203.0.113.7"},
        {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
        {"[2001:db8:1:2::1]", "2001:db8:1:2::/64"},
        {"fe80::1%eth0", "fe80::/64"},
        {"::1", "::/64"},
        {"127.0.0.1", "127.0.0.1"},
        {"", "?"},
        {"unknown", "?"},
        {"1.2.3.4:80", "?"},
        {"0x7f.1", "?"},
        {"1.2.3", "?"},
        {"2001:db8::1]", "?"},
    };
    char out[TN_THROTTLE_ADDR_KEY_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tn_throttle_addr_key(cases[i][0], out);
        if (strcmp(out, cases[i][1]))
            fail_msg("%s -> %s, want %s", cases[i][0], out, cases[i][1]);
    }
    tn_throttle_addr_key(NULL, out);
    assert_string_equal(out, "?");
    char longer[200];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    tn_throttle_addr_key(longer, out);
    assert_string_equal(out, "?");
}

/* Someone guessing alice's password from many addresses locks the account for
 * browsers it does not know, but alice's own browser (device cookie) still signs in;
 * and a browser with the cookie that keeps failing loses that privilege. */
static void test_guard_owner_not_locked_out(void **state)
{
    struct tn_signin_guard *g = tn_signin_guard_new(NULL);
    assert_non_null(g);
    int64_t now = 1000000;
    char addr[32];
    for (int i = 0; i < 60; i++) {
        snprintf(addr, sizeof addr, "198.51.100.%d", i);
        struct tn_signin_attempt at = {"alice@example.com", addr, NULL, -1};
        if (tn_signin_guard_check(g, &at, now) == 0)
            tn_signin_guard_failed(g, &at, now);
    }
    struct tn_signin_attempt stranger = {"alice@example.com", "192.0.2.1", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &stranger, now), 60);
    struct tn_signin_attempt owner = {"alice@example.com", "192.0.2.1", "dev-alice", -1};
    assert_int_equal(tn_signin_guard_check(g, &owner, now), 0);
    /* bob is not affected */
    struct tn_signin_attempt bob = {"bob@example.com", "192.0.2.1", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &bob, now), 0);
    /* the cookie's own failures lock it; then it is a stranger like any other */
    for (int i = 0; i < 5; i++)
        tn_signin_guard_failed(g, &owner, now);
    assert_int_equal(tn_signin_guard_check(g, &owner, now), 60);
    tn_signin_guard_free(g);
    tn_signin_guard_free(NULL);
}

/* Behind one shared address (a proxy without TRUSTED_PROXIES, or an office NAT):
 * 20 failures against other accounts lock the address, but the owner's browser with
 * its cookie is let through; the pair lock is per account. */
static void test_guard_shared_address(void **state)
{
    struct tn_signin_guard *g = tn_signin_guard_new(NULL);
    int64_t now = 2000000;
    char acct[32];
    for (int i = 0; i < 20; i++) {
        snprintf(acct, sizeof acct, "user%d@example.com", i);
        struct tn_signin_attempt at = {acct, "10.0.0.1", NULL, -1};
        tn_signin_guard_failed(g, &at, now);
    }
    struct tn_signin_attempt carol = {"carol@example.com", "10.0.0.1", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &carol, now), 60);
    struct tn_signin_attempt carol_known = {"carol@example.com", "10.0.0.1", "dev-carol", -1};
    assert_int_equal(tn_signin_guard_check(g, &carol_known, now), 0);
    /* the same account from another address is fine */
    struct tn_signin_attempt elsewhere = {"carol@example.com", "10.0.0.2", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &elsewhere, now), 0);
    /* 5 failures on one account from one address lock that pair only */
    for (int i = 0; i < 5; i++)
        tn_signin_guard_failed(g, &elsewhere, now);
    assert_int_equal(tn_signin_guard_check(g, &elsewhere, now), 60);
    struct tn_signin_attempt dave = {"dave@example.com", "10.0.0.2", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &dave, now), 0);
    /* a success clears the pair, not the account-wide count */
    tn_signin_guard_succeeded(g, &elsewhere);
    assert_int_equal(tn_signin_guard_check(g, &elsewhere, now), 0);
    tn_signin_guard_free(g);
}

/* IPv6 clients are counted by /64: rotating the interface id does not buy attempts. */
static void test_guard_ipv6_prefix(void **state)
{
    struct tn_signin_guard *g = tn_signin_guard_new(NULL);
    int64_t now = 3000000;
    char addr[64];
    for (int i = 0; i < 5; i++) {
        snprintf(addr, sizeof addr, "2001:db8:aa:bb::%x", i + 1);
        struct tn_signin_attempt at = {"erin@example.com", addr, NULL, -1};
        assert_int_equal(tn_signin_guard_check(g, &at, now), 0);
        tn_signin_guard_failed(g, &at, now);
    }
    struct tn_signin_attempt next = {"erin@example.com", "2001:db8:aa:bb:1234::9", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &next, now), 60);
    struct tn_signin_attempt other_net = {"erin@example.com", "2001:db8:aa:cc::1", NULL, -1};
    assert_int_equal(tn_signin_guard_check(g, &other_net, now), 0);
    tn_signin_guard_free(g);
}

static void test_net_key(void **state)
{
    static const char *cases[][2] = {
        {"2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"},
        {"[2001:db8:ffff:ffff::1]", "2001:db8:ffff::/48"},
        {"2001:db8:1:2::", "2001:db8:1::/48"},
    };
    char out[TN_THROTTLE_ADDR_KEY_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(tn_throttle_net_key(cases[i][0], out));
        assert_string_equal(out, cases[i][1]);
    }
    static const char *none[] = {"203.0.113.7", "::ffff:203.0.113.7", "", "garbage", "1.2.3.4:5"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        assert_false(tn_throttle_net_key(none[i], out));
        assert_string_equal(out, "");
    }
    assert_false(tn_throttle_net_key(NULL, out));
}

/* Admission: one attempt at a time per address, a bounded number in all, and a lane of
 * its own for browsers with a device cookie, so strangers filling every general slot do
 * not keep the owner out. */
static void test_guard_admission(void **state)
{
    struct tn_signin_guard *g = tn_signin_guard_new(NULL);
    int64_t now = 4000000;
    struct tn_signin_attempt a1 = {"a@example.com", "198.51.100.1", NULL, -1};
    struct tn_signin_attempt a1b = {"b@example.com", "198.51.100.1", NULL, -1};
    assert_int_equal(tn_signin_guard_enter(g, &a1, now), TN_OK);
    assert_int_equal(tn_signin_guard_enter(g, &a1b, now), TN_ERR_LIMIT); /* same address */
    assert_int_equal(a1b.slot, -1);
    tn_signin_guard_leave(g, &a1b); /* leaving without a slot is harmless */
    struct tn_signin_attempt many[6];
    char addr[6][32];
    for (int i = 0; i < 6; i++) {
        snprintf(addr[i], sizeof addr[i], "198.51.100.%d", 10 + i);
        many[i] = (struct tn_signin_attempt){"x@example.com", addr[i], NULL, -1};
    }
    for (int i = 0; i < 5; i++)
        assert_int_equal(tn_signin_guard_enter(g, &many[i], now), TN_OK);
    assert_int_equal(tn_signin_guard_enter(g, &many[5], now), TN_ERR_BUSY); /* 6 in flight */
    /* the owner's browser has its own lane: 2 slots, one per browser */
    struct tn_signin_attempt owner = {"a@example.com", "198.51.100.1", "dev-1", -1};
    struct tn_signin_attempt owner2 = {"a@example.com", "192.0.2.9", "dev-1", -1};
    struct tn_signin_attempt other = {"c@example.com", "192.0.2.10", "dev-2", -1};
    struct tn_signin_attempt third = {"d@example.com", "192.0.2.11", "dev-3", -1};
    assert_int_equal(tn_signin_guard_enter(g, &owner, now), TN_OK);
    assert_int_equal(tn_signin_guard_enter(g, &owner2, now), TN_ERR_LIMIT);
    assert_int_equal(tn_signin_guard_enter(g, &other, now), TN_OK);
    assert_int_equal(tn_signin_guard_enter(g, &third, now), TN_ERR_BUSY);
    /* leaving frees the slot */
    tn_signin_guard_leave(g, &many[0]);
    assert_int_equal(many[0].slot, -1);
    assert_int_equal(tn_signin_guard_enter(g, &many[5], now), TN_OK);
    tn_signin_guard_leave(g, &a1);
    assert_int_equal(tn_signin_guard_enter(g, &a1b, now), TN_OK);
    /* a locked device cookie goes to the general lane, keyed by its address */
    for (int i = 0; i < 5; i++)
        tn_signin_guard_failed(g, &third, now);
    struct tn_signin_attempt locked = {"d@example.com", "192.0.2.11", "dev-3", -1};
    assert_int_equal(tn_signin_guard_enter(g, &locked, now), TN_ERR_BUSY);
    tn_signin_guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_and_doubling),
        cmocka_unit_test(test_window_expires),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_full_table_refuses),
        cmocka_unit_test(test_counts_survive),
        cmocka_unit_test(test_keyed_placement),
        cmocka_unit_test(test_addr_key),
        cmocka_unit_test(test_guard_owner_not_locked_out),
        cmocka_unit_test(test_guard_shared_address),
        cmocka_unit_test(test_guard_ipv6_prefix),
        cmocka_unit_test(test_net_key),
        cmocka_unit_test(test_guard_admission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
