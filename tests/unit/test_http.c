/* Host and Origin policy against DNS rebinding, for loopback and public deployments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/server.h"

static struct tn_http_server *make(const char *base, const char *origins, const char *hosts)
{
    struct tn_http_config c = {.host = "127.0.0.1", .port = 0, .base_url = base,
                               .allowed_origins = origins, .allowed_hosts = hosts,
                               .limits = {.max_body = 1024, .heartbeat_s = 15}};
    return tn_http_server_new(&c);
}

static void test_loopback_policy(void **state)
{
    struct tn_http_server *s = make("http://127.0.0.1:8080", "", "");
    assert_true(tn_http_host_allowed(s, "127.0.0.1:8080"));
    assert_true(tn_http_host_allowed(s, "localhost:1234"));
    assert_true(tn_http_host_allowed(s, "[::1]:8080"));
    assert_false(tn_http_host_allowed(s, "evil.example.com"));
    assert_false(tn_http_host_allowed(s, "127.0.0.1.nip.io"));
    assert_false(tn_http_host_allowed(s, ""));
    assert_true(tn_http_origin_allowed(s, "http://localhost:5173"));
    assert_true(tn_http_origin_allowed(s, "http://127.0.0.1:8080"));
    assert_true(tn_http_origin_allowed(s, "https://[::1]:3000"));
    assert_false(tn_http_origin_allowed(s, "http://evil.example.com"));
    assert_false(tn_http_origin_allowed(s, "null"));
    assert_false(tn_http_origin_allowed(s, "http://localhost@evil.com"));
    assert_false(tn_http_origin_allowed(s, "http://localhost.evil.com"));
    assert_false(tn_http_origin_allowed(s, "file://"));
    tn_http_server_free(s);
}

static void test_public_policy(void **state)
{
    struct tn_http_server *s = make("https://notes.example.com", "https://app.example.org, https://ide.example.net/", "internal.lan:8443");
    assert_true(tn_http_host_allowed(s, "notes.example.com"));
    assert_true(tn_http_host_allowed(s, "NOTES.example.com:443"));
    assert_true(tn_http_host_allowed(s, "internal.lan:8443"));
    assert_true(tn_http_host_allowed(s, "localhost:8080")); /* local probes */
    assert_false(tn_http_host_allowed(s, "evil.example.com"));
    assert_true(tn_http_origin_allowed(s, "https://notes.example.com"));
    assert_true(tn_http_origin_allowed(s, "https://app.example.org"));
    assert_true(tn_http_origin_allowed(s, "https://ide.example.net"));
    assert_false(tn_http_origin_allowed(s, "http://notes.example.com")); /* scheme matters */
    assert_false(tn_http_origin_allowed(s, "http://localhost:5173"));  /* not loopback-deployed */
    assert_false(tn_http_origin_allowed(s, "https://app.example.org.evil.com"));
    tn_http_server_free(s);
}

static void test_wildcard_origin(void **state)
{
    struct tn_http_server *s = make("https://notes.example.com", "*", "");
    assert_true(tn_http_origin_allowed(s, "https://anything.example"));
    tn_http_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_policy),
        cmocka_unit_test(test_public_policy),
        cmocka_unit_test(test_wildcard_origin),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
