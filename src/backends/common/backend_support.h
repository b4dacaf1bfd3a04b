/*
 * backend_support.h — what every GPU backend module does the same way, compiled into each module (it
 * is not part of the core library's ABI): recording its last failure, logging through the host, and the
 * injected failures tests ask for with a setting such as FUSEGRAPH_CUDA_FAIL=run+upload.
 */
#ifndef FUSEGRAPH_BACKEND_SUPPORT_H
#define FUSEGRAPH_BACKEND_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>

#include "../../backend.h"

/* Formats the message into last_error (capacity bytes) and returns status: the body of a backend's
 * `NAME_fail(state, status, format, ...)`. */
fg_status backend_fail_formatted(char *last_error, size_t capacity, fg_status status, const char *format,
                                 va_list arguments);

/* Formats the message and hands it to the host's log (which drops it unless the application asked for
 * that level). */
void backend_log_formatted(const fg_backend_host *host, fg_log_level level, const char *format, va_list arguments);

/* 1 when the setting `setting_name` (a '+'-separated list, e.g. "run+upload") names call exactly. */
int backend_setting_names(const fg_backend_host *host, const char *setting_name, const char *call);

#endif /* FUSEGRAPH_BACKEND_SUPPORT_H */
