/*
 * plan.h — a plan: the fused graph's nodes in execution order, the device chosen for each with every
 * candidate's estimate, and the constants kept resident on devices. Built by planner.c, run by
 * executor.c.
 */
#ifndef FUSEGRAPH_PLAN_H
#define FUSEGRAPH_PLAN_H

#include "context.h"
#include "graph.h"

/* Estimated seconds of one node on one device (see planner.c for the model). */
typedef struct fg_device_estimate {
    int supported;
    double compute, memory, launch, transfer, total;
    double measured; /* the backend's measured seconds on resident data (0: roofline estimate used) */
    double timed;         /* > 0: a close call, timed as a run moves the data (plan_measure.c); then total */
    double modeled_total; /* ... is timed, and this is what the model said */
    char implementation[96]; /* what the backend would run it with ("" when it has one way) */
} fg_device_estimate;

/* A close call's timing of a node on a device (plan_measure.c), for one pattern of transfers: the placement
 * passes see a node's inputs in different places (host memory, or already on the device). */
#define FG_TIMED_PATTERNS 4
typedef struct fg_timed_round_trip {
    unsigned pattern; /* 0: an empty slot */
    double seconds;   /* 0: could not be timed */
} fg_timed_round_trip;

typedef struct fg_plan_step {
    int graph_node;
    fg_node_desc desc;
    int device;
    fg_device_estimate estimates[FG_MAX_DEVICES];
    fg_timed_round_trip timed[FG_MAX_DEVICES][FG_TIMED_PATTERNS]; /* plan_measure.c's cache */
    char reason[192];
} fg_plan_step;

struct fg_plan {
    fg_context *context;
    const fg_graph *graph;
    fg_plan_options options;
    fg_plan_step *steps;
    int step_count;
    int *consumer_counts;                     /* per value: how many steps read it */
    void *(*resident)[FG_MAX_DEVICES];        /* per value, per device: a constant kept on that device */
    char *explanation;
    char placement_note[192]; /* "" or why the whole plan went to one device (planner.c) */
};

/* plan_measure.c: when some device's estimate is a close call, times the step there and on the CPU as a
 * run would move its data, given where its inputs are (locations: per value, a bit per device), and makes
 * those times the estimates' totals; when any of them cannot be timed, leaves every estimate to the model. */
void fg_plan_time_close_calls(const fg_plan *plan, fg_plan_step *step, const unsigned *locations);

/* Builds plan->explanation from the steps. */
fg_status fg_plan_build_explanation(fg_plan *plan);

/* Runs the plan (executor.c). Flags: FG_EXECUTE_OUTPUTS_TO_HOST copies outputs to the bindings (else they
 * stay where they were computed, for timing); FG_EXECUTE_NO_FINAL_SYNC skips synchronizing the devices
 * at the end, so back-to-back runs queue on the devices (timing only: the caller then synchronizes
 * before anything reads the results; stream-ordered backends reuse pooled buffers safely). */
enum { FG_EXECUTE_OUTPUTS_TO_HOST = 1, FG_EXECUTE_NO_FINAL_SYNC = 2 };
fg_status fg_plan_execute(fg_plan *plan, const fg_binding *inputs, int input_count, const fg_binding *outputs,
                          int output_count, int flags, int *out_fallbacks);

/* Bytes of a value of the plan's graph. */
size_t fg_plan_value_bytes(const fg_plan *plan, fg_value value);

#endif /* FUSEGRAPH_PLAN_H */
