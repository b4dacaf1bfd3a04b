/*
 * test_gpu_backend.c BACKEND — every op and dtype on one GPU backend ("cuda", "vulkan") against the
 * float64 reference, through the public API with the plan forced onto that device: fresh random inputs,
 * awkward sizes (1, 7, 31, 1000, 4097 and non-multiples of every tile), outputs poisoned with NaN before
 * each run; matmuls with the weight as [K, N] and as [N, K] (FG_WEIGHT_N_K, PyTorch's nn.Linear layout). For CUDA every matmul implementation is forced in turn (FUSEGRAPH_CUDA_IMPLEMENTATION), so
 * each kernel is checked, not only the one the autotuner prefers; for Vulkan every tile configuration and
 * the cooperative-matrix shader (FUSEGRAPH_VULKAN_TILE). Then chains of nodes, each reading what the one
 * before wrote (gpu_backend_chains.h: CUDA's kernels may start before the kernel before them ends). Then
 * the failure paths: injected
 * failures of each call (FUSEGRAPH_<BACKEND>_FAIL) must fall back to the CPU with a right result, a
 * failed upload retried in smaller chunks must succeed (CUDA), and a small pool budget must evict and
 * stay right. Exits 77 with "skipped: <reason>" when the backend is not ready (no GPU, no driver).
 * The cases and their runs are in gpu_backend_cases.h, the failure paths in gpu_backend_failure_paths.h;
 * this file chooses the variants (FUSEGRAPH_TEST_IMPLEMENTATIONS), the sizes and the parts that run
 * (FUSEGRAPH_TEST_PARTS: ops, failure_paths, or one group of the failure paths by name).
 */
#include "check.h"
#include "fusegraph.h"
#include "gpu_backend_cases.h"         /* test cases, run_case, check_case */
#include "gpu_backend_chains.h"        /* decoding-shaped chains of nodes */
#include "gpu_backend_failure_paths.h" /* injected failures, transfer retry, cuBLASLt reuse, small budget */

#include <ctype.h>

/* Whether a Vulkan device's info reason lists the workgroup cooperative tile (as "(f16: 128x128, 128x256)"):
 * a whole item, so "128x256" does not match "128x256x64q". */
static int reason_lists_workgroup_tile(const char *reason, const char *tile)
{
    const char *list = strstr(reason, "workgroup cooperative matrices yes (f16: ");
    if (!list) return 0;
    size_t length = strlen(tile);
    for (const char *p = strstr(list, tile); p; p = strstr(p + 1, tile))
        if ((p[-1] == ' ') && (p[length] == ',' || p[length] == ')')) return 1;
    return 0;
}

