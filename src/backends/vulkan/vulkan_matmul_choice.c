/*
 * vulkan_matmul_choice.c — which shader and tile configuration each matmul-like node runs, by measurement.
 *
 * The candidates: the tiled shader (matmul.comp) in each tile configuration that fits the device; the
 * cooperative-matrix shader (matmul_cooperative.comp: f16, where the device has cooperative matrices and,
 * for b as [N,K], 38 KiB of shared memory); the workgroup-scope cooperative shader (matmul_workgroup.comp:
 * f16, where the device has VK_NV_cooperative_matrix2, in each of vulkan_workgroup_configs that the device
 * lists); the skinny shader (matmul_skinny.comp: M <= 16, where compute shaders have subgroup
 * arithmetic). Which is fastest depends on the device (register file, shared memory,
 * core count; a CPU running lavapipe likes small tiles), so none is assumed: a choice is measured for each
 * (dtype, epilogue, weight layout, shape class) on first use. Every candidate that applies multiplies
 * matrices of the class's shape with that epilogue and layout, the best of 3 timed runs after a warm-up,
 * and the fastest is kept; a candidate whose first timed run takes over twice the best so far is not
 * run again (the skinny shader goes first in its classes, where it usually wins). The shapes (a GPU; a
 * CPU device such as lavapipe in brackets):
 *   M > 16           2048 x 2048 x 2048 (256^3)
 *   M <= 4           M = 4, K = N = 4096 (1024)
 *   4 < M <= 16      M = 16, K = N = 4096 (1024)
 * The two skinny classes are measured at the top of their range, where the skinny shader's cost (which
 * grows with M, unlike the tiled shader's) is highest, so it is not chosen where it would lose.
 *
 * Why the epilogue and the layout are part of the key: each (configuration, epilogue, layout) is a
 * pipeline the driver compiles on its own. On an H100 the 128x128 configuration ran the plain matmul at
 * 28 TFLOP/s and the exact-GELU one at 1.7 (see matmul.comp), and a choice measured on the plain matmul
 * alone sent every large fused layer to it; the layout changes the loads, and the skinny shader's
 * algorithm. The plain [K,N] matmul of each dtype is tuned at create (its rate is a cost figure), the
 * rest when a plan first asks for them (choose_implementation). vulkan_costs.c stores the choices in the
 * cache file named after the device, the driver and the embedded shaders, so later processes skip the
 * measurement. A node whose output gives the device too few workgroups for the chosen tile steps down to
 * smaller tiles (vulkan_tile_for_node).
 *
 * FUSEGRAPH_VULKAN_TILE=32x32|64x64|128x128|cooperative|skinny|workgroup-128x128|workgroup-128x256|
 * workgroup-128x256x64q makes every matmul use one choice instead (tests run each; benchmarks compare
 * them); a node the forced shader cannot run (cooperative, workgroup: not f16; skinny: M > 16) gets the
 * measured choice.
 */
#include "vulkan_backend.h"

#include <stdio.h>
#include <string.h>

/* matmul_workgroup.comp's tiles: the workgroup's block of out, K step, workgroup size and accumulator parts.
 * The three fastest of eleven measured on the H100 (f16 4096^3, NVIDIA 580 driver; all of them slower there
 * than matmul_cooperative.comp, see that shader); 128x128 is also the step down for small outputs. */
const vulkan_workgroup_config vulkan_workgroup_configs[VULKAN_WORKGROUP_CONFIG_COUNT] = {
    {"workgroup-128x128", 128, 128, 32, 256, 1},
    {"workgroup-128x256", 128, 256, 32, 256, 1},
    {"workgroup-128x256x64q", 128, 256, 64, 256, 4},
};

const vulkan_tile_config vulkan_tile_configs[VULKAN_TILE_CONFIG_COUNT] = {
    /* name, tile m, n, k, per-invocation m, n: 64, 256 and 256 invocations */
    {"32x32", 32, 32, 16, 4, 4},
    {"64x64", 64, 64, 16, 4, 4},
    {"128x128", 128, 128, 8, 8, 8},
};

/* Whether config fits the device's workgroup limits and shared memory (matmul.comp's panels, the b
 * panel padded when b is [N,K], or its epilogue's slab of THREADS_M rows where that is larger). */
