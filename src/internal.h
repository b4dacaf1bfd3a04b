/*
 * internal.h — what every core file shares: error reporting (status + thread-local message), logging
 * through the application's callback, and small helpers.
 */
#ifndef FUSEGRAPH_INTERNAL_H
#define FUSEGRAPH_INTERNAL_H

#include "fusegraph.h"

#include <stdarg.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define FG_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define FG_PRINTF(fmt_index, first_arg)
#endif

/* Records message as this thread's last error and returns status, so failures read
 * `return fg_fail(FG_ERR_SHAPE, "[matmul] inner dims differ: ...")`. Also logged at FG_LOG_DEBUG. */
fg_status fg_fail(fg_status status, const char *format, ...) FG_PRINTF(2, 3);

void fg_log(fg_log_level level, const char *format, ...) FG_PRINTF(2, 3);
/* The log entry the backends get through fg_backend_host (a plain string, no formatting). */
void fg_log_message(fg_log_level level, const char *message);

/* "[4, 3]" into buffer; returns buffer. */
const char *fg_shape_format(const fg_shape *shape, char *buffer, size_t capacity);

/* Allocation helpers that never abort. */
void *fg_aligned_alloc(size_t bytes);
void fg_aligned_free(void *pointer);

/* Monotonic seconds. */
double fg_now_seconds(void);
/* The median of count seconds (the mean of the middle two for an even count); sorts values. */
double fg_median_seconds(double *values, int count);

/* MatMul and the fused nodes built on it: the ops with M, K, N and 2 M K N FLOPs. */
static inline int fg_op_is_matmul_like(fg_op op)
{
    return op == FG_OP_MATMUL || op == FG_OP_FUSED_MATMUL_ADD || op == FG_OP_FUSED_MATMUL_ADD_GELU;
}

#endif /* FUSEGRAPH_INTERNAL_H */
