/*
** Internal: setting the thread's last error. Every failing path in the
** library returns through qk_error_set() so that qk_last_error() says what
** went wrong and where (file, tensor, byte offset or element index).
*/
#ifndef QK_CORE_ERROR_H
#define QK_CORE_ERROR_H

#include "quantkit/core.h"

#if defined(__GNUC__)
#define QK_PRINTF_LIKE(fmt_index, args_index) __attribute__((format(printf, fmt_index, args_index)))
#else
#define QK_PRINTF_LIKE(fmt_index, args_index)
#endif

/* Record `status` with a printf-style message as this thread's last error
** and return `status`, so a failing path reads `return qk_error_set(...)`. */
qk_status qk_error_set(qk_status status, const char *fmt, ...) QK_PRINTF_LIKE(2, 3);

/* Prefix the current message with "context: " (for callers that add the
** file name or tensor name to an error raised deeper down). Returns the
** current status. */
qk_status qk_error_prefix(const char *fmt, ...) QK_PRINTF_LIKE(1, 2);

#endif
