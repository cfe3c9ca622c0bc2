/* `climp bench`: the benchmark suite shared by trainer/bench*.c. Kernels (selective scan, GEMM on
 * every backend, convolutions, norms, loss, AdamW), training steps, inference per tower, and
 * resolution / caption-length scaling; every figure with warm-up, repetitions, median, min, max,
 * stddev and the raw samples; % of the device's measured peak (clpeak-style calibration in
 * cl_kernels/calib.cl, cached per device) and the roofline bound; energy where a sensor exists;
 * one JSON schema with provenance (docs/bench.md).
 *   bench.c          command line, orchestration, timing and statistics, console tables
 *   bench_calib.c    peak FLOP/s and bandwidth calibration and its cache; energy meters
 *   bench_kernels.c  per-kernel cases at the models' real shapes
 *   bench_model.c    train / infer / scaling on whole models
 *   bench_flops.c    analytic FLOP counts (architecture.md §6) and the ViT-B/16 comparison
 *   bench_ref.c      the plain-C reference of every kernel case, timed on the same inputs
 *   bench_json.c     provenance, JSON helpers, the schema validator */
#ifndef CLIMP_BENCH_H
#define CLIMP_BENCH_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "model/config.h"
#include "runtime/climp_runtime.h"

/* 2: kernel objects gain "reference" and "speedup_vs_reference", settings gain "reference"
 * (docs/bench.md). The validator accepts every version from 1 on. */
#define CLIMP_BENCH_SCHEMA_VERSION 2
#define CLIMP_BENCH_MAX_LIST 16
#define CLIMP_BENCH_ENERGY_MAX 16

/* ------------------------------------------------------------------ options */
typedef struct climp_bench_opts {
    int do_kernels, do_train, do_infer, do_scaling;
    const char *json_path;   /* --json FILE or NULL */
    const char *device;      /* --device */
    const char *name;        /* --name: label of this run in comparisons */
    const char *filter;      /* --filter: only kernel cases whose name/model/shape contains it */
    int reps, warmup, quick, recalibrate, all_backends, recompute;
    int npresets;
    const char *presets[CLIMP_BENCH_MAX_LIST];
    int nbatch;
    int batch[CLIMP_BENCH_MAX_LIST];
    int image_size;          /* 0: per-preset default */
    int text_len;            /* 0: default */
    double scaling_budget_s; /* largest predicted seconds of one scaling point */
    int max_image_size, max_text_len;
    int argc;
    char **argv;
} climp_bench_opts;

/* ------------------------------------------------------------------ statistics */
typedef struct climp_bench_stats {
    int n, warmup, inner;  /* samples, warm-up runs, calls per sample (short kernels) */
    double median, min, max, mean, stddev; /* seconds per call */
    double samples[64];    /* raw seconds per call, n <= 64 */
    double energy_j;       /* joules over all timed calls (NAN when unavailable) */
    /* Process CPU time (user + system, all threads) per call: the median and minimum over the
     * samples, NAN where not measured. Time a hypervisor steals from the machine's vCPUs is in
     * the wall-clock samples but not here, so for work that keeps every thread busy (a CPU
     * driver's kernel) the two tell stolen time from a slow machine; it also counts threads
     * that spin while they wait, so it is no time-to-solution. */
    double cpu_median, cpu_min;
} climp_bench_stats;

/* ------------------------------------------------------------------ energy */
typedef struct climp_energy_meter {
    int kind;                  /* 0 none, 1 RAPL powercap, 2 NVML */
    char sensor[32];           /* "rapl", "nvml", "unavailable" */
    char scope[256];           /* what the sensor covers */
    char reason[256];          /* why unavailable */
    int ndom;
    char path[CLIMP_BENCH_ENERGY_MAX][160];
    double range_uj[CLIMP_BENCH_ENERGY_MAX];
    double start[CLIMP_BENCH_ENERGY_MAX];
    void *lib, *dev;           /* NVML */
    int (*nvml_energy)(void *dev, unsigned long long *mj);
    int (*nvml_shutdown)(void);
} climp_energy_meter;

void climp_energy_open(climp_energy_meter *m, const climp_device_info *d);
void climp_energy_close(climp_energy_meter *m);
void climp_energy_begin(climp_energy_meter *m);
/* Joules since climp_energy_begin (counter wrap-around handled); NAN when unavailable. */
double climp_energy_end(climp_energy_meter *m);
cJSON *climp_energy_json(const climp_energy_meter *m);

/* ------------------------------------------------------------------ calibration */
typedef struct climp_bench_peaks {
    double gflops;          /* best measured fp32 FLOP/s (FMA chains), GFLOP/s */
    double gflops_vw[5];    /* by vector width 1, 2, 4, 8, 16 */
    double gbps_copy, gbps_triad, gbps; /* GB/s (1e9 bytes/s); gbps = max of the two */
    double launch_us;       /* empty-kernel launch + finish latency, microseconds */
    double array_bytes;     /* bytes per array of the bandwidth test */
    int quick;              /* calibrated in quick mode (smaller, fewer repetitions) */
    int from_cache;
    char cache_file[1024];
    char date[40];
} climp_bench_peaks;

