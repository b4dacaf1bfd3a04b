/*
 * vulkan_backend.h — the Vulkan backend's state, shared by its files:
 *   vulkan_backend.c    the interface table: create/destroy, the lock, settings, errors, injected failures
 *   vulkan_instance.c   loading libvulkan (dlopen) and creating the instance
 *   vulkan_device.c     choosing and opening the device
 *   vulkan_memory.c     device buffers, the staging buffer, uploads and downloads
 *   vulkan_commands.c   command batches (record, submit, wait), barriers, GPU timestamps
 *   vulkan_pipelines.c  shader modules, pipelines by specialization constants
 *   vulkan_matmul_choice.c  which matmul shader and tile each node uses: measured per device, dtype,
 *                       epilogue, weight layout and shape class, cached; FUSEGRAPH_VULKAN_TILE forces one
 *   vulkan_dispatch.c   which nodes this device runs, and recording them
 *   vulkan_costs.c      the cost figures, measured once and cached on disk with the tile choices
 *
 * Ordering and asynchrony. There is one queue. run() only records a dispatch into the current command
 * batch; a batch is submitted when it holds VULKAN_BATCH_COMMANDS commands (without waiting: the other
 * batch then records while this one runs) and by synchronize, upload, download and release, which also
 * wait. A global memory barrier precedes every recorded command, and barriers order against everything
 * earlier in submission order, so each node sees the writes of every earlier node and transfer, and a
 * buffer the pool hands out again is never overwritten while an earlier dispatch still reads it. Uploads
 * and downloads go through one staging buffer and wait for their copy, so they never return before the
 * data has left (upload) or arrived in (download) host memory: download delivers the data before it
 * returns, a stronger promise than backend.h asks for.
 */
#ifndef FUSEGRAPH_VULKAN_BACKEND_H
#define FUSEGRAPH_VULKAN_BACKEND_H

#include "../../backend.h"
#include "vulkan_api.h"

#include <pthread.h>
#include <stdint.h>

#define VULKAN_BATCHES 2
#define VULKAN_BATCH_COMMANDS 128       /* commands (dispatches and copies) per batch before it is submitted */
#define VULKAN_STAGING_MAX (64u << 20)  /* the staging buffer's largest size; larger transfers are chunked */
#define VULKAN_WAIT_NANOSECONDS (120ull * 1000000000ull) /* a fence not signalled by then: the device is hung */

/* The embedded shaders: families x dtypes (index family * 3 + fg_dtype), then the two cooperative ones. */
typedef enum vulkan_shader {
    VULKAN_SHADER_ADD = 0,
    VULKAN_SHADER_GELU = 3,
    VULKAN_SHADER_MATMUL = 6,
    VULKAN_SHADER_MATMUL_SKINNY = 9,
    VULKAN_SHADER_MATMUL_COOPERATIVE_F16 = 12,
    VULKAN_SHADER_MATMUL_WORKGROUP_F16 = 13, /* matmul_workgroup.comp: VK_NV_cooperative_matrix2 */
    VULKAN_SHADER_COUNT = 14
} vulkan_shader;

/* Specialization constants per pipeline (constant_id 0 .. VULKAN_CONSTANTS - 1; a shader ignores ids it
 * does not declare). */
#define VULKAN_CONSTANTS 10

typedef struct vulkan_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize bytes;
} vulkan_buffer;

typedef struct vulkan_batch {
    VkCommandBuffer commands;
    VkFence fence;
    VkDescriptorPool descriptors; /* one set per dispatch, reset when the batch is reused */
    int recording;                /* begun, not yet submitted */
    int in_flight;                /* submitted, fence not yet waited for */
    int command_count;
} vulkan_batch;

/* A matmul tile configuration: the specialization constants of matmul.comp. */
typedef struct vulkan_tile_config {
    const char *name;
    uint32_t tile_m, tile_n, tile_k, thread_m, thread_n;
} vulkan_tile_config;

#define VULKAN_TILE_CONFIG_COUNT 3
extern const vulkan_tile_config vulkan_tile_configs[VULKAN_TILE_CONFIG_COUNT];
/* A tile of matmul_workgroup.comp: its specialization constants (the workgroup's block of out, the K
 * step, the workgroup size, and how many accumulators of TILE_M x TILE_N / n_parts hold the block). */