static int config_fits(const vulkan_backend *vulkan, int config, fg_weight_layout layout)
{
    const vulkan_tile_config *c = &vulkan_tile_configs[config];
    uint32_t invocations = (c->tile_m / c->thread_m) * (c->tile_n / c->thread_n);
    uint32_t b_stride = c->tile_n + (layout == FG_WEIGHT_N_K ? 1 : 0);
    uint32_t panels = c->tile_k * (c->tile_m + 1) + c->tile_k * b_stride, slab = c->tile_m / c->thread_m * c->tile_n;
    uint32_t shared = (panels > slab ? panels : slab) * 4;
    return invocations <= vulkan->properties.limits.maxComputeWorkGroupInvocations &&
           invocations <= vulkan->properties.limits.maxComputeWorkGroupSize[0] &&
           shared <= vulkan->properties.limits.maxComputeSharedMemorySize;
}

static const char *choice_name(int choice)
{
    if (choice == VULKAN_USE_COOPERATIVE) return "cooperative";
    if (choice == VULKAN_USE_SKINNY) return "skinny";
    if (VULKAN_IS_WORKGROUP(choice)) return vulkan_workgroup_configs[choice - VULKAN_USE_WORKGROUP].name;
    return vulkan_tile_configs[choice].name;
}

int vulkan_forced_tile(const vulkan_backend *vulkan)
{
    const char *name = vulkan_setting(vulkan, "FUSEGRAPH_VULKAN_TILE");
    if (!name || !*name) return -1;
    if (strcmp(name, "cooperative") == 0) return VULKAN_USE_COOPERATIVE;
    if (strcmp(name, "skinny") == 0) {
        if (!vulkan->has_subgroup_arithmetic)
            vulkan_log(vulkan, FG_LOG_INFO, "[vulkan] FUSEGRAPH_VULKAN_TILE=skinny: %s has no subgroup arithmetic in compute "
                       "shaders, so the measured choice runs every matmul", vulkan->name);
        return VULKAN_USE_SKINNY;
    }
    for (int config = 0; config < VULKAN_WORKGROUP_CONFIG_COUNT; config++)
        if (strcmp(name, vulkan_workgroup_configs[config].name) == 0) return VULKAN_USE_WORKGROUP + config;
    for (int config = 0; config < VULKAN_TILE_CONFIG_COUNT; config++)
        if (strcmp(name, vulkan_tile_configs[config].name) == 0) {
            if (config_fits(vulkan, config, FG_WEIGHT_K_N)) return config;
            vulkan_log(vulkan, FG_LOG_WARN, "[vulkan] FUSEGRAPH_VULKAN_TILE=%s does not fit %s: ignored", name, vulkan->name);
            return -1;
        }
    vulkan_log(vulkan, FG_LOG_WARN,
               "[vulkan] FUSEGRAPH_VULKAN_TILE=%s is none of 32x32, 64x64, 128x128, cooperative, skinny, workgroup-128x128, "
               "workgroup-128x256, workgroup-128x256x64q: ignored", name);
    return -1;
}

vulkan_epilogue vulkan_node_epilogue(const fg_node_desc *node)
{
    if (node->op == FG_OP_MATMUL) return VULKAN_EPILOGUE_NONE;
    if (node->op == FG_OP_FUSED_MATMUL_ADD) return VULKAN_EPILOGUE_BIAS;
    return node->gelu_form == FG_GELU_TANH ? VULKAN_EPILOGUE_GELU_TANH : VULKAN_EPILOGUE_GELU_EXACT;
}

vulkan_shape_class vulkan_node_shape_class(const fg_node_desc *node)
{
    if (node->m <= 4) return VULKAN_SHAPE_ROWS_4;
    return node->m <= VULKAN_SKINNY_MAX_ROWS ? VULKAN_SHAPE_ROWS_16 : VULKAN_SHAPE_GENERAL;
}

int vulkan_choice_possible(const vulkan_backend *vulkan, int choice, fg_dtype dtype, fg_weight_layout layout,
                           vulkan_shape_class shape_class)
{
    if (choice == VULKAN_USE_COOPERATIVE)
        return dtype == FG_F16 && vulkan->has_cooperative &&
               (layout == FG_WEIGHT_K_N ||
                vulkan->properties.limits.maxComputeSharedMemorySize >= VULKAN_COOPERATIVE_SHARED_BYTES_N_K);
    if (choice == VULKAN_USE_SKINNY) return vulkan->has_subgroup_arithmetic && shape_class != VULKAN_SHAPE_GENERAL;
    if (VULKAN_IS_WORKGROUP(choice)) return dtype == FG_F16 && vulkan->has_workgroup_config[choice - VULKAN_USE_WORKGROUP];
    return choice >= 0 && choice < VULKAN_TILE_CONFIG_COUNT && config_fits(vulkan, choice, layout);
}

