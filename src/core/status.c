/*
** Status names and texts, and the thread-local last error.
*/
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <string.h> /* memcpy, strlen */

#include "core/error.h"

#define QK_ERROR_CAPACITY 1024

static _Thread_local char last_message[QK_ERROR_CAPACITY];
static _Thread_local qk_status last_status = QK_OK;

const char *qk_status_str(qk_status status) {
    switch (status) {
#define QK_STATUS_TEXT_(name, value, text)                                                         \
    case name:                                                                                     \
        return text;
        QK_STATUS_MAP(QK_STATUS_TEXT_)
#undef QK_STATUS_TEXT_
    }
    return "unknown status";
}

const char *qk_status_name(qk_status status) {
    switch (status) {
#define QK_STATUS_NAME_(name, value, text)                                                         \
    case name:                                                                                     \
        return #name;
        QK_STATUS_MAP(QK_STATUS_NAME_)
#undef QK_STATUS_NAME_
    }
    return "QK_ERR_UNKNOWN";
}

const char *qk_last_error(void) {
    return last_message;
}
qk_status qk_last_status(void) {
    return last_status;
}

void qk_clear_error(void) {
    last_message[0] = '\0';
    last_status = QK_OK;
}

qk_status qk_error_set(qk_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, args);
    va_end(args);
    last_status = status;
    return status;
}

qk_status qk_error_prefix(const char *fmt, ...) {
    char prefix[QK_ERROR_CAPACITY];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);
    if (n < 0) return last_status;
    size_t plen = strlen(prefix), mlen = strlen(last_message);
    if (plen + 2 + mlen + 1 > sizeof last_message) {
        /* keep the prefix (it names the file) and as much of the message as fits */
        if (plen + 3 > sizeof last_message) plen = sizeof last_message - 3;
        mlen = sizeof last_message - plen - 3;
    }
    memmove(last_message + plen + 2, last_message, mlen);
    last_message[plen + 2 + mlen] = '\0';
    memcpy(last_message, prefix, plen);
    last_message[plen] = ':';
    last_message[plen + 1] = ' ';
    return last_status;
}

const char *qk_version(void) {
#ifdef QK_VERSION_STRING
    return QK_VERSION_STRING;
#else
    return "0.0.0";
#endif
}