typedef struct vulkan_workgroup_config {
    const char *name;
    uint32_t tile_m, tile_n, tile_k, invocations, n_parts;
} vulkan_workgroup_config;
#define VULKAN_WORKGROUP_CONFIG_COUNT 3
extern const vulkan_workgroup_config vulkan_workgroup_configs[VULKAN_WORKGROUP_CONFIG_COUNT];
/* Tile choices: an index into vulkan_tile_configs (matmul.comp), or one of these shaders. */
#define VULKAN_USE_COOPERATIVE VULKAN_TILE_CONFIG_COUNT   /* matmul_cooperative.comp (f16) */
#define VULKAN_USE_SKINNY (VULKAN_TILE_CONFIG_COUNT + 1)  /* matmul_skinny.comp (M <= VULKAN_SKINNY_MAX_ROWS) */
/* matmul_workgroup.comp (f16) in vulkan_workgroup_configs[choice - VULKAN_USE_WORKGROUP] */
#define VULKAN_USE_WORKGROUP (VULKAN_TILE_CONFIG_COUNT + 2)
#define VULKAN_TILE_CHOICES (VULKAN_USE_WORKGROUP + VULKAN_WORKGROUP_CONFIG_COUNT)
#define VULKAN_IS_WORKGROUP(choice) ((choice) >= VULKAN_USE_WORKGROUP && (choice) < VULKAN_TILE_CHOICES)
/* The block of out one workgroup of matmul_cooperative.comp computes (its TILE_M, TILE_N). */
#define VULKAN_COOPERATIVE_TILE_M 128
#define VULKAN_COOPERATIVE_TILE_N 256
/* Shared memory matmul_cooperative.comp needs with b as [N,K] (its B panel is n-major, 20 KiB instead
 * of 16.5); with b as [K,N] it needs 35328 bytes, which the device check at create asks for. */
#define VULKAN_COOPERATIVE_SHARED_BYTES_N_K 38912
#define VULKAN_SKINNY_MAX_ROWS 16

/* The shape classes of matmul-like nodes; each has its own measured choice. The skinny shader's range is
 * split in two because its cost grows with M while the tiled shader's does not (both are measured at the
 * top of each class, where the skinny shader is at its least favourable). */
typedef enum vulkan_shape_class {
    VULKAN_SHAPE_GENERAL, /* M > 16 */
    VULKAN_SHAPE_ROWS_4,  /* M <= 4 */
    VULKAN_SHAPE_ROWS_16, /* 4 < M <= 16 */
    VULKAN_SHAPE_CLASSES
} vulkan_shape_class;

/* The epilogues of a matmul-like node. Each is a pipeline of its own (specialization constants), which the
 * driver compiles on its own, so each gets its own tile choice: a configuration fast for the plain matmul
 * may be slow with another epilogue (vulkan_matmul_choice.c). */
typedef enum vulkan_epilogue {
    VULKAN_EPILOGUE_NONE,       /* MATMUL */
    VULKAN_EPILOGUE_BIAS,       /* FUSED_MATMUL_ADD */
    VULKAN_EPILOGUE_GELU_EXACT, /* FUSED_MATMUL_ADD_GELU, FG_GELU_EXACT */
    VULKAN_EPILOGUE_GELU_TANH,  /* FUSED_MATMUL_ADD_GELU, FG_GELU_TANH */
    VULKAN_EPILOGUES
} vulkan_epilogue;

typedef struct vulkan_pipeline {
    vulkan_shader shader;
    uint32_t constants[VULKAN_CONSTANTS];
    VkPipeline pipeline;
} vulkan_pipeline_entry;