int vulkan_cooperative_applies(const vulkan_backend *vulkan, const fg_node_desc *node)
{
    return vulkan_choice_possible(vulkan, VULKAN_USE_COOPERATIVE, node->dtype, node->weight_layout, vulkan_node_shape_class(node));
}

void vulkan_skinny_grid(const vulkan_backend *vulkan, const fg_node_desc *node, uint32_t *out_columns, uint32_t *out_workgroup)
{
    const VkPhysicalDeviceLimits *limits = &vulkan->properties.limits;
    uint32_t limit = limits->maxComputeWorkGroupInvocations < limits->maxComputeWorkGroupSize[0]
                         ? limits->maxComputeWorkGroupInvocations : limits->maxComputeWorkGroupSize[0];
    if (node->weight_layout == FG_WEIGHT_N_K) {
        /* 8 columns, a pair per subgroup: 4 subgroups of the size the device reports (fewer where the
         * workgroup limit says so; the shader's subgroups then take several pairs each). */
        uint32_t subgroup = vulkan->subgroup_size ? vulkan->subgroup_size : 32, subgroups = 4;
        while (subgroups > 1 && subgroups * subgroup > limit) subgroups--;
        *out_columns = 8;
        *out_workgroup = subgroups * subgroup <= limit ? subgroups * subgroup : limit;
    } else {
        /* 64 columns, 16 invocations across them (4 columns each), the rest of the workgroup's 256
         * invocations (128 where the device allows no more) along K. On lavapipe 256-column blocks ran
         * no faster (M=1, K=768 and 4096, N=3072), and a GPU wants the workgroups. */
        *out_columns = 64;
        *out_workgroup = (limit < 256 ? limit : 256) / 16 * 16;
    }
}

int vulkan_skinny_applies(const vulkan_backend *vulkan, const fg_node_desc *node)
{
    if (!vulkan->has_subgroup_arithmetic || node->m > VULKAN_SKINNY_MAX_ROWS) return 0;
    uint32_t columns = 0, workgroup = 0;
    vulkan_skinny_grid(vulkan, node, &columns, &workgroup);
    return (node->n + columns - 1) / columns <= vulkan->properties.limits.maxComputeWorkGroupCount[0];
}

static const char *const epilogue_names[VULKAN_EPILOGUES] = {"", " + bias", " + bias + gelu exact", " + bias + gelu tanh"};
static const char *const class_names[VULKAN_SHAPE_CLASSES] = {"M > 16", "M <= 4", "4 < M <= 16"};

