/*
 * cache_file.h — where a GPU backend keeps its measurements between processes.
 *
 * Backends measure themselves (cost figures, autotune choices) once per GPU and driver and keep the
 * results in small text files under $XDG_CACHE_HOME/fusegraph (or ~/.cache/fusegraph). This file is
 * compiled into each backend module (it is not part of the core library's ABI).
 */
#ifndef FUSEGRAPH_BACKEND_CACHE_FILE_H
#define FUSEGRAPH_BACKEND_CACHE_FILE_H

#include <stddef.h>

/*
 * Writes "<cache folder>/<backend>-<key>-<what>.txt" into path, creating the folder (and ~/.cache) when
 * missing. key is made file-name safe (characters other than letters, digits and '-' become '_').
 * path becomes "" when neither XDG_CACHE_HOME nor HOME is set: the caller then measures without caching.
 */
void backend_cache_file(const char *backend, const char *key, const char *what, char *path, size_t capacity);

#endif