typedef struct vulkan_backend {
    const fg_backend_host *host;
    void *library; /* the dlopen'ed loader */
    vulkan_functions vk;
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties properties;
    uint32_t api_version;          /* the version in use: the lower of the instance's and the device's */
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    char driver[96];               /* driver name and version, for cache keys and `fusegraph info` */
    int has_16bit_storage;         /* f16 and bf16 storage (both widened to f32 in the shaders) */
    int has_cooperative;           /* the cooperative f16 shader can run here */
    /* matmul_workgroup.comp can run here in vulkan_workgroup_configs[i] (VK_NV_cooperative_matrix2 with a
     * workgroup-scope f16 configuration of that size) */
    unsigned char has_workgroup_config[VULKAN_WORKGROUP_CONFIG_COUNT];
    int has_workgroup_cooperative; /* in at least one of them */
    int has_subgroup_arithmetic;   /* subgroup arithmetic in compute shaders: the skinny shader can run here */
    int has_memory_budget;         /* VK_EXT_memory_budget */
    uint32_t subgroup_size;
    VkDeviceSize max_binding_bytes;    /* maxStorageBufferRange */
    VkDeviceSize max_allocation_bytes; /* maxMemoryAllocationSize */
    uint32_t device_memory_type, staging_memory_type, device_heap;
    double timestamp_seconds;      /* seconds per timestamp tick; 0 when the queue has no timestamps */

    VkCommandPool command_pool;
    vulkan_batch batches[VULKAN_BATCHES];
    int current_batch;
    VkQueryPool timestamps;

    vulkan_buffer staging;
    void *staging_mapped;

    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipeline_layout;
    VkShaderModule modules[VULKAN_SHADER_COUNT];
    vulkan_pipeline_entry *pipelines;
    int pipeline_count, pipeline_capacity;
    /* per fg_dtype, vulkan_epilogue, fg_weight_layout and vulkan_shape_class: an index into
     * vulkan_tile_configs, VULKAN_USE_COOPERATIVE, VULKAN_USE_SKINNY or a VULKAN_USE_WORKGROUP choice; -1 untuned */
    int tile_choice[3][VULKAN_EPILOGUES][2][VULKAN_SHAPE_CLASSES];
    /* 1 where tile_choice holds a default because nothing could be measured: used by this process, never
     * saved (the cache holds measurements only), replaced by another process's measurement on save */
    unsigned char tile_is_default[3][VULKAN_EPILOGUES][2][VULKAN_SHAPE_CLASSES];
    int forced_tile;     /* FUSEGRAPH_VULKAN_TILE: the tile choice of every matmul it applies to; -1 when not set */
    uint32_t shader_hash; /* of the embedded SPIR-V: cached tile choices are measurements of these shaders */

    fg_cost_figures figures;
    int lost;           /* VK_ERROR_DEVICE_LOST (or a hang): every later call fails, the CPU runs the rest */
    int measuring;      /* inside create's measurements: injected failures do not apply */
    pthread_mutex_t lock; /* one caller at a time in the entry points */
    char last_error[512];
} vulkan_backend;