int vulkan_tuned_tile(vulkan_backend *vulkan, fg_dtype dtype, vulkan_epilogue epilogue, fg_weight_layout layout,
                      vulkan_shape_class shape_class)
{
    int *choice = &vulkan->tile_choice[dtype][epilogue][layout][shape_class];
    if (*choice >= 0) return *choice;
    int cpu = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    int64_t size = cpu ? 256 : 2048, weight = cpu ? 1024 : 4096;
    static const fg_op ops[VULKAN_EPILOGUES] = {FG_OP_MATMUL, FG_OP_FUSED_MATMUL_ADD, FG_OP_FUSED_MATMUL_ADD_GELU,
                                                FG_OP_FUSED_MATMUL_ADD_GELU};
    fg_node_desc node = {.op = ops[epilogue], .dtype = dtype, .input_count = epilogue == VULKAN_EPILOGUE_NONE ? 2 : 3,
                         .weight_layout = layout, .m = size, .k = size, .n = size,
                         .gelu_form = epilogue == VULKAN_EPILOGUE_GELU_TANH ? FG_GELU_TANH : FG_GELU_EXACT};
    if (shape_class != VULKAN_SHAPE_GENERAL) {
        node.m = shape_class == VULKAN_SHAPE_ROWS_4 ? 4 : VULKAN_SKINNY_MAX_ROWS;
        node.k = node.n = weight;
    }
    int best = -1;
    double best_seconds = 0, flops = 2.0 * (double)node.m * (double)node.k * (double)node.n;
    char report[512] = "";
    /* The skinny shader first (it applies only in the M <= 16 classes, where it is the likely winner), so
     * the tiled candidates after it usually stop after one timed run (below). */
    int order[VULKAN_TILE_CHOICES], count = 0;
    order[count++] = VULKAN_USE_SKINNY;
    for (int candidate = 0; candidate < VULKAN_TILE_CHOICES; candidate++)
        if (candidate != VULKAN_USE_SKINNY) order[count++] = candidate;
    for (int i = 0; i < count; i++) {
        const int candidate = order[i];
        if (!vulkan_choice_possible(vulkan, candidate, dtype, layout, shape_class)) continue;
        if (candidate == VULKAN_USE_SKINNY && !vulkan_skinny_applies(vulkan, &node)) continue;
        /* A candidate whose timed run takes over twice the best so far cannot win: its remaining runs are
         * skipped (on lavapipe a tiled shader at M = 4, K = N = 1024 takes 0.14-0.48 s a run, the skinny one
         * 0.013). Twice, not once: a first run that noise slowed by less than that still gets its repeats. */
        double seconds = 0;
        if (vulkan_time_node(vulkan, &node, candidate, 3, best < 0 ? 0 : 2 * best_seconds, &seconds) != FG_OK || seconds <= 0)
            continue;
        size_t used = strlen(report);
        snprintf(report + used, sizeof report - used, "%s%s %.1f GFLOP/s", used ? ", " : "", choice_name(candidate),
                 flops / seconds * 1e-9);
        if (best < 0 || seconds < best_seconds) best = candidate, best_seconds = seconds;
    }
    /* Nothing ran (out of device memory for the scratch matrices, a lost device): 64x64 (32x32 where it
     * does not fit), for this process only; nothing is cached, so a later process measures again. */
    int fallback = vulkan_choice_possible(vulkan, 1, dtype, layout, shape_class) ? 1 : 0;
    *choice = best < 0 ? fallback : best;
    vulkan->tile_is_default[dtype][epilogue][layout][shape_class] = best < 0;
    vulkan_log(vulkan, FG_LOG_INFO, "[vulkan matmul] %s%s, weight %s, %s: tuning at %lldx%lldx%lld: %s; chosen %s%s",
               vulkan_dtype_name(dtype), epilogue_names[epilogue], layout == FG_WEIGHT_N_K ? "[N,K]" : "[K,N]",
               class_names[shape_class], (long long)node.m, (long long)node.k, (long long)node.n,
               report[0] ? report : "nothing ran", choice_name(*choice), best < 0 ? " (default)" : "");
    /* At create the figures are not measured yet: vulkan_costs_measure saves once they are. */
    if (best >= 0 && !vulkan->measuring) vulkan_costs_save(vulkan);
    return *choice;
}

/* Workgroups of tile_m x tile_n that cover node's output. */
static int64_t workgroups(const fg_node_desc *node, uint32_t tile_m, uint32_t tile_n)
{
    return ((node->m + tile_m - 1) / tile_m) * ((node->n + tile_n - 1) / tile_n);
}

int vulkan_tile_for_node(vulkan_backend *vulkan, const fg_node_desc *node)
{
    int forced = vulkan->forced_tile;
    vulkan_shape_class shape_class = vulkan_node_shape_class(node);
    int forced_applies = forced == VULKAN_USE_SKINNY
                             ? vulkan_skinny_applies(vulkan, node)
                             : forced >= 0 && vulkan_choice_possible(vulkan, forced, node->dtype, node->weight_layout, shape_class);
    if (forced_applies) return forced;
    vulkan_epilogue epilogue = vulkan_node_epilogue(node);
    int tile = vulkan_tuned_tile(vulkan, node->dtype, epilogue, node->weight_layout, shape_class);
    /* Measured fastest for the class, but this node's N needs more workgroups than the device dispatches */
    if (tile == VULKAN_USE_SKINNY && !vulkan_skinny_applies(vulkan, node))
        tile = vulkan_tuned_tile(vulkan, node->dtype, epilogue, node->weight_layout, VULKAN_SHAPE_GENERAL);
    if (tile == VULKAN_USE_COOPERATIVE || tile == VULKAN_USE_SKINNY) return tile;
    /* Too few workgroups leave most of the device idle: a GPU wants at least a few per core; lavapipe's
     * threads want a handful. Smaller tiles make more of them. */
    int64_t wanted = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 8 : 128;
    if (VULKAN_IS_WORKGROUP(tile)) { /* the smallest workgroup tile (128x128) where the device runs it */
        const vulkan_workgroup_config *c = &vulkan_workgroup_configs[tile - VULKAN_USE_WORKGROUP];
        int too_few = workgroups(node, c->tile_m, c->tile_n) < wanted;
        return too_few && vulkan->has_workgroup_config[0] ? VULKAN_USE_WORKGROUP : tile;
    }
    while (tile > 0 && workgroups(node, vulkan_tile_configs[tile].tile_m, vulkan_tile_configs[tile].tile_n) < wanted) tile--;
    while (tile > 0 && !config_fits(vulkan, tile, node->weight_layout)) tile--;
    return tile;
}
