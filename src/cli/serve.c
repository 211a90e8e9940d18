#include "cli/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "http/server.h"

struct app {
    struct tn_mcp_server *mcp;
    const struct tn_config *cfg;
};

struct glue {
    const struct tn_http_req *req;
    struct tn_http_resp *resp;
};

static const char *glue_header(void *ud, const char *name)
{
    return tn_http_req_header(((struct glue *)ud)->req, name);
}

static struct tn_sink *glue_stream(void *ud)
{
    return tn_http_resp_stream(((struct glue *)ud)->resp);
}

static void mcp_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    struct app *app = ud;
    struct glue g = {req, resp};
    struct tn_mcp_http_in in = {
        .method = tn_http_req_method(req),
        .header = glue_header,
        .open_stream = glue_stream,
        .ud = &g,
        .body = tn_http_req_body(req),
        .principal = NULL, /* authentication arrives with the resource server */
        .subject = "",
        .request_id = tn_http_req_id(req),
    };
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, SIZE_MAX / 2);
    tn_mcp_handle(app->mcp, &in, &out);
    if (!out.streamed) {
        resp->status = out.status;
        resp->content_type = out.content_type;
        if (out.body.len)
            tn_buf_append(&resp->body, out.body.data, out.body.len);
        if (out.allow)
            tn_http_resp_header(resp, "Allow", out.allow);
    }
    tn_buf_deinit(&out.body);
}

static void health_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    (void)ud, (void)req;
    static const char ok[] = "{\"status\":\"ok\"}";
    tn_http_resp_json(resp, 200, ok, sizeof ok - 1);
}

static void not_found_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    (void)ud, (void)req;
    /* Unknown discovery documents are a JSON 404, never a page: clients probe them. */
    static const char nf[] = "{\"error\":\"not_found\",\"error_description\":\"No such document\"}";
    tn_http_resp_json(resp, 404, nf, sizeof nf - 1);
}

/* The key protecting MRTR state: SECRET_KEY, or 32 random bytes kept in DATA_DIR so that
 * every instance sharing the directory (and a restarted one) accepts the same state. */
static enum tn_err load_secret(const struct tn_config *cfg, uint8_t *key, size_t *len)
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    if (k[0]) {
        size_t n = strlen(k);
        tn_hmac_sha256(key, (const uint8_t *)"teamnotes-secret", 16, k, n);
        *len = 32;
        return TN_OK;
    }
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tn_log(TN_LOG_ERROR, "cannot create DATA_DIR", "dir", dir, "error", strerror(errno), NULL);
        return TN_ERR_IO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, key, 32);
        close(fd);
        if (n == 32) {
            *len = 32;
            return TN_OK;
        }
        tn_log(TN_LOG_ERROR, "secret key file is damaged; remove it to create a new one", "path",
               path, NULL);
        return TN_ERR_IO;
    }
    tn_random(key, 32);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, key, 32) != 32 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        tn_log(TN_LOG_ERROR, "cannot write the secret key", "path", path, NULL);
        return TN_ERR_IO;
    }
    close(fd);
    /* link() fails if another instance won the race: then use its key */
    if (link(tmp, path) != 0) {
        unlink(tmp);
        return load_secret(cfg, key, len);
    }
    unlink(tmp);
    *len = 32;
    return TN_OK;
}

