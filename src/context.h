/*
 * context.h — the devices of a context (a backend instance, its pool and its description), shared by
 * context.c (discovery and loading), planner.c and executor.c.
 */
#ifndef FUSEGRAPH_CONTEXT_H
#define FUSEGRAPH_CONTEXT_H

#include "backend.h"
#include "pool.h"

typedef struct fg_device {
    const fg_backend_interface *interface; /* NULL when the module did not load */
    void *state;
    void *module; /* dlopen handle, NULL for the built-in CPU */
    fg_device_info info;
    fg_pool *pool;
} fg_device;

struct fg_context {
    fg_device devices[FG_MAX_DEVICES];
    int device_count;
    fg_backend_host host;  /* what backends of this context get: logging and settings */
    char settings[1024];   /* fg_context_options.settings with each ';' replaced by a 0 */
    size_t settings_length;
};

#define FG_CPU_DEVICE 0

/* The default pool budget for devices with memory of their own: a fraction of what the backend
 * suggests is set in each backend; the pools reuse buffers within 25% of the request. */
#define FG_POOL_MAX_WASTE 0.25

#endif /* FUSEGRAPH_CONTEXT_H */