/* vulkan_backend.c */
fg_status vulkan_fail(vulkan_backend *vulkan, fg_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* FG_OK for VK_SUCCESS; otherwise records "[vulkan op] call: VK_ERROR_..." and returns the status
 * (FG_ERR_OUT_OF_MEMORY for out-of-memory results); VK_ERROR_DEVICE_LOST marks the device lost. */
fg_status vulkan_check(vulkan_backend *vulkan, VkResult result, const char *op, const char *call);
const char *vulkan_result_name(VkResult result);
void vulkan_log(const vulkan_backend *vulkan, fg_log_level level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
const char *vulkan_setting(const vulkan_backend *vulkan, const char *name);
/* A file under the user's cache folder for this device, driver and set of shaders; "" when caching is off or
 * impossible. */
void vulkan_cache_path(const vulkan_backend *vulkan, const char *what, char *path, size_t capacity);

/* vulkan_instance.c: loads the loader (dlopen) and creates the instance; vulkan_device_open calls it. */
fg_status vulkan_instance_open(vulkan_backend *vulkan, char *reason, size_t capacity);
/* vulkan_device.c */
fg_status vulkan_device_open(vulkan_backend *vulkan, char *reason, size_t capacity);
void vulkan_device_close(vulkan_backend *vulkan);

/* vulkan_memory.c */
fg_status vulkan_buffer_create(vulkan_backend *vulkan, VkDeviceSize bytes, int staging, vulkan_buffer *out);
void vulkan_buffer_destroy(vulkan_backend *vulkan, vulkan_buffer *buffer);
fg_status vulkan_upload_locked(vulkan_backend *vulkan, vulkan_buffer *buffer, const void *host, size_t bytes);
fg_status vulkan_download_locked(vulkan_backend *vulkan, void *host, const vulkan_buffer *buffer, size_t bytes);
void vulkan_staging_destroy(vulkan_backend *vulkan);

/* vulkan_commands.c */
fg_status vulkan_commands_create(vulkan_backend *vulkan);
void vulkan_commands_destroy(vulkan_backend *vulkan);
/* The batch to record the next command into (begun; waits for it if it is still in flight), after a
 * barrier ordering that command after everything before it. Submits first when the batch is full. */
fg_status vulkan_next_command(vulkan_backend *vulkan, const char *op, vulkan_batch **out_batch);
/* Submits the batch being recorded, if any; with wait, waits for every batch in flight. */
fg_status vulkan_submit(vulkan_backend *vulkan, int wait, const char *op);
/* Times what is recorded between begin and end on the device (timestamps; host clock without them). */
fg_status vulkan_timing_begin(vulkan_backend *vulkan, double *host_start);
fg_status vulkan_timing_end(vulkan_backend *vulkan, double host_start, double *out_seconds);
double vulkan_now_seconds(void);

/* vulkan_pipelines.c */
fg_status vulkan_pipelines_create(vulkan_backend *vulkan);
void vulkan_pipelines_destroy(vulkan_backend *vulkan);
fg_status vulkan_get_pipeline(vulkan_backend *vulkan, vulkan_shader shader, const uint32_t constants[VULKAN_CONSTANTS],
                              const char *op, VkPipeline *out_pipeline);

/* vulkan_matmul_choice.c */
/* FUSEGRAPH_VULKAN_TILE as a tile choice, or -1 (read at create). */
int vulkan_forced_tile(const vulkan_backend *vulkan);
vulkan_epilogue vulkan_node_epilogue(const fg_node_desc *node);
vulkan_shape_class vulkan_node_shape_class(const fg_node_desc *node);
/* Whether choice may be used (and cached) for nodes of dtype, layout and shape class on this device. */
int vulkan_choice_possible(const vulkan_backend *vulkan, int choice, fg_dtype dtype, fg_weight_layout layout,
                           vulkan_shape_class shape_class);
/* The tile choice for a matmul-like node of dtype, epilogue, layout and shape class (measured on first use). */
int vulkan_tuned_tile(vulkan_backend *vulkan, fg_dtype dtype, vulkan_epilogue epilogue, fg_weight_layout layout,
                      vulkan_shape_class shape_class);
/* The choice node uses: FUSEGRAPH_VULKAN_TILE's where it applies to the node, else the tuned one; a tile
 * configuration steps down to smaller tiles when the output is too small to give the device enough
 * workgroups. */
int vulkan_tile_for_node(vulkan_backend *vulkan, const fg_node_desc *node);
/* Whether the cooperative (skinny) shader can run node. */
int vulkan_cooperative_applies(const vulkan_backend *vulkan, const fg_node_desc *node);
int vulkan_skinny_applies(const vulkan_backend *vulkan, const fg_node_desc *node);
/* The skinny shader's grid for node: output columns per workgroup and invocations per workgroup. */
void vulkan_skinny_grid(const vulkan_backend *vulkan, const fg_node_desc *node, uint32_t *out_columns, uint32_t *out_workgroup);

/* vulkan_dispatch.c */
/* Names of ops and dtypes ("fused_matmul_add_gelu", "f16"): the module links nothing of the core. */
const char *vulkan_op_name(fg_op op);
const char *vulkan_dtype_name(fg_dtype dtype);
int vulkan_supports_node(vulkan_backend *vulkan, const fg_node_desc *node, int log_reason);
/* Records node into the current batch (no injected failures, no lock: for run() and the measurements).
 * tile overrides the tile choice for matmul-like nodes when >= 0. */
fg_status vulkan_record_node(vulkan_backend *vulkan, const fg_node_desc *node, vulkan_buffer *const *inputs,
                             vulkan_buffer *output, int tile);
void vulkan_implementation_name(vulkan_backend *vulkan, const fg_node_desc *node, char *name, size_t capacity);
/* Seconds of one node on scratch buffers: one warm-up, then the best of repeats (device time); with
 * give_up_seconds > 0 it stops after the first timed run slower than that (a candidate that cannot win). */
fg_status vulkan_time_node(vulkan_backend *vulkan, const fg_node_desc *node, int tile, int repeats, double give_up_seconds,
                           double *out_seconds);

/* vulkan_costs.c */
void vulkan_costs_measure(vulkan_backend *vulkan);
/* Writes the figures and tile choices to the cache file (after a tuning on first use, too). */
void vulkan_costs_save(vulkan_backend *vulkan);

#endif /* FUSEGRAPH_VULKAN_BACKEND_H */