/* ------------------------------------------------------------------ one run */
typedef struct climp_bench {
    climp_bench_opts opt;
    climp_ctx *ctx;
    climp_bench_peaks peaks;
    climp_energy_meter energy;
    cJSON *root, *kernels, *train, *infer, *scaling, *errors;
    double min_sample_s; /* shortest sample before several calls are batched into one */
    climp_buffer *bw[3];  /* STREAM triad arrays of climp_bench_triad_now (made on first use) */
    size_t bw_floats;
    int bw_warm;
    int failures;        /* items that failed (other than out-of-memory in scaling) */
} climp_bench;

/* A benchmarked action: enqueue (or run) once; the harness calls climp_finish after it. */
typedef climp_status (*climp_bench_fn)(void *user);

/* Warm-up, then opt.reps samples of `inner` calls each (inner = 1 when allow_batching is 0, else
 * chosen so that a sample lasts >= min_sample_s), each sample ended by climp_finish. */
climp_status climp_bench_measure(climp_bench *b, climp_bench_fn fn, void *user,
                                 int allow_batching, climp_bench_stats *st);
/* One extra profiled call: per (kernel, op) rows of event time as a JSON array; *event_s is their
 * sum and *wall_s the call's wall time (profiling waits on every launch, so it is slower). */
climp_status climp_bench_profile_once(climp_bench *b, climp_bench_fn fn, void *user,
                                      cJSON **rows, double *event_s, double *wall_s);
void climp_bench_stats_finish(climp_bench_stats *st);
cJSON *climp_bench_stats_json(const climp_bench_stats *st);
/* Records a failed item in the "errors" array (and counts it unless `expected`). */
void climp_bench_error(climp_bench *b, const char *section, const char *item, climp_status s,
                       int expected);

climp_status climp_bench_calibrate(climp_bench *b);
/* One STREAM triad over arrays beyond the caches (64 MiB each; 16 MiB with --quick), timed
 * now: *gbps is the bandwidth the device gives at this moment. For figures paired with a kernel's
 * samples on a machine whose bandwidth drifts (trainer/bench_kernels.c, "bw_paired"). The arrays
 * stay until climp_bench_triad_free. */
climp_status climp_bench_triad_now(climp_bench *b, double *gbps);
void climp_bench_triad_free(climp_bench *b);
cJSON *climp_bench_peaks_json(const climp_bench_peaks *p);

/* Sections. */
climp_status climp_bench_kernels(climp_bench *b);
climp_status climp_bench_train(climp_bench *b);
climp_status climp_bench_infer(climp_bench *b);
climp_status climp_bench_scaling(climp_bench *b);

/* ------------------------------------------------------------------ FLOP counts (§6) */
/* fvcore-style components: one MAC counts 1; `scan` the selective-scan count of §6 (9 per state
 * element, plus the D skip and gate); `norm` LayerNorm 5 / RMSNorm 4 per element; `pool` 1 per
 * input element. Hardware FLOPs = 2 mac + scan + norm + pool. */
typedef struct climp_flops {
    double mac, scan, norm, pool;
} climp_flops;
double climp_flops_fvcore(const climp_flops *f);
double climp_flops_hw(const climp_flops *f);
void climp_flops_add(climp_flops *acc, const climp_flops *f, double times);
/* Vision tower forward for one H x W image: stem, stages, downsamples, final LayerNorm and pool;
 * plus a Linear C_last -> head_out (the CLIMP projection, or 1000 classes; 0 for none). */
void climp_flops_vision(const climp_vision_config *v, int H, int W, int head_out,
                        climp_flops *out);
/* Text tower forward for one caption of L tokens (all layers, norm_f) plus the projection to
 * embed_dim (0 for none). Mamba-1 and Mamba-2. */
void climp_flops_text(const climp_text_config *t, long L, int embed_dim, climp_flops *out);
/* Forward FLOPs (hardware convention) per image-caption pair of a CLIMP training step with batch
 * B: both towers, projections, and the B x B similarity of the loss. Training = 3 x forward. */
double climp_flops_pair_forward(const climp_config *c, int H, int W, long L, int B);
/* ViT-B/16 at H x W (patch 16, 12 layers, width 768, 12 heads, MLP 3072, class token, no head):
 * FLOPs, the fp32 bytes of one layer's attention matrix (heads x T^2), of all layers' attention
 * probabilities kept for backward, and estimates of the activations kept for training and of
 * the peak activations of inference (one layer's attention matrix plus 8 T x D tensors). */
