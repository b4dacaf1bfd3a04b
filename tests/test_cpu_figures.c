/*
 * test_cpu_figures.c — the CPU's cost figures cache (src/backends/cpu/cpu_figures_cache.c): the best of
 * this process's measurement and earlier ones is used, a disturbed measurement is logged, the cache is
 * written when the figures improve on it and never made worse.
 *
 * The figures are measured once per process, so the case without a cache runs in a child process.
 */
#include "check.h"

#include "backends/cpu/cpu_figures_cache.h"

#include <sys/wait.h>
#include <unistd.h>

static char logged[4096];

static void capture_log(fg_log_level level, const char *message, void *user_data)
{
    (void)level, (void)user_data;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", message);
}

static fg_cost_figures figures_of(double gemm, double memory, double launch)
{
    fg_cost_figures figures;
    memset(&figures, 0, sizeof figures);
    for (int dtype = 0; dtype < 3; dtype++) figures.matmul_flops_per_second[dtype] = gemm;
    figures.memory_bytes_per_second = memory;
    figures.launch_seconds = launch;
    return figures;
}

static int close_to(double a, double b) { return fabs(a - b) <= 1e-7 * fabs(b); }

static fg_cost_figures context_cpu_figures(void)
{
    /* CPU only: the GPU backends would measure themselves afresh in the test's empty cache folders. */
    fg_context_options options = {.cpu_only = 1};
    fg_context *context = NULL;
    fg_device_info info;
    memset(&info, 0, sizeof info);
    CHECK_OK(fg_context_create(&options, &context));
    if (context) CHECK_OK(fg_context_device_info(context, 0, &info));
    fg_context_destroy(context);
    return info.cost;
}

/* No cache yet: the process measures, uses its measurement and writes it. Exit status 0 when so. */
static int child_without_cache(const char *folder)
{
    setenv("XDG_CACHE_HOME", folder, 1);
    fg_cost_figures used = context_cpu_figures(), cached;
    char path[1024];
    cpu_figures_cache_path(path, sizeof path);
    CHECK(used.matmul_flops_per_second[FG_F32] > 0 && used.memory_bytes_per_second > 0 && used.launch_seconds > 0);
    CHECK(cpu_figures_read(path, &cached));
    CHECK(close_to(cached.matmul_flops_per_second[FG_F32], used.matmul_flops_per_second[FG_F32]));
    CHECK(close_to(cached.memory_bytes_per_second, used.memory_bytes_per_second));
    CHECK(close_to(cached.launch_seconds, used.launch_seconds));
    return check_finish("test_cpu_figures (child: no cache)");
}

static void test_combine(void)
{
    fg_cost_figures measured = figures_of(1000e9, 200e9, 2e-6), best;
    CHECK(!cpu_figures_combine(&measured, NULL, &best));
    CHECK(best.matmul_flops_per_second[FG_F32] == 1000e9 && best.memory_bytes_per_second == 200e9);
    /* A cache a little better: its figures, not a disturbed measurement. */
    fg_cost_figures slightly_better = figures_of(1200e9, 230e9, 1.5e-6);
    CHECK(!cpu_figures_combine(&measured, &slightly_better, &best));
    CHECK(best.matmul_flops_per_second[FG_BF16] == 1200e9 && best.memory_bytes_per_second == 230e9 &&
          best.launch_seconds == 1.5e-6);
    /* The busy H100 host's start: 66 GFLOP/s and 27 GB/s against 1226 and 229. */
    fg_cost_figures busy = figures_of(66e9, 27e9, 2e-6), calm = figures_of(1226e9, 229e9, 2e-6);
    CHECK(cpu_figures_combine(&busy, &calm, &best));
    CHECK(best.matmul_flops_per_second[FG_F32] == 1226e9 && best.memory_bytes_per_second == 229e9);
    /* Mixed: each figure on its own; a launch cost over twice the cached one is disturbed too. */
    fg_cost_figures mixed = figures_of(900e9, 300e9, 5e-6);
    CHECK(cpu_figures_combine(&mixed, &calm, &best));
    CHECK(best.matmul_flops_per_second[FG_F32] == 1226e9 && best.memory_bytes_per_second == 300e9 &&
          best.launch_seconds == 2e-6);
}

int main(void)
{
    char folder[] = "/tmp/fusegraph-cpu-figures-XXXXXX", child_folder[] = "/tmp/fusegraph-cpu-figures-XXXXXX";
    if (!mkdtemp(folder) || !mkdtemp(child_folder)) {
        printf("skipped: no temporary folder\n");
        return CHECK_SKIP_CODE;
    }
    /* Before this process starts any thread (the context's measurement may). */
    pid_t child = fork();
    if (child == 0) {
        int status = child_without_cache(child_folder);
        fflush(stdout); /* _exit does not flush: the child's summary line would be lost in a pipe */
        _exit(status);
    }
    int child_status = -1;
    CHECK(child > 0 && waitpid(child, &child_status, 0) == child);
    CHECK(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0);

    test_combine();

    /* A round trip through a file. */
    char path[1100];
    snprintf(path, sizeof path, "%s/round-trip.txt", folder);
    fg_cost_figures written = figures_of(1234.5e9, 222.25e9, 1.75e-6), read;
    CHECK(cpu_figures_write(path, &written) && cpu_figures_read(path, &read));
    CHECK(close_to(read.matmul_flops_per_second[FG_F16], 1234.5e9) && close_to(read.memory_bytes_per_second, 222.25e9) &&
          close_to(read.launch_seconds, 1.75e-6));
    FILE *truncated = fopen(path, "w");
    if (truncated) fputs("gemm_f32_flops_per_second 1e12\n", truncated), fclose(truncated);
    CHECK(!cpu_figures_read(path, &read));
    FILE *infinite = fopen(path, "w"); /* not a figure: it would win every later comparison */
    if (infinite)
        fputs("gemm_f32_flops_per_second inf\nmemory_bytes_per_second 1e11\nlaunch_seconds 1e-6\n", infinite),
            fclose(infinite);
    CHECK(!cpu_figures_read(path, &read));
    remove(path);

    /* A cache far better than any CPU: the context uses it, logs the measurement as disturbed, and the
     * cache keeps its figures. */
    setenv("XDG_CACHE_HOME", folder, 1);
    cpu_figures_cache_path(path, sizeof path);
    fg_cost_figures impossible = figures_of(1e18, 1e16, 1e-12), cached;
    CHECK(path[0] && cpu_figures_write(path, &impossible));
    fg_set_log_callback(capture_log, NULL, FG_LOG_INFO);
    fg_cost_figures used = context_cpu_figures();
    fg_set_log_callback(NULL, NULL, FG_LOG_INFO);
    CHECK(used.matmul_flops_per_second[FG_F32] == 1e18 && used.matmul_flops_per_second[FG_BF16] == 1e18);
    CHECK(used.memory_bytes_per_second == 1e16 && used.launch_seconds == 1e-12);
    CHECK(strstr(logged, "[cpu] cost figures measured at start") && strstr(logged, "disturbed"));
    CHECK(cpu_figures_read(path, &cached) && cached.matmul_flops_per_second[FG_F32] == 1e18);
    remove(path);
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s' '%s'", folder, child_folder);
    CHECK(system(command) == 0);
    return check_finish("test_cpu_figures");
}
