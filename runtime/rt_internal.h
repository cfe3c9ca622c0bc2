/* Private to runtime/: the OpenCL-typed structs behind the opaque handles of climp_runtime.h. */
#ifndef CLIMP_RT_INTERNAL_H
#define CLIMP_RT_INTERNAL_H

#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <CL/cl_ext.h>
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif
#include <pthread.h>

#include "runtime/climp_runtime.h"

struct climp_buffer {
    climp_ctx *ctx;
    cl_mem mem;
    size_t bytes;
    char name[64];
};

typedef struct rt_program {
    char *source_name;
    char *defines;
    cl_program prog;
    struct rt_program *next;
    char *prefix; /* served by a kernel bundle: kernel names carry this prefix there, else NULL */
} rt_program;

struct climp_kernel {
    rt_program *program;
    char *name;
    cl_kernel k;
    int prof_index; /* row in the profiler table */
    struct climp_kernel *next;
};

typedef struct rt_prof_row {
    char kernel[96];
    char label[96];
    long calls;
    double seconds;
} rt_prof_row;

struct climp_ctx {
    climp_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    int binary_only;
    char *binary_dir;
    int fpga_variant;
    rt_program *programs;
    climp_kernel *kernels;
    climp_counters counters;
    uint64_t mem_current, mem_peak;
    /* profiler */
    int profile;
    int sync_launches; /* $CLIMP_SYNC=1: finish after every launch (debugging) */
    char label[96];
    rt_prof_row *prof;
    int prof_n, prof_cap;
    /* GEMM state (runtime/gemm.c) */
    void *gemm_state;
    /* Tuning table (runtime/tune.c), loaded on first lookup */
    void *tune_state;
    /* Kernel bundle of the binary folder (runtime/program.c), read on the first program load */
    void *bundle_state;
    pthread_mutex_t lock;
};

/* Error helper: records a detail line for an OpenCL failure and returns the code. */
climp_status rt_cl(cl_int err, const char *what);
/* Build-option string used for every program (no fast-math). */
const char *rt_build_options(void);
/* Embedded or on-disk source text for a name (NULL if none); *len receives its length. */
const char *rt_source_text(const char *name, size_t *len, char **owned);

/* Offline binaries (runtime/program.c): a binary file written by climp (magic, key, size, the
 * driver's binary) read back when its key matches (NULL otherwise); a program built from it. */
unsigned char *rt_read_binary_file(const char *path, uint64_t key, size_t *n);
climp_status rt_build_from_binary(climp_ctx *ctx, const unsigned char *bin, size_t n,
                                  cl_program *out);
/* Kernel bundles (runtime/program_bundle.c): program (source, defines) of text key `key` from the
 * binary folder's bundle.map: *out a reference to the one bundle program and *prefix its
 * kernel-name prefix, or *out NULL when the bundle does not list it. rt_bundle_free at close. */
climp_status rt_bundle_get(climp_ctx *ctx, const char *source, const char *defines, uint64_t key,
                           cl_program *out, char **prefix);
void rt_bundle_free(climp_ctx *ctx);

/* Profiler: attribute host-side work (host-BLAS GEMM) to a row like a kernel launch. */
void rt_prof_add(climp_ctx *ctx, const char *kernel, double seconds);

/* GEMM backend hook (runtime/gemm.c), called by climp_ctx_close. */
void rt_gemm_release(climp_ctx *ctx);
/* Tuning table hook (runtime/tune.c), called by climp_ctx_close. */
void rt_tune_release(climp_ctx *ctx);

#endif