typedef struct climp_vit_cost {
    int tokens;
    climp_flops flops;
    double attn_bytes_layer, attn_bytes_train, act_bytes_train, act_bytes_infer;
} climp_vit_cost;
void climp_flops_vit_b16(int H, int W, climp_vit_cost *out);

/* ------------------------------------------------------------------ plain-C references */
/* bench_ref.c: every kernel case also times its plain-C reference (model/ *_ref.c,
 * runtime/gemm_ref.c) on the same shape and inputs: host copies of the case's device views, one
 * thread, one warm-up then the repetitions (short calls batched like the device's), within a
 * per-call time budget. Kinds name the reference; the views v[] come in the order below. */
typedef enum climp_bench_ref_kind {
    CLIMP_BREF_NONE = 0,
    CLIMP_BREF_SCAN_FWD,  /* shape: climp_scan_shape; u dt A Bm Cm D bias z out */
    CLIMP_BREF_SCAN_BWD,  /* ... then dout du ddt dA dBm dCm dD dbias dz (z, dz empty: no gate) */
    CLIMP_BREF_GEMM,      /* shape: climp_gemm_desc; A B C */
    CLIMP_BREF_CONV1D_F,  /* the bench's op cases: views as the launcher call in bench_kernels.c */
    CLIMP_BREF_CONV1D_B,
    CLIMP_BREF_DW_F,
    CLIMP_BREF_DW_B,
    CLIMP_BREF_C3S2_F,
    CLIMP_BREF_C3S2_B,
    CLIMP_BREF_LN_F,
    CLIMP_BREF_LN_B,
    CLIMP_BREF_RMS_F,
    CLIMP_BREF_RMS_B,
    CLIMP_BREF_NCE_F,
    CLIMP_BREF_NCE_B,
    CLIMP_BREF_ADAMW,     /* seg: climp_adamw_segment (one), hp: climp_adamw_hparams */
    CLIMP_BREF_SILU_F,
    CLIMP_BREF_XSCAN_F
} climp_bench_ref_kind;

#define CLIMP_BENCH_REF_VIEWS 18
typedef struct climp_bench_ref_case {
    climp_bench_ref_kind kind;
    int B, L, H, W, C, K, Cin, Cout, rows; /* as the launcher takes them */
    size_t n;
    const void *shape;    /* climp_scan_shape (scan) or climp_gemm_desc (gemm) */
    const void *seg, *hp; /* AdamW */
    climp_tview v[CLIMP_BENCH_REF_VIEWS];
} climp_bench_ref_case;

/* Command-line options of the references, for bench.c's parser: --reference, --no-reference,
 * --reference-budget SEC. Returns 1 when argv[*i] was one of them (and advances *i past a value);
 * a bad value prints one line and exits 2, like the other options. */
int climp_bench_ref_option(int argc, char **argv, int *i);
/* Whether references run (default on; --no-reference turns them off) and the per-call budget in
 * seconds (default 30, --quick 0.25). */
int climp_bench_ref_enabled(const climp_bench *b);
double climp_bench_ref_budget(const climp_bench *b);
/* The settings block ("reference" in "settings"): enabled, budget, threads, build flags. */
cJSON *climp_bench_ref_settings_json(const climp_bench *b);
/* Times the reference of one case after its device measurement and adds "reference" and
 * "speedup_vs_reference" (= reference median / device_median_s, null when not run) to the kernel
 * object o. name is the case's kernel name (the predictor keeps one rate per name); key its
 * "<name> <model> <shape>": consecutive calls with the same key (the variants of one case, e.g.
 * the GEMM backends) share one measurement. Returns the reference median in seconds, or NAN when
 * it did not run (off, skipped, failed). */
double climp_bench_reference(climp_bench *b, const char *name, const char *key,
                             const climp_bench_ref_case *rc, double flops, double bytes,
                             double device_median_s, cJSON *o);
/* Forget the per-name rates of the predictor (start of a kernels section). */
void climp_bench_ref_reset(void);

/* ------------------------------------------------------------------ JSON */
cJSON *climp_bench_provenance(const climp_bench *b);
cJSON *climp_bench_device_json(const climp_bench *b);
/* Writes the document atomically (temporary file, rename). */
climp_status climp_bench_write_json(const cJSON *root, const char *path);
/* Checks a document against the schema of docs/bench.md. Returns 0 when valid, else 1 with the
 * first problem in err. */
int climp_bench_validate(const char *json_text, char *err, size_t err_size);
/* cJSON helpers that never return NULL items silently. */
void climp_json_num(cJSON *o, const char *key, double v); /* non-finite -> null */
void climp_json_str(cJSON *o, const char *key, const char *v);
/* Seconds since the epoch as ISO 8601 UTC. */
void climp_bench_now_iso(char *out, size_t n);

#endif
