/* Configuration: sources and their order, bounds, the BASE_URL safety rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"

static enum tn_err load(struct tn_config *c, int argc, char **argv, const char *dotenv, char *err,
                        size_t cap)
{
    struct tn_buf e;
    tn_buf_init(&e, 4096);
    enum tn_err rc = tn_config_load(c, argc, argv, dotenv, &e);
    snprintf(err, cap, "%s", e.data ? e.data : "");
    tn_buf_deinit(&e);
    return rc;
}

static void test_defaults(void **state)
{
    unsetenv("PORT");
    unsetenv("BASE_URL");
    struct tn_config c;
    char err[512];
    assert_int_equal(load(&c, 0, NULL, NULL, err, sizeof err), TN_OK);
    assert_int_equal(tn_config_int(&c, TN_CFG_PORT), 8080);
    assert_string_equal(tn_config_str(&c, TN_CFG_HOST), "127.0.0.1");
    assert_string_equal(tn_config_str(&c, TN_CFG_BASE_URL), "http://127.0.0.1:8080");
    assert_int_equal(tn_config_int(&c, TN_CFG_MAX_BODY_BYTES), 4194304);
    assert_int_equal(tn_config_int(&c, TN_CFG_MAX_CONNECTIONS_PER_IP), 64);
    assert_int_equal(tn_config_int(&c, TN_CFG_REQUEST_TIMEOUT_S), 30);
    assert_int_equal(tn_config_int(&c, TN_CFG_AUTH_JWKS_MAX_STALE_S), 86400);
    assert_string_equal(tn_config_str(&c, TN_CFG_TRUSTED_PROXIES), "");
    assert_string_equal(tn_config_str(&c, TN_CFG_TRUSTED_PROXY_HEADER), "x-forwarded-for");
    tn_config_deinit(&c);
}

static void test_precedence(void **state)
{
    char path[] = "/tmp/tn-dotenv-XXXXXX";
    int fd = mkstemp(path);
    const char text[] =
        "# comment\nPORT=7000\nexport HOST=\"127.0.0.2\"\nDATA_DIR='/tmp/x'\nUNKNOWN=1\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    setenv("HOST", "127.0.0.3", 1);
    char *argv[] = {"--data-dir", "/tmp/flag"};
    struct tn_config c;
    char err[512];
    assert_int_equal(load(&c, 2, argv, path, err, sizeof err), TN_OK);
    assert_int_equal(tn_config_int(&c, TN_CFG_PORT), 7000);               /* .env */
    assert_string_equal(tn_config_str(&c, TN_CFG_HOST), "127.0.0.3");     /* env beats .env */
    assert_string_equal(tn_config_str(&c, TN_CFG_DATA_DIR), "/tmp/flag"); /* flag beats all */
    assert_string_equal(c.source[TN_CFG_PORT], ".env");
    tn_config_deinit(&c);
    unsetenv("HOST");
    unlink(path);
}

struct bad {
    const char *flag, *value, *msg;
};

static void test_refusals(void **state)
{
    static const struct bad cases[] = {
        {"--port", "70000", "PORT must be an integer from 0 to 65535 (got '70000' from flag)"},
        {"--port", "80x", "PORT must be an integer from 0 to 65535 (got '80x' from flag)"},
        {"--max-body-bytes", "10",
         "MAX_BODY_BYTES must be an integer from 1024 to 67108864 (got '10' from flag)"},
        {"--base-url", "http://notes.example.com",
         "BASE_URL 'http://notes.example.com' is plain http on a non-loopback host; tokens would travel unencrypted. Use https:// (terminate TLS at a proxy) or a loopback host."},
        {"--base-url", "https://notes.example.com/app",
         "BASE_URL must be an origin without path, query or fragment: 'https://notes.example.com/app'"},
        {"--base-url", "ftp://x",
         "BASE_URL must start with https:// (or http:// on loopback): 'ftp://x'"},
        {"--mcp-path", "mcp",
         "MCP_PATH must start with '/', not end with '/', and hold no ?, #, % or spaces (got 'mcp')"},
        {"--log-level", "loud", "LOG_LEVEL must be debug, info, warn or error (got 'loud')"},
        {"--secret-key", "short",
         "SECRET_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)"},
        {"--nope", "1", "unknown option '--nope' (see --help)"},
        {"--trusted-proxies", "10.0.0.0/8, nginx",
         "TRUSTED_PROXIES: 'nginx' is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)"},
        {"--trusted-proxies", "10.0.0.0/33",
         "TRUSTED_PROXIES: '10.0.0.0/33' has a bad prefix length (an IPv4 block takes /0 to /32)"},
        {"--trusted-proxies", "172.16.5.4/12",
         "TRUSTED_PROXIES: '172.16.5.4/12' has host bits set; write the block as 172.16.0.0/12"},
        {"--trusted-proxy-header", "x-real-ip",
         "TRUSTED_PROXY_HEADER must be x-forwarded-for or forwarded (got 'x-real-ip')"},
        {"--request-timeout-s", "0",
         "REQUEST_TIMEOUT_S must be an integer from 1 to 3600 (got '0' from flag)"},
        {"--auth-jwks-max-stale-s", "0",
         "AUTH_JWKS_MAX_STALE_S must be an integer from 1 to 604800 (got '0' from flag)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {(char *)cases[i].flag, (char *)cases[i].value};
        struct tn_config c;
        char err[512];
        assert_int_equal(load(&c, 2, argv, NULL, err, sizeof err), TN_ERR_CONFIG);
        assert_string_equal(err, cases[i].msg);
    }
}

static void test_base_url_forms(void **state)
{
    char *argv[] = {"--base-url=https://notes.example.com/"};
    struct tn_config c;
    char err[512];
    assert_int_equal(load(&c, 1, argv, NULL, err, sizeof err), TN_OK);
    /* the trailing slash is dropped: the issuer must be byte-exact everywhere */
    assert_string_equal(tn_config_str(&c, TN_CFG_BASE_URL), "https://notes.example.com");
    tn_config_deinit(&c);
    char *argv2[] = {"--base-url", "http://[::1]:9000"};
    assert_int_equal(load(&c, 2, argv2, NULL, err, sizeof err), TN_OK);
    tn_config_deinit(&c);
}

static void test_print_redacts(void **state)
{
    char *argv[] = {"--secret-key", "0123456789abcdef0123456789abcdef-very-secret"};
    struct tn_config c;
    char err[512];
    assert_int_equal(load(&c, 2, argv, NULL, err, sizeof err), TN_OK);
    struct tn_buf out;
    tn_buf_init(&out, 1 << 16);
    tn_config_print(&c, &out);
    assert_null(strstr(out.data, "very-secret"));
    assert_non_null(strstr(out.data, "SECRET_KEY=<redacted>"));
    tn_buf_deinit(&out);
    tn_config_deinit(&c);
}

static void test_loopback(void **state)
{
    assert_true(tn_host_is_loopback("localhost", 9));
    assert_true(tn_host_is_loopback("127.0.0.1", 9));
    assert_true(tn_host_is_loopback("127.1.2.3", 9));
    assert_true(tn_host_is_loopback("[::1]", 5));
    assert_false(tn_host_is_loopback("127.0.0.1.evil.com", 18));
    assert_false(tn_host_is_loopback("localhost.evil.com", 18));
    assert_false(tn_host_is_loopback("10.0.0.1", 8));
    assert_false(tn_host_is_loopback("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_refusals),      cmocka_unit_test(test_base_url_forms),
        cmocka_unit_test(test_print_redacts), cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