static void check_all_ops(variant *variants, int variant_count)
{
    static const int64_t elementwise_sizes[][2] = {{1, 1}, {1, 7}, {1, 31}, {1, 1000}, {1, 4097}, {7, 31}, {1000, 4097}, {3, 1}, {33, 5}};
    static const int64_t matmul_sizes[][3] = {{1, 1, 1},     {7, 13, 31},   {31, 1000, 7},  {33, 4097, 65},  {1000, 31, 1000},
                                               {16, 1000, 4097}, {200, 517, 300}, {3, 4096, 1000}, {128, 128, 128}, {17, 64, 33},
                                               /* skinny kernels' element-by-element paths with K past several
                                                * splits: M <= 4 and M 5..16 (both warp per rows of W) */
                                               {4, 4097, 65}, {9, 1001, 300},
                                               /* whole 128 x 256 tiles with K a multiple of 32 beside edge tiles
                                                * (the workgroup cooperative shader's two paths) */
                                               {260, 64, 520},
                                               /* the wgmma kernel: a partial 64-wide K slice (K = 136), an odd N
                                                * (element stores), partial tiles both ways */
                                               {300, 136, 257}};
    const fg_dtype dtypes[] = {FG_F32, FG_F16, FG_BF16};
    /* FUSEGRAPH_TEST_QUICK (for compute-sanitizer runs, 10-100x slower): the smaller half of the sizes. */
    int quick = getenv("FUSEGRAPH_TEST_QUICK") != NULL;
    for (int d = 0; d < 3; d++) {
        for (size_t s = 0; s < sizeof elementwise_sizes / sizeof *elementwise_sizes; s++)
            if (!quick || elementwise_sizes[s][0] * elementwise_sizes[s][1] < 5000)
            for (int k = ADD; k <= GELU; k++)
                for (int form = 0; form < (k == GELU ? 2 : 1); form++) {
                    test_case c = {(kind)k, dtypes[d], FG_PRECISION_EXACT, (fg_gelu_form)form, elementwise_sizes[s][0], 0,
                                   elementwise_sizes[s][1], FG_WEIGHT_K_N};
                    check_case(&c, variants, variant_count);
                }
        for (int precision = 0; precision < (dtypes[d] == FG_F32 ? 2 : 1); precision++)
            for (size_t s = 0; s < sizeof matmul_sizes / sizeof *matmul_sizes; s++)
                if (!quick || matmul_sizes[s][0] * matmul_sizes[s][1] * matmul_sizes[s][2] < 300000)
                for (int layout = 0; layout < 2; layout++)
                for (int k = MATMUL; k <= MATMUL_BIAS_GELU + 1; k++) {
                    test_case c = {k > MATMUL_BIAS_GELU ? MATMUL_BIAS_GELU : (kind)k, dtypes[d], (fg_matmul_precision)precision,
                                   k > MATMUL_BIAS_GELU ? FG_GELU_TANH : FG_GELU_EXACT, matmul_sizes[s][0], matmul_sizes[s][1],
                                   matmul_sizes[s][2], (fg_weight_layout)layout};
                    check_case(&c, variants, variant_count);
                }
    }
}


/* The comma-separated item that starts at `item`: its length; *next is the item after it, NULL after the last. */
static size_t list_item(const char *item, const char **next)
{
    const char *end = strchr(item, ',');
    *next = end ? end + 1 : NULL;
    return end ? (size_t)(end - item) : strlen(item);
}

/* Whether the item at `item` (`length` characters) is `name`. */
static int item_is(const char *item, size_t length, const char *name)
{
    return name && strlen(name) == length && strncmp(item, name, length) == 0;
}

/* Whether `name` is one of the comma-separated names in `list`; every name is when list is NULL. */
static int listed(const char *list, const char *name)
{
    if (!list) return 1;
    for (const char *p = list, *next; p; p = next)
        if (item_is(p, list_item(p, &next), name)) return 1;
    return 0;
}

/* Whether every comma-separated name in `list` is `extra` (may be NULL) or one of `names` (NULL-terminated;
 * may be NULL). */
static int names_known(const char *list, const char *const *names, const char *extra)
{
    for (const char *p = list, *next; p; p = next) {
        const size_t length = list_item(p, &next);
        int known = item_is(p, length, extra);
        for (int i = 0; names && names[i] && !known; i++) known = item_is(p, length, names[i]);
        if (!known) return 0;
    }
    return 1;
}

static const char *const cuda_implementations[] = {"cublaslt", "tensor_core", "simt", "skinny", "cublaslt_then_gelu",
                                                   "skinny_tensor_core", "warpgroup_tensor_core", "skinny_fp64_tensor_core",
                                                   NULL};
static const char *const vulkan_tiles[] = {"32x32", "64x64", "128x128", "cooperative", "skinny", "workgroup-128x128",
                                           "workgroup-128x256", "workgroup-128x256x64q", NULL};
/* The autotuned context and each forced implementation or tile of the longer list (its NULL not counted). */
#define NAMES(list) (sizeof list / sizeof *list - 1)
#define MAX_VARIANTS (1 + (NAMES(cuda_implementations) > NAMES(vulkan_tiles) ? NAMES(cuda_implementations) : NAMES(vulkan_tiles)))

