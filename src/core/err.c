#include "core/err.h"

#include <stddef.h>

struct row {
    const char *name;
    const char *msg;
    int http;
    const char *oauth;
    int rpc;
};

static const struct row rows[] = {
#define TN_ERR_ROW(name, msg, http, oauth, rpc) {#name, msg, http, oauth, rpc},
    TN_ERR_TABLE(TN_ERR_ROW)
#undef TN_ERR_ROW
};

static const struct row *row_of(enum tn_err e)
{
    if ((unsigned)e >= TN_ERR__COUNT)
        return &rows[TN_ERR_INTERNAL];
    return &rows[e];
}

const char *tn_err_message(enum tn_err e) { return row_of(e)->msg; }
const char *tn_err_name(enum tn_err e) { return row_of(e)->name; }
int tn_err_http_status(enum tn_err e) { return row_of(e)->http; }
const char *tn_err_oauth(enum tn_err e) { return row_of(e)->oauth; }
int tn_err_jsonrpc(enum tn_err e) { return row_of(e)->rpc; }
