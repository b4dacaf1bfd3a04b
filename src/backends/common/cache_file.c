/* cache_file.c — see cache_file.h. */
#include "cache_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void backend_cache_file(const char *backend, const char *key, const char *what, char *path, size_t capacity)
{
    path[0] = 0;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char folder[768];
    if (xdg && *xdg) snprintf(folder, sizeof folder, "%s/fusegraph", xdg);
    else if (home && *home) snprintf(folder, sizeof folder, "%s/.cache/fusegraph", home);
    else return;
    /* Create the folder and its parent (~/.cache may not exist); failures show up when the file opens. */
    char parent[768];
    snprintf(parent, sizeof parent, "%s", folder);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0, mkdir(parent, 0755);
    mkdir(folder, 0755);
    char safe[256];
    snprintf(safe, sizeof safe, "%s", key);
    for (char *c = safe; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-')) *c = '_';
    snprintf(path, capacity, "%s/%s-%s-%s.txt", folder, backend, safe, what);
}
