/* climp runtime: the only layer that sees OpenCL. Devices, contexts and queues, program JIT with
 * in-memory and on-disk binary caches, offline binaries, buffers and the activation arena, kernel
 * launch, GEMM dispatch, the profiler, status codes and logging.
 * model/ and trainer/ include this header and never <CL/cl.h>. Implementation: the .c files of runtime/. */
#ifndef CLIMP_RUNTIME_H
#define CLIMP_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */
/* One status type. 0 is success; negative OpenCL codes (-1 .. -1100) pass through unchanged and
 * print by name; the project's own codes sit in -9000 .. -9099, a band OpenCL never uses. */
typedef int climp_status;

enum {
    CLIMP_OK = 0,
    CLIMP_ERR_INVALID_ARG = -9001,      /* a bad argument (NULL, negative size, bad enum) */
    CLIMP_ERR_SHAPE = -9002,            /* tensor shapes do not agree */
    CLIMP_ERR_BUFFER_TOO_SMALL = -9003, /* a view is smaller than the shape needs */
    CLIMP_ERR_NO_PLATFORM = -9004,      /* the ICD loader found no OpenCL platform */
    CLIMP_ERR_NO_DEVICE = -9005,        /* a platform exists but has no device */
    CLIMP_ERR_DEVICE_NOT_FOUND = -9006, /* --device matched nothing or the index is out of range */
    CLIMP_ERR_HOST_OOM = -9007,         /* host malloc failed */
    CLIMP_ERR_IO = -9008,               /* a file could not be opened, read or written */
    CLIMP_ERR_FORMAT = -9009,           /* a file is malformed (checkpoint, tokenizer, data) */
    CLIMP_ERR_BUILD = -9010,            /* a kernel failed to compile (the log was printed) */
    CLIMP_ERR_NO_BINARY = -9011,        /* binary-only mode and no usable binary for a program */
    CLIMP_ERR_NO_KERNEL_SOURCE = -9012, /* no embedded or on-disk .cl source of that name */
    CLIMP_ERR_UNSUPPORTED = -9013,      /* the device or build lacks a needed feature */
    CLIMP_ERR_NOT_FINITE = -9014,       /* NaN or Inf where a finite value is required */
    CLIMP_ERR_ARENA_FULL = -9015,       /* the activation arena is too small */
    CLIMP_ERR_DEVICE_OOM = -9016,       /* the device refused an allocation */
    CLIMP_ERR_CORRUPT = -9017,          /* a checksum did not match */
    CLIMP_ERR_INTERRUPTED = -9018,      /* stopped by a signal */
    CLIMP_ERR_USAGE = -9019,            /* bad command line */
    CLIMP_ERR_NAME_MAX_ = -9020         /* one past the last; keep last */
};

/* Name of any status: "CL_OUT_OF_RESOURCES", "CLIMP_ERR_SHAPE", "CL_PLATFORM_NOT_FOUND_KHR"...
 * Unknown codes give "UNKNOWN_STATUS(<n>)" in a static buffer per thread. */
const char *climp_status_name(climp_status s);
/* Iterate all known names (for the uniqueness test): returns 0 when i is past the end. */
int climp_status_table(int i, climp_status *code, const char **name);

/* Detail for the last error on this thread: a file name, a shape, a build log pointer... */
void climp_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *climp_error_detail(void);
void climp_error_clear(void);