/* The variants the op checks run on: the autotuned context `base` and every forced implementation (CUDA:
 * FUSEGRAPH_CUDA_IMPLEMENTATION) or tile (Vulkan: FUSEGRAPH_VULKAN_TILE), the autotuned variant alone covering
 * only what this device happens to pick. FUSEGRAPH_TEST_IMPLEMENTATIONS=name,name,... (for compute-sanitizer
 * runs split over several calls): only the listed ones, the autotuned variant only if "autotuned" is listed.
 * Vulkan: each tile configuration, the cooperative-matrix shader where the device reports cooperative
 * matrices, and each workgroup-scope cooperative tile the device reports (VK_NV_cooperative_matrix2).
 * Returns how many of variants[0 .. MAX_VARIANTS - 1] it filled; a name that is no variant, a variant whose
 * backend does not start, or no variant left is a failure. Called (and the list read) only when the op
 * checks run. */
static int open_variants(variant *variants, fg_context *base, int device, const fg_device_info *info)
{
    char reason[512];
    const char *only = getenv("FUSEGRAPH_TEST_IMPLEMENTATIONS");
    variants[0] = (variant){"(autotuned)", base, device, 0};
    int variant_count = listed(only, "autotuned") ? 1 : 0;
    if (only) printf("FUSEGRAPH_TEST_IMPLEMENTATIONS=%s: only these variants\n", only);
    int is_cuda = strcmp(backend, "cuda") == 0;
    const char *const *names = is_cuda ? cuda_implementations : strcmp(backend, "vulkan") == 0 ? vulkan_tiles : NULL;
    for (int i = 0; names && names[i]; i++) {
        if (!listed(only, names[i])) continue;
        if (strcmp(names[i], "cooperative") == 0 && !strstr(info->reason, "; cooperative matrices yes")) {
            printf("vulkan cooperative shader: not tested: %s reports no cooperative matrices\n", info->name);
            continue;
        }
        if (strncmp(names[i], "workgroup-", 10) == 0 && !reason_lists_workgroup_tile(info->reason, names[i] + 10)) {
            printf("vulkan workgroup cooperative shader %s: not tested: %s does not report it\n", names[i] + 10, info->name);
            continue;
        }
        char settings[96];
        snprintf(settings, sizeof settings, "%s=%s", is_cuda ? "FUSEGRAPH_CUDA_IMPLEMENTATION" : "FUSEGRAPH_VULKAN_TILE", names[i]);
        variant *v = &variants[variant_count];
        v->label = names[i];
        v->skips_large_skinny = !is_cuda && isdigit((unsigned char)names[i][0]) && /* a tile: 32x32, 64x64, 128x128 */
                                info->cost.matmul_flops_per_second[FG_F32] < 100e9;
        v->context = open_backend(settings, 0, &v->device, reason, sizeof reason);
        if (v->device >= 0) {
            variant_count++;
        } else {
            fail_not_started(settings, reason);
            fg_context_destroy(v->context);
        }
    }
    if (only && !names_known(only, names, "autotuned")) {
        printf("FAIL FUSEGRAPH_TEST_IMPLEMENTATIONS=%s names something that is not a %s variant\n", only, backend);
        check_count++, check_failures++;
    }
    if (variant_count == 0) {
        printf("FAIL %s: no variant to check (FUSEGRAPH_TEST_IMPLEMENTATIONS=%s)\n", backend, only ? only : "");
        check_count++, check_failures++;
    }
    return variant_count;
}

/* Runs one group of failure-path checks and says how long it took: under compute-sanitizer the groups'
 * times differ by an order of magnitude (racecheck at 9253896: the cuBLASLt class-reuse check 13 s, the
 * others 1.4 s together), and a run cut short by a time limit should show where its time went. */
