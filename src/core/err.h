/* The one error table of teamnotes.
 *
 * Every fallible function returns enum tn_err. Each entry carries the text shown to
 * people, the HTTP status, the OAuth `error` code and the JSON-RPC code it maps to, so
 * the mapping to the wire happens here and nowhere else. */
#ifndef TN_CORE_ERR_H
#define TN_CORE_ERR_H

/*     name                  message                                   http  oauth                  jsonrpc */
// clang-format off
#define TN_ERR_TABLE(X)                                                                                      \
    X(TN_OK,                 "ok",                                     200,  NULL,                  0)       \
    X(TN_ERR_NOMEM,          "out of memory",                          500,  "server_error",        -32603)  \
    X(TN_ERR_INTERNAL,       "internal error",                         500,  "server_error",        -32603)  \
    X(TN_ERR_IO,             "input/output error",                     500,  "server_error",        -32603)  \
    X(TN_ERR_LIMIT,          "a size or count limit was exceeded",     413,  "invalid_request",     -32600)  \
    X(TN_ERR_CONFIG,         "invalid configuration",                  500,  "server_error",        -32603)  \
    X(TN_ERR_PARSE,          "Parse error",                            400,  "invalid_request",     -32700)  \
    X(TN_ERR_INVALID_REQUEST,"Invalid Request",                        400,  "invalid_request",     -32600)  \
    X(TN_ERR_METHOD_NOT_FOUND,"Method not found",                      404,  "invalid_request",     -32601)  \
    X(TN_ERR_INVALID_PARAMS, "Invalid params",                         200,  "invalid_request",     -32602)  \
    X(TN_ERR_HEADER_MISMATCH,"Header mismatch",                        400,  "invalid_request",     -32020)  \
    X(TN_ERR_MISSING_CAPABILITY,"Missing required client capability", 400,  "invalid_request",     -32021)  \
    X(TN_ERR_UNSUPPORTED_VERSION,"Unsupported protocol version",       400,  "invalid_request",     -32022)  \
    X(TN_ERR_RESOURCE_NOT_FOUND,"Resource not found",                  200,  NULL,                  -32002)  \
    X(TN_ERR_NOT_FOUND,      "not found",                              404,  "invalid_request",     -32602)  \
    X(TN_ERR_CONFLICT,       "conflict",                               409,  "invalid_request",     -32602)  \
    X(TN_ERR_CANCELLED,      "request cancelled",                      499,  NULL,                  -32603)  \
    X(TN_ERR_BAD_INPUT,      "invalid input",                          400,  "invalid_request",     -32602)  \
    X(TN_ERR_FORBIDDEN,      "forbidden",                              403,  "access_denied",       -32000)  \
    X(TN_ERR_INSUFFICIENT_SCOPE,"insufficient scope",                  403,  "insufficient_scope",  -32000)  \
    X(TN_ERR_BUSY,           "too many concurrent requests",           503,  "temporarily_unavailable", -32603)  \
    X(TN_ERR_TOO_MANY_STREAMS,"too many open streams for one caller",  429,  NULL,                  -32000)  \
    /* HTTP */                                                                                               \
    X(TN_ERR_BAD_REQUEST,    "bad request",                            400,  NULL,                  -32000)  \
    X(TN_ERR_METHOD_NOT_ALLOWED,"method not allowed",                  405,  "invalid_request",     -32000)  \
    X(TN_ERR_NOT_ACCEPTABLE, "not acceptable",                         406,  NULL,                  -32000)  \
    X(TN_ERR_UNSUPPORTED_MEDIA_TYPE,"unsupported media type",          415,  NULL,                  -32000)  \
    X(TN_ERR_NO_ROUTE,       "no such path",                           404,  NULL,                  -32000)  \
    X(TN_ERR_INVALID_HOST,   "invalid Host header",                    403,  NULL,                  -32000)  \
    X(TN_ERR_INVALID_ORIGIN, "invalid Origin header",                  403,  NULL,                  -32000)  \
    X(TN_ERR_REQUEST_TIMEOUT,"request timeout",                        408,  NULL,                  -32000)  \
    X(TN_ERR_HEADERS_TOO_LARGE,"request header fields too large",      431,  NULL,                  -32000)  \
    X(TN_ERR_BODY_TOO_LARGE, "request body too large",                 413,  NULL,                  -32000)  \
    /* OAuth: RFC 6749 §4.1.2.1 (authorization response) and §5.2 (token endpoint),          \
     * RFC 7591 §3.2.2 (registration), RFC 8707 (resource indicators), RFC 6750 §3.1         \
     * (bearer tokens), OIDC Core §3.1.2.6 (prompt=none) */                                  \
    X(TN_ERR_INVALID_CLIENT, "client authentication failed",           401,  "invalid_client",      -32000)  \
    X(TN_ERR_INVALID_GRANT,  "invalid, expired or revoked grant",      400,  "invalid_grant",       -32000)  \
    X(TN_ERR_UNAUTHORIZED_CLIENT,"client may not use this grant",      400,  "unauthorized_client", -32000)  \
    X(TN_ERR_UNSUPPORTED_GRANT_TYPE,"unsupported grant type",          400,  "unsupported_grant_type", -32600)  \
    X(TN_ERR_UNSUPPORTED_RESPONSE_TYPE,"unsupported response type",    400,  "unsupported_response_type", -32600)  \
    X(TN_ERR_INVALID_SCOPE,  "invalid scope",                          400,  "invalid_scope",       -32602)  \
    X(TN_ERR_INVALID_TARGET, "invalid resource",                       400,  "invalid_target",      -32602)  \
    X(TN_ERR_INVALID_CLIENT_METADATA,"invalid client metadata",        400,  "invalid_client_metadata", -32602)  \
    X(TN_ERR_INVALID_REDIRECT_URI,"invalid redirect URI",              400,  "invalid_redirect_uri", -32602)  \
    X(TN_ERR_LOGIN_REQUIRED, "sign-in required",                       400,  "login_required",      -32000)  \
    X(TN_ERR_CONSENT_REQUIRED,"consent required",                      400,  "consent_required",    -32000)  \
    X(TN_ERR_INVALID_TOKEN,  "invalid access token",                   401,  "invalid_token",       -32000)  \
    X(TN_ERR_RATE_LIMITED,   "too many requests; try again later",     429,  "invalid_request",     -32000)  \
    X(TN_ERR_UNAVAILABLE,    "temporarily unavailable",                503,  "temporarily_unavailable", -32603)
// clang-format on

// clang-format off
enum tn_err {
#define TN_ERR_ENUM(name, msg, http, oauth, rpc) name,
    TN_ERR_TABLE(TN_ERR_ENUM)
#undef TN_ERR_ENUM
    TN_ERR__COUNT
};
// clang-format on

/* Text for people; never NULL. */
const char *tn_err_message(enum tn_err e);
/* Symbolic name ("TN_ERR_LIMIT"); never NULL. */
const char *tn_err_name(enum tn_err e);
/* HTTP status the error maps to when it ends a request. */
int tn_err_http_status(enum tn_err e);
/* OAuth `error` code, or NULL when the error has none. */
const char *tn_err_oauth(enum tn_err e);
/* JSON-RPC error code (0 for TN_OK). */
int tn_err_jsonrpc(enum tn_err e);

#endif
