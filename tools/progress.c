/*
 * progress.c — a progress bar for long benchmarks, drawn on stderr only when stderr is a terminal, so
 * logs and pipes stay clean.
 */
#include "tool.h"

#include <stdio.h>
#include <unistd.h>

static int progress_shown;

void tool_progress(int done, int total, const char *label)
{
    if (!isatty(fileno(stderr)) || total <= 0) return;
    const int width = 30;
    int filled = done * width / total;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %d/%d %-40.40s", done, total, label);
    fflush(stderr);
    progress_shown = 1;
}

void tool_progress_end(void)
{
    if (!progress_shown) return;
    fprintf(stderr, "\r%80s\r", "");
    fflush(stderr);
    progress_shown = 0;
}