static void run_timed(const char *name, void (*checks)(void))
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    checks();
    printf("     (%s: %.1f s)\n", name, check_seconds_since(&start));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu_backend BACKEND (cuda, vulkan)\n");
        return 2;
    }
    /* Line by line, so that a run a tool cuts short (a sanitizer's crash, a timeout) shows how far it got. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    backend = argv[1];
    snprintf(fail_setting, sizeof fail_setting, "FUSEGRAPH_%s_FAIL", backend);
    for (char *c = fail_setting; *c; c++) *c = (char)toupper((unsigned char)*c);
    check_seed();
    char reason[512];
    int device;
    fg_context *base = open_backend(NULL, 0, &device, reason, sizeof reason);
    if (device < 0) {
        printf("skipped: %s\n", reason);
        fg_context_destroy(base);
        return CHECK_SKIP_CODE;
    }
    fg_device_info info;
    fg_context_device_info(base, device, &info);
    printf("%s device: %s (%s)\n", backend, info.name, info.reason);
    /* FUSEGRAPH_TEST_PARTS=ops,failure_paths (unset: both), or groups of the failure paths by name: for
     * compute-sanitizer runs that treat them differently (scripts/gpu-session.sh's racecheck leaves cuBLAS's
     * kernels uninstrumented in the op checks only; a group alone showed where the failure paths' time
     * under racecheck went). Naming only groups that do not apply to this backend fails: nothing ran. */
    const char *parts = getenv("FUSEGRAPH_TEST_PARTS");
    const char *part_names[2 + FAILURE_GROUP_COUNT + 1] = {"ops", "failure_paths"};
    for (int g = 0; g < FAILURE_GROUP_COUNT; g++) part_names[2 + g] = failure_groups[g].name;
    const int parts_known = !parts || names_known(parts, part_names, NULL);
    if (!parts_known) {
        printf("FAIL FUSEGRAPH_TEST_PARTS=%s: the parts are ops, failure_paths or one of its groups (", parts);
        for (int g = 0; g < FAILURE_GROUP_COUNT; g++) printf("%s%s", g ? ", " : "", failure_groups[g].name);
        printf(")\n");
        check_count++, check_failures++;
    }
    variant variants[MAX_VARIANTS];
    int variant_count = 0;
    if (listed(parts, "ops")) {
        variant_count = open_variants(variants, base, device, &info);
        check_all_ops(variants, variant_count);
        struct timespec chains_start;
        clock_gettime(CLOCK_MONOTONIC, &chains_start);
        check_chains(variants, variant_count);
        printf("     (chains: %.1f s)\n", check_seconds_since(&chains_start));
        if (large_skinny_cases_skipped)
            printf("%d cases of forced tiled shaders at M <= 16 with K * N over a million not run: %s measures %.1f "
                   "GFLOP/s (f32), slower than any GPU (gpu_backend_cases.h, struct variant)\n",
                   large_skinny_cases_skipped, info.name, info.cost.matmul_flops_per_second[FG_F32] * 1e-9);
        printf("%d op checks done (%d failed)\n", check_count, check_failures);
    }
    int groups_run = 0;
    for (int g = 0; g < FAILURE_GROUP_COUNT; g++) {
        const int named = parts && listed(parts, failure_groups[g].name);
        if (!listed(parts, "failure_paths") && !named) continue;
        const char *excluded = failure_group_excluded(g, &info);
        if (excluded) {
            if (named) printf("     (%s: not run on %s: %s)\n", failure_groups[g].title, backend, excluded);
            continue;
        }
        if (!groups_run++) printf("failure paths:\n");
        run_timed(failure_groups[g].title, failure_groups[g].checks);
    }
    if (parts_known && !listed(parts, "ops") && groups_run == 0) {
        printf("FAIL FUSEGRAPH_TEST_PARTS=%s: nothing of it applies to %s\n", parts, backend);
        check_count++, check_failures++;
    }
    for (int v = 0; v < variant_count; v++)
        if (variants[v].context != base) fg_context_destroy(variants[v].context);
    fg_context_destroy(base);
    return check_finish("test_gpu_backend");
}