int tn_serve(const struct tn_config *cfg, const struct tn_serve_opts *opts)
{
    int status = 1;
    struct tn_http_server *http = NULL;
    struct app app = {.cfg = cfg};
    uint8_t secret[32];
    size_t secret_len = 0;
    uint64_t t0 = tn_time_mono_ns();

    /* Signals are taken synchronously by this thread; every other thread inherits the
     * blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (load_secret(cfg, secret, &secret_len) != TN_OK)
        goto done;
    struct tn_mcp_info info = {
        .name = opts->name,
        .title = opts->title,
        .version = opts->version,
        .instructions = opts->instructions,
        .secret = secret,
        .secret_len = secret_len,
        .max_listen = (unsigned)tn_config_int(cfg, TN_CFG_MAX_LISTEN_STREAMS),
        .json_max_depth = (unsigned)tn_config_int(cfg, TN_CFG_JSON_MAX_DEPTH),
        .json_max_string = (size_t)tn_config_int(cfg, TN_CFG_JSON_MAX_STRING),
    };
    app.mcp = tn_mcp_server_new(&info);
    if (!app.mcp)
        goto done;
    if (opts->setup && opts->setup(app.mcp, opts->ud) != TN_OK)
        goto done;

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = (unsigned)tn_config_int(cfg, TN_CFG_THREADS);
    struct tn_http_config hc = {
        .host = tn_config_str(cfg, TN_CFG_HOST),
        .port = (uint16_t)tn_config_int(cfg, TN_CFG_PORT),
        .base_url = tn_config_str(cfg, TN_CFG_BASE_URL),
        .allowed_origins = tn_config_str(cfg, TN_CFG_ALLOWED_ORIGINS),
        .allowed_hosts = tn_config_str(cfg, TN_CFG_ALLOWED_HOSTS),
        .limits = {
            .max_body = (size_t)tn_config_int(cfg, TN_CFG_MAX_BODY_BYTES),
            .max_header_bytes = (size_t)tn_config_int(cfg, TN_CFG_MAX_HEADER_BYTES),
            .max_headers = (unsigned)tn_config_int(cfg, TN_CFG_MAX_HEADERS),
            .conn_memory = (size_t)tn_config_int(cfg, TN_CFG_CONN_MEMORY_BYTES),
            .max_connections = (unsigned)tn_config_int(cfg, TN_CFG_MAX_CONNECTIONS),
            .max_per_ip = (unsigned)tn_config_int(cfg, TN_CFG_MAX_CONNECTIONS_PER_IP),
            .conn_timeout_s = (unsigned)tn_config_int(cfg, TN_CFG_CONN_TIMEOUT_S),
            .threads = threads ? threads : (unsigned)(cores > 0 ? cores : 2),
            .heartbeat_s = (unsigned)tn_config_int(cfg, TN_CFG_SSE_HEARTBEAT_S),
        },
    };
    http = tn_http_server_new(&hc);
    if (!http)
        goto done;
    const char *mp = tn_config_str(cfg, TN_CFG_MCP_PATH);
    char slash[512];
    snprintf(slash, sizeof slash, "%s/", mp);
    /* /mcp and /mcp/ are the same endpoint, answered directly (no redirect). */
    tn_http_route(http, mp, TN_HTTP_EXACT, mcp_route, &app);
    tn_http_route(http, slash, TN_HTTP_EXACT, mcp_route, &app);
    tn_http_route(http, "/healthz", TN_HTTP_EXACT, health_route, &app);
    tn_http_route(http, "/readyz", TN_HTTP_EXACT, health_route, &app);
    tn_http_route(http, "/.well-known/", TN_HTTP_PREFIX, not_found_route, &app);
    if (tn_http_server_start(http) != TN_OK)
        goto done;

    char port[8], ms[32], url[600];
    snprintf(port, sizeof port, "%u", tn_http_server_port(http));
    snprintf(ms, sizeof ms, "%.1f", (double)(tn_time_mono_ns() - t0) / 1e6);
    snprintf(url, sizeof url, "%s%s", tn_config_str(cfg, TN_CFG_BASE_URL), mp);
    tn_log(TN_LOG_INFO, "ready", "mcp", url, "listen", tn_config_str(cfg, TN_CFG_HOST), "port",
           port, "startup_ms", ms, NULL);

    int sig = 0;
    sigwait(&sigs, &sig);
    tn_log(TN_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    /* No new connections; listen streams end with their final result; in-flight calls
     * get the grace period. */
    tn_http_server_quiesce(http);
    tn_mcp_close_listens(app.mcp);
    tn_http_server_shutdown(http, (unsigned)tn_config_int(cfg, TN_CFG_SHUTDOWN_GRACE_S) * 1000u);
    tn_log(TN_LOG_INFO, "stopped", NULL);
    status = 0;
done:
    tn_http_server_free(http);
    tn_mcp_server_free(app.mcp);
    memset(secret, 0, sizeof secret);
    return status;
}
