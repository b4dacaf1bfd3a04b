/*
 * backend_support.c — see backend_support.h.
 */
#include "backend_support.h"

#include <stdio.h>
#include <string.h>

fg_status backend_fail_formatted(char *last_error, size_t capacity, fg_status status, const char *format,
                                 va_list arguments)
{
    vsnprintf(last_error, capacity, format, arguments);
    return status;
}

void backend_log_formatted(const fg_backend_host *host, fg_log_level level, const char *format, va_list arguments)
{
    char message[512];
    vsnprintf(message, sizeof message, format, arguments);
    host->log(level, message);
}

int backend_setting_names(const fg_backend_host *host, const char *setting_name, const char *call)
{
    const char *list = host->setting(host, setting_name);
    if (!list) return 0;
    size_t length = strlen(call);
    for (const char *p = list; (p = strstr(p, call)) != NULL; p += length)
        if ((p == list || p[-1] == '+') && (p[length] == 0 || p[length] == '+')) return 1;
    return 0;
}