/* Library code returns the status; tools and tests abort. Both carry the call text and place. */
#define CLIMP_TRY(expr)                                                                     \
    do {                                                                                    \
        climp_status climp_s_ = (expr);                                                     \
        if (climp_s_ != CLIMP_OK) {                                                         \
            climp_trace(climp_s_, #expr, __FILE__, __LINE__);                               \
            return climp_s_;                                                                \
        }                                                                                   \
    } while (0)
#define CLIMP_CHECK(expr)                                                                   \
    do {                                                                                    \
        climp_status climp_s_ = (expr);                                                     \
        if (climp_s_ != CLIMP_OK) climp_die(climp_s_, #expr, __FILE__, __LINE__);          \
    } while (0)
void climp_trace(climp_status s, const char *expr, const char *file, int line);
void climp_die(climp_status s, const char *expr, const char *file, int line)
    __attribute__((noreturn));

/* ---------------------------------------------------------------- logging */
enum { CLIMP_LOG_ERROR = 0, CLIMP_LOG_WARN = 1, CLIMP_LOG_INFO = 2, CLIMP_LOG_DEBUG = 3 };
void climp_log_set_level(int level); /* default INFO; CLIMP_LOG=debug|info|warn|error */
int climp_log_level(void);
void climp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- devices */
typedef struct climp_device_info {
    int platform_index, device_index;
    char platform_name[128], platform_version[128], platform_vendor[128];
    char name[256], vendor[128], driver_version[128], device_version[128], opencl_c_version[128];
    char type[32]; /* "CPU", "GPU", "ACCELERATOR", "CUSTOM", "DEFAULT" */
    int is_cpu, is_gpu, is_accelerator;
    unsigned compute_units, clock_mhz;
    uint64_t global_mem_bytes, local_mem_bytes, max_alloc_bytes;
    uint64_t global_mem_cache_bytes; /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE (0: none reported) */
    size_t max_work_group_size;
    int fp16, fp64, subgroups, compiler_available, host_unified_memory;
    unsigned vector_width_float; /* preferred float vector width */
    double peak_gflops;          /* estimated: CUs x clock x lanes x 2 (FMA); see runtime/device.c */
    double peak_gbps;            /* estimated from memory clock/bus when the driver reports it */
    char peak_note[160];         /* how the two estimates were made */
} climp_device_info;

/* Enumerate every device of every platform. *out is malloc'ed (free with free()). */
climp_status climp_devices_list(climp_device_info **out, int *count);

typedef struct climp_ctx climp_ctx; /* one device: context, in-order queue, caches, profiler */

typedef struct climp_ctx_options {
    const char *device;          /* "P:D", substring of vendor/name, or NULL: $CLIMP_DEVICE or 0:0 */
    const char *kernel_binaries; /* folder of offline binaries, or NULL: $CLIMP_KERNEL_BINARIES */
    const char *kernel_variant;  /* "ndrange" | "fpga" | NULL (auto: fpga on ACCELERATOR) */
    int profile;                 /* time every launch with events */
} climp_ctx_options;

climp_status climp_ctx_open(const climp_ctx_options *opt, climp_ctx **out);
void climp_ctx_close(climp_ctx *ctx); /* NULL ok */
const climp_device_info *climp_ctx_info(const climp_ctx *ctx);
climp_status climp_finish(climp_ctx *ctx); /* wait for everything enqueued */
/* "fpga" when the FPGA-style kernel variants are selected, else "ndrange". */
const char *climp_ctx_variant(const climp_ctx *ctx);

/* ---------------------------------------------------------------- programs and kernels */
/* A program is a cl_kernels/<source>.cl file plus a prologue of defines. `defines` is a list of
 * "NAME=VALUE" (or "NAME") separated by spaces; the host writes them as #define lines in front of
 * the source. Programs are cached in memory per (source, defines) and on disk as binaries keyed by
 * source hash, defines, build options, platform, device and driver version. */
typedef struct climp_kernel climp_kernel;
climp_status climp_kernel_get(climp_ctx *ctx, const char *source, const char *defines,
                              const char *kernel_name, climp_kernel **out);
const char *climp_kernel_name(const climp_kernel *k);

typedef struct climp_counters {
    long source_compiles; /* clBuildProgram from source */
    long binary_loads;    /* programs created from a cached or offline binary */
    long launches;
} climp_counters;
climp_counters climp_ctx_counters(const climp_ctx *ctx);

/* ---------------------------------------------------------------- buffers and views */
typedef struct climp_buffer climp_buffer;

/* A float view into a buffer: `off` and `n` count floats (4-byte elements; int32 data such as
 * token ids use the same 4-byte unit). n is what the view may touch; launchers check it. */
typedef struct climp_tview {
    climp_buffer *buf;
    size_t off;
    size_t n;
} climp_tview;

climp_status climp_buffer_create(climp_ctx *ctx, const char *name, size_t bytes,
                                 climp_buffer **out);
void climp_buffer_destroy(climp_buffer *b); /* NULL ok */
size_t climp_buffer_bytes(const climp_buffer *b);
const char *climp_buffer_name(const climp_buffer *b);
climp_tview climp_buffer_view(climp_buffer *b); /* the whole buffer as floats */
climp_tview climp_view_sub(climp_tview v, size_t off, size_t n); /* sub-view (clamped n=0 if out) */

/* Named, explicit transfers (blocking). Offsets and sizes in bytes. */
climp_status climp_buffer_write(climp_ctx *ctx, climp_buffer *b, size_t off, size_t bytes,
                                const void *src);
climp_status climp_buffer_read(climp_ctx *ctx, const climp_buffer *b, size_t off, size_t bytes,
                               void *dst);
climp_status climp_buffer_copy(climp_ctx *ctx, const climp_buffer *src, size_t src_off,
                               climp_buffer *dst, size_t dst_off, size_t bytes);
climp_status climp_buffer_fill_zero(climp_ctx *ctx, climp_buffer *b, size_t off, size_t bytes);
/* View helpers in floats. */
climp_status climp_view_write(climp_ctx *ctx, climp_tview v, const float *src, size_t n);
climp_status climp_view_read(climp_ctx *ctx, climp_tview v, float *dst, size_t n);
climp_status climp_view_zero(climp_ctx *ctx, climp_tview v);

/* Host access to several views at once, for native host paths on CPU devices (the host-BLAS
 * GEMM): add each view with the floats it spans, map (blocking: the queue is drained first), use
 * climp_hostmap_ptr, unmap. Views of one buffer share one mapping over the union of their ranges
 * (no byte is mapped twice, which OpenCL leaves undefined for writes). */
#define CLIMP_HOSTMAP_MAX 8
typedef struct climp_hostmap {
    int n, mapped;
    struct climp_hostmap_region {
        climp_buffer *buf;
        size_t lo, hi; /* bytes */
        int write;
        char *ptr; /* host address of byte lo once mapped */
    } r[CLIMP_HOSTMAP_MAX];
} climp_hostmap;
/* Adds view v's first n floats (write: the host will write them). A view without a buffer is
 * ignored. CLIMP_ERR_INVALID_ARG when more than CLIMP_HOSTMAP_MAX buffers are added. */
climp_status climp_hostmap_add(climp_hostmap *m, climp_tview v, size_t n, int write);
climp_status climp_hostmap_map(climp_ctx *ctx, climp_hostmap *m, const char *what);
float *climp_hostmap_ptr(const climp_hostmap *m, climp_tview v); /* NULL if v was not added */
/* Unmaps whatever was mapped (also after a failed map); returns the first error. */
climp_status climp_hostmap_unmap(climp_ctx *ctx, climp_hostmap *m);

/* Device memory accounting (every buffer_create / destroy). */
uint64_t climp_ctx_mem_current(const climp_ctx *ctx);
uint64_t climp_ctx_mem_peak(const climp_ctx *ctx);
void climp_ctx_mem_reset_peak(climp_ctx *ctx);

/* Arena: one buffer, bump allocation in floats (64-float aligned), mark/reset, peak use.
 * Created with bytes = 0 it only counts (a sizing pass), then climp_arena_reserve allocates. */
typedef struct climp_arena climp_arena;
climp_status climp_arena_create(climp_ctx *ctx, const char *name, size_t bytes,
                                climp_arena **out);
void climp_arena_destroy(climp_arena *a);
climp_status climp_arena_alloc(climp_arena *a, size_t n_floats, climp_tview *out);
size_t climp_arena_mark(const climp_arena *a);
void climp_arena_reset(climp_arena *a, size_t mark);
size_t climp_arena_peak_bytes(const climp_arena *a);
size_t climp_arena_capacity_bytes(const climp_arena *a);
/* Sizing mode: allocations never fail and return views with buf = NULL; the peak is tracked.
 * A dry pass in this mode followed by climp_arena_reserve(a, 0) sizes the arena up front. */
void climp_arena_set_sizing(climp_arena *a, int on);
/* Allocate (or grow to) max(bytes, peak seen so far); invalidates views handed out before. */
climp_status climp_arena_reserve(climp_arena *a, size_t bytes);

/* ---------------------------------------------------------------- launch */
/* Kernel arguments. A view becomes TWO OpenCL arguments: `__global float *x, const ulong x_off`
 * (the kernel indexes x[x_off + i]); every kernel follows that convention for every buffer. */
enum { CLIMP_KARG_VIEW, CLIMP_KARG_I32, CLIMP_KARG_U64, CLIMP_KARG_F32, CLIMP_KARG_LOCAL };
typedef struct climp_karg {
    int kind;
    climp_tview view;
    int32_t i32;
    uint64_t u64;
    float f32;
    size_t local_bytes;
} climp_karg;
static inline climp_karg climp_arg_view(climp_tview v) { climp_karg a = {CLIMP_KARG_VIEW, v, 0, 0, 0, 0}; return a; }
static inline climp_karg climp_arg_i32(int32_t x) { climp_karg a = {CLIMP_KARG_I32, {0, 0, 0}, x, 0, 0, 0}; return a; }
static inline climp_karg climp_arg_u64(uint64_t x) { climp_karg a = {CLIMP_KARG_U64, {0, 0, 0}, 0, x, 0, 0}; return a; }
static inline climp_karg climp_arg_f32(float x) { climp_karg a = {CLIMP_KARG_F32, {0, 0, 0}, 0, 0, x, 0}; return a; }
static inline climp_karg climp_arg_local(size_t bytes) { climp_karg a = {CLIMP_KARG_LOCAL, {0, 0, 0}, 0, 0, 0, bytes}; return a; }

/* Enqueue on the context's in-order queue. gws is rounded up to a multiple of lws by the caller's
 * choice: kernels guard their own bounds. lws may be NULL. Returns without waiting. */
climp_status climp_launch(climp_ctx *ctx, climp_kernel *k, int work_dim, const size_t *gws,
                          const size_t *lws, int nargs, const climp_karg *args);
#define CLIMP_LAUNCH(ctx, k, dim, gws, lws, ...)                                             \
    climp_launch((ctx), (k), (dim), (gws), (lws),                                            \
                 (int)(sizeof((climp_karg[]){__VA_ARGS__}) / sizeof(climp_karg)),             \
                 (climp_karg[]){__VA_ARGS__})
/* Round n up to a multiple of m. */
static inline size_t climp_round_up(size_t n, size_t m) { return m ? (n + m - 1) / m * m : n; }

/* ---------------------------------------------------------------- GEMM */
/* Row-major: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch, with op(A) (M, K),
 * op(B) (K, N), C (M, N); op transposes when trans_* is set (then A is stored (K, M) etc.).
 * lda/ldb/ldc are row strides of the stored matrices; stride_* the batch strides, in floats.
 * A Linear y = x W^T is {M=tokens, N=out, K=in, trans_b=1}. */
typedef enum {
    CLIMP_GEMM_AUTO = 0,
    CLIMP_GEMM_HOSTBLAS, /* OpenBLAS on mapped buffers (CPU devices with host-unified memory) */
    CLIMP_GEMM_CLBLAST,
    CLIMP_GEMM_TILED /* the project's own OpenCL kernel (cl_kernels/gemm.cl) */
} climp_gemm_backend;
typedef struct climp_gemm_desc {
    int trans_a, trans_b;
    int M, N, K;
    float alpha, beta;
    int lda, ldb, ldc;
    int batch;
    size_t stride_a, stride_b, stride_c;
} climp_gemm_desc;
climp_status climp_gemm(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A, climp_tview B,
                        climp_tview C);
/* Same, forcing a backend (tests and benchmarks). */
climp_status climp_gemm_with(climp_ctx *ctx, climp_gemm_backend be, const climp_gemm_desc *d,
                             climp_tview A, climp_tview B, climp_tview C);
const char *climp_gemm_backend_name(climp_gemm_backend be);
/* Which backend AUTO picks for this context and shape ($CLIMP_GEMM=hostblas|clblast|tiled wins). */
climp_gemm_backend climp_gemm_choose(climp_ctx *ctx, const climp_gemm_desc *d);
int climp_gemm_backend_available(climp_ctx *ctx, climp_gemm_backend be);

/* ---------------------------------------------------------------- profiler */
void climp_profile_enable(climp_ctx *ctx, int on);
/* Attribute following launches to an op label (e.g. "vmamba.ss2d.scan"); NULL clears. */
void climp_profile_label(climp_ctx *ctx, const char *label);
void climp_profile_print(climp_ctx *ctx, FILE *f);
climp_status climp_profile_write_json(climp_ctx *ctx, const char *path);
void climp_profile_reset(climp_ctx *ctx);

/* ---------------------------------------------------------------- offline binaries */
/* Build every program that has been requested so far (or all registered ones) and write binaries
 * plus a manifest into dir. */
climp_status climp_write_kernel_binaries(climp_ctx *ctx, const char *dir);
/* Names of embedded kernel sources: returns NULL past the end. */
const char *climp_kernel_source_name(int i);
/* The exact text climp builds for program (source, defines): the #define prologue, "#line 1",
 * then the source; malloc'd (caller frees), NULL without such a source or memory. *key receives
 * its offline-binary key, the <key> of `<source>-<key>.bin` (docs/fpga.md, section 3). */
char *climp_program_text(const char *source, const char *defines, uint64_t *key);
/* Builds a whole program text (used as is: no prologue) on the context's device with climp's build
 * options and writes its binary in the offline-binary format as DIR/<stem>-<key>.bin, key as
 * climp_program_text computes it from the text; `file` (cap bytes) receives the file name. A
 * failed build prints the build log and returns CLIMP_ERR_BUILD. Kernel bundles: a folder's
 * bundle.map maps programs to one such binary (trainer/bundle.c writes both). */
climp_status climp_build_binary(climp_ctx *ctx, const char *text, const char *dir,
                                const char *stem, char *file, size_t cap);

/* ---------------------------------------------------------------- tuning table
 * Kernel tunables that `climp tune` measured best for a device, in a JSON file keyed by device
 * name and driver version ($CLIMP_TUNING_FILE, else <cache dir>/tuning.json), over shipped
 * defaults compiled into runtime/tune.c. Keys are "<op>.<param>" with an optional shape class
 * after '@' ("scan.cb@N1", "gemm.tile@K64"); lookups fall back from the full key to the key
 * without its shape class, then to `fallback`. $CLIMP_TUNING=off ignores every table (the
 * built-in heuristics of each launcher apply). The table is loaded once per context. */
int climp_tune_int(climp_ctx *ctx, const char *key, int fallback);
/* Entries in effect for this context (for provenance): count, and the i-th key and value. */
int climp_tune_count(climp_ctx *ctx);
const char *climp_tune_entry(climp_ctx *ctx, int i, int *value);
/* The tuning file read and written for every device. */
const char *climp_tune_path(void);
/* Sets an entry of this context only, in memory (nothing is written; `climp tune` tries its
 * candidates this way); it applies even with $CLIMP_TUNING=off. CLIMP_ERR_INVALID_ARG for an
 * empty key, one of 64 characters or more, or one with spaces, quotes or backslashes. */
climp_status climp_tune_set(climp_ctx *ctx, const char *key, int value);
/* Forgets every entry of this context (shipped, file and set ones): the heuristics apply. */
void climp_tune_clear(climp_ctx *ctx);
/* Merges n key/value pairs into the tuning file's entry for this context's device and driver
 * version (other entries are kept; a malformed file is replaced, with a warning), atomically
 * (temporary file in the same folder, then rename), and sets them in this context. */
climp_status climp_tune_save(climp_ctx *ctx, const char *const *keys, const int *values, int n);
/* Shape class of a GEMM in tuning keys ("gemm.backend@<class>", "gemm.tiled.<param>@<class>"):
 * "S" (M*N*K < 2^24), "M" (< 2^28) or "L", with "t" appended when trans_a is set. */
const char *climp_gemm_tune_class(const climp_gemm_desc *d);
/* 0 when the table's gemm.tiled.* values for d's class cannot run on this device (private or
 * local memory, work-group size), so the rule's tiles would be used instead; else 1. */
int climp_gemm_tiled_tuning_usable(climp_ctx *ctx, const climp_gemm_desc *d);

/* ---------------------------------------------------------------- misc */
double climp_now_seconds(void); /* monotonic */
/* A whole file as a NUL-terminated buffer (free with free()), or NULL when it cannot be read or
 * is larger than max_bytes (0: no limit); *len (may be NULL) receives its length. */
char *climp_read_file(const char *path, size_t max_bytes, size_t *len);
/* Default cache folder: $CLIMP_CACHE_DIR, else $XDG_CACHE_HOME/climp, else ~/.cache/climp. */
const char *climp_cache_dir(void);

#ifdef __cplusplus
}
#endif
#endif
