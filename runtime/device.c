/* Platform/device enumeration through the ICD loader, device description and peak estimates,
 * device selection ("P:D", name substring, $CLIMP_DEVICE) and context open/close. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/rt_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CL_DEVICE_HOST_UNIFIED_MEMORY
#define CL_DEVICE_HOST_UNIFIED_MEMORY 0x1035
#endif

/* Case-insensitive substring test (strcasestr is a GNU extension). */
static int icontains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return n == 0;
}

climp_status rt_cl(cl_int err, const char *what) {
    if (err == CL_SUCCESS) return CLIMP_OK;
    climp_error_set("%s: %s", what, climp_status_name(err));
    return err;
}

static void dev_str(cl_device_id d, cl_device_info p, char *dst, size_t n) {
    dst[0] = 0;
    if (clGetDeviceInfo(d, p, n, dst, NULL) != CL_SUCCESS) dst[0] = 0;
    dst[n - 1] = 0;
}

static void plat_str(cl_platform_id pl, cl_platform_info p, char *dst, size_t n) {
    dst[0] = 0;
    if (clGetPlatformInfo(pl, p, n, dst, NULL) != CL_SUCCESS) dst[0] = 0;
    dst[n - 1] = 0;
}

static int has_ext(cl_device_id d, const char *ext) {
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || !n) return 0;
    char *s = malloc(n + 1);
    if (!s) return 0;
    int found = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = 0;
        found = strstr(s, ext) != NULL;
    }
    free(s);
    return found;
}

/* Known memory bandwidths (GB/s); OpenCL does not report memory clock or bus width. */
static const struct { const char *substr; double gbps; } k_bandwidth[] = {
    {"H200", 4800}, {"H100", 3350}, {"A100", 2039}, {"V100", 900}, {"RTX 4090", 1008},
    {"RTX 3090", 936}, {"MI300", 5300}, {"MI250", 3277}, {"MI210", 1638}, {"gfx1100", 960},
    {"Arc(TM) A770", 560}, {"Max 1550", 3276},
};

static void estimate_peaks(climp_device_info *in) {
    /* FLOP/s: compute units x clock x fp32 lanes per unit x 2 (one FMA = 2 flops). */
    double lanes;
    const char *how;
    if (in->is_cpu) {
        lanes = (in->vector_width_float ? in->vector_width_float : 4) * 2.0;
        how = "CPU: threads x clock x native float vector width x 2 FMA pipes x 2";
    } else if (icontains(in->vendor, "nvidia")) {
        lanes = 128;
        how = "NVIDIA: SMs x clock x 128 lanes x 2";
    } else if (icontains(in->vendor, "advanced micro") || icontains(in->vendor, "amd")) {
        lanes = 64;
        how = "AMD: CUs x clock x 64 lanes x 2";
    } else if (icontains(in->vendor, "intel")) {
        lanes = 8;
        how = "Intel GPU: EUs x clock x 8 lanes x 2";
    } else {
        lanes = 1;
        how = "unknown vendor: CUs x clock x 2 (lower bound)";
    }
    in->peak_gflops = in->compute_units * (double)in->clock_mhz * lanes * 2.0 / 1000.0;
    in->peak_gbps = 0;
    for (size_t i = 0; i < sizeof(k_bandwidth) / sizeof(k_bandwidth[0]); i++)
        if (strstr(in->name, k_bandwidth[i].substr)) in->peak_gbps = k_bandwidth[i].gbps;
    snprintf(in->peak_note, sizeof(in->peak_note), "%s; GB/s %s", how,
             in->peak_gbps > 0 ? "from a table of known boards"
                               : "not reported by OpenCL (climp bench measures it)");
}

static void fill_info(cl_platform_id pl, cl_device_id d, int pi, int di, climp_device_info *in) {
    memset(in, 0, sizeof(*in));
    in->platform_index = pi;
    in->device_index = di;
    plat_str(pl, CL_PLATFORM_NAME, in->platform_name, sizeof(in->platform_name));
    plat_str(pl, CL_PLATFORM_VERSION, in->platform_version, sizeof(in->platform_version));
    plat_str(pl, CL_PLATFORM_VENDOR, in->platform_vendor, sizeof(in->platform_vendor));
    dev_str(d, CL_DEVICE_NAME, in->name, sizeof(in->name));
    dev_str(d, CL_DEVICE_VENDOR, in->vendor, sizeof(in->vendor));
    dev_str(d, CL_DRIVER_VERSION, in->driver_version, sizeof(in->driver_version));
    dev_str(d, CL_DEVICE_VERSION, in->device_version, sizeof(in->device_version));
    dev_str(d, CL_DEVICE_OPENCL_C_VERSION, in->opencl_c_version, sizeof(in->opencl_c_version));
    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(t), &t, NULL);
    in->is_cpu = (t & CL_DEVICE_TYPE_CPU) != 0;
    in->is_gpu = (t & CL_DEVICE_TYPE_GPU) != 0;
    in->is_accelerator = (t & CL_DEVICE_TYPE_ACCELERATOR) != 0;
    snprintf(in->type, sizeof(in->type), "%s",
             in->is_gpu ? "GPU" : in->is_cpu ? "CPU" : in->is_accelerator ? "ACCELERATOR"
             : (t & CL_DEVICE_TYPE_CUSTOM) ? "CUSTOM" : "DEFAULT");
    cl_uint u = 0;
    cl_ulong ul = 0;
    size_t sz = 0;
    cl_bool b = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(u), &u, NULL) == CL_SUCCESS)
        in->compute_units = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof(u), &u, NULL) == CL_SUCCESS)
        in->clock_mhz = u;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(ul), &ul, NULL) == CL_SUCCESS)
        in->global_mem_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(ul), &ul, NULL) == CL_SUCCESS)
        in->local_mem_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof(ul), &ul, NULL) == CL_SUCCESS)
        in->global_mem_cache_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(ul), &ul, NULL) == CL_SUCCESS)
        in->max_alloc_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(sz), &sz, NULL) == CL_SUCCESS)
        in->max_work_group_size = sz;
    if (clGetDeviceInfo(d, CL_DEVICE_COMPILER_AVAILABLE, sizeof(b), &b, NULL) == CL_SUCCESS)
        in->compiler_available = b != 0;
    b = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof(b), &b, NULL) == CL_SUCCESS)
        in->host_unified_memory = b != 0;
    if (clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof(u), &u, NULL) == CL_SUCCESS)
        in->vector_width_float = u;
    in->fp16 = has_ext(d, "cl_khr_fp16");
    in->fp64 = has_ext(d, "cl_khr_fp64");
    in->subgroups = has_ext(d, "cl_khr_subgroups") || has_ext(d, "cl_intel_subgroups");
    estimate_peaks(in);
}

/* Walks all platforms/devices; calls fn for each until it returns nonzero. */
typedef int (*dev_visit)(cl_platform_id, cl_device_id, int, int, void *);

static climp_status walk_devices(dev_visit fn, void *user, int *total) {
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    *total = 0;
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        climp_error_set("no OpenCL platform found by the ICD loader (install an OpenCL driver, "
                        "e.g. Debian's pocl-opencl-icd, or check OCL_ICD_VENDORS)");
        return CLIMP_ERR_NO_PLATFORM;
    }
    if (err != CL_SUCCESS) return rt_cl(err, "clGetPlatformIDs");
    cl_platform_id *pls = calloc(np, sizeof(*pls));
    if (!pls) return CLIMP_ERR_HOST_OOM;
    clGetPlatformIDs(np, pls, NULL);
    int stop = 0;
    for (cl_uint p = 0; p < np && !stop; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(pls[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || !nd)
            continue;
        cl_device_id *ds = calloc(nd, sizeof(*ds));
        if (!ds) break;
        clGetDeviceIDs(pls[p], CL_DEVICE_TYPE_ALL, nd, ds, NULL);
        for (cl_uint d = 0; d < nd && !stop; d++) {
            (*total)++;
            stop = fn(pls[p], ds[d], (int)p, (int)d, user);
        }
        free(ds);
    }
    free(pls);
    if (*total == 0) {
        climp_error_set("OpenCL platforms exist but none has a device");
        return CLIMP_ERR_NO_DEVICE;
    }
    return CLIMP_OK;
}

typedef struct { climp_device_info *arr; int n, cap; } list_acc;

static int list_visit(cl_platform_id pl, cl_device_id d, int pi, int di, void *user) {
    list_acc *a = user;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        climp_device_info *arr = realloc(a->arr, cap * sizeof(*arr));
        if (!arr) return 1;
        a->arr = arr;
        a->cap = cap;
    }
    fill_info(pl, d, pi, di, &a->arr[a->n++]);
    return 0;
}

climp_status climp_devices_list(climp_device_info **out, int *count) {
    list_acc a = {0};
    int total = 0;
    climp_status s = walk_devices(list_visit, &a, &total);
    if (s != CLIMP_OK) {
        free(a.arr);
        return s;
    }
    *out = a.arr;
    *count = a.n;
    return CLIMP_OK;
}

typedef struct {
    const char *sel;
    int want_p, want_d; /* -1 when selecting by substring */
    cl_platform_id pl;
    cl_device_id dev;
    int pi, di, found;
} select_acc;

static int select_visit(cl_platform_id pl, cl_device_id d, int pi, int di, void *user) {
    select_acc *a = user;
    int match;
    if (a->want_p >= 0) {
        match = pi == a->want_p && di == a->want_d;
    } else {
        climp_device_info in;
        fill_info(pl, d, pi, di, &in);
        match = icontains(in.name, a->sel) || icontains(in.vendor, a->sel) ||
                icontains(in.platform_name, a->sel) || icontains(in.platform_vendor, a->sel);
    }
    if (match) {
        a->pl = pl;
        a->dev = d;
        a->pi = pi;
        a->di = di;
        a->found = 1;
    }
    return match;
}

static int parse_index(const char *s, int *p, int *d) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s) return 0;
    long b = 0;
    if (*end == ':') {
        const char *t = end + 1;
        b = strtol(t, &end, 10);
        if (end == t) return 0;
    } else {
        /* a bare number N means platform 0, device N */
        b = a;
        a = 0;
    }
    if (*end || a < 0 || b < 0 || a > 1000 || b > 1000) return 0;
    *p = (int)a;
    *d = (int)b;
    return 1;
}

static climp_status select_device(const char *sel, select_acc *a) {
    memset(a, 0, sizeof(*a));
    a->sel = sel && *sel ? sel : "0:0";
    a->want_p = a->want_d = -1;
    parse_index(a->sel, &a->want_p, &a->want_d);
    int total = 0;
    CLIMP_TRY(walk_devices(select_visit, a, &total));
    if (!a->found) {
        climp_error_set("--device '%s' matches none of the %d OpenCL device(s); run 'climp "
                        "devices' to list them",
                        a->sel, total);
        return CLIMP_ERR_DEVICE_NOT_FOUND;
    }
    return CLIMP_OK;
}

climp_status climp_ctx_open(const climp_ctx_options *opt, climp_ctx **out) {
    climp_ctx_options defaults = {0};
    if (!opt) opt = &defaults;
    if (!out) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    const char *sel = opt->device ? opt->device : getenv("CLIMP_DEVICE");
    select_acc a;
    CLIMP_TRY(select_device(sel, &a));
    climp_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return CLIMP_ERR_HOST_OOM;
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->platform = a.pl;
    ctx->device = a.dev;
    fill_info(a.pl, a.dev, a.pi, a.di, &ctx->info);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)a.pl, 0};
    ctx->context = clCreateContext(props, 1, &a.dev, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        climp_ctx_close(ctx);
        return rt_cl(err, "clCreateContext");
    }
    ctx->profile = opt->profile || (getenv("CLIMP_PROFILE") && atoi(getenv("CLIMP_PROFILE")));
    ctx->sync_launches = getenv("CLIMP_SYNC") && atoi(getenv("CLIMP_SYNC"));
    /* Profiling is always enabled on the queue: it costs little and the bench uses events. */
    ctx->queue = clCreateCommandQueue(ctx->context, a.dev, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        climp_ctx_close(ctx);
        return rt_cl(err, "clCreateCommandQueue");
    }
    const char *bins = opt->kernel_binaries ? opt->kernel_binaries : getenv("CLIMP_KERNEL_BINARIES");
    if (bins && *bins) {
        ctx->binary_dir = strdup(bins);
        ctx->binary_only = 1;
    }
    if (!ctx->info.compiler_available || ctx->info.is_accelerator) ctx->binary_only = 1;
    const char *var = opt->kernel_variant ? opt->kernel_variant : getenv("CLIMP_KERNEL_VARIANT");
    if (var && *var) {
        if (strcmp(var, "fpga") && strcmp(var, "ndrange")) {
            climp_error_set("unknown kernel variant '%s' (expected ndrange or fpga)", var);
            climp_ctx_close(ctx);
            return CLIMP_ERR_INVALID_ARG;
        }
        ctx->fpga_variant = !strcmp(var, "fpga");
    } else {
        ctx->fpga_variant = ctx->info.is_accelerator;
    }
    if (ctx->binary_only && !ctx->binary_dir) {
        climp_error_set("device '%s' has no online compiler (or is an ACCELERATOR): give "
                        "--kernel-binaries DIR made by 'climp compile-kernels'",
                        ctx->info.name);
        climp_ctx_close(ctx);
        return CLIMP_ERR_NO_BINARY;
    }
    climp_log(CLIMP_LOG_DEBUG, "device %d:%d %s (%s), driver %s", a.pi, a.di, ctx->info.name,
              ctx->info.platform_name, ctx->info.driver_version);
    *out = ctx;
    return CLIMP_OK;
}

void rt_programs_release(climp_ctx *ctx);

/* Default when runtime/gemm.c is not linked in (a program that never calls climp_gemm). */
__attribute__((weak)) void rt_gemm_release(climp_ctx *ctx) { (void)ctx; }
/* Likewise for runtime/tune.c. */
__attribute__((weak)) void rt_tune_release(climp_ctx *ctx) { (void)ctx; }

void climp_ctx_close(climp_ctx *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    rt_gemm_release(ctx);
    rt_tune_release(ctx);
    rt_programs_release(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx->binary_dir);
    free(ctx->prof);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

const climp_device_info *climp_ctx_info(const climp_ctx *ctx) { return &ctx->info; }

climp_status climp_finish(climp_ctx *ctx) { return rt_cl(clFinish(ctx->queue), "clFinish"); }

const char *climp_ctx_variant(const climp_ctx *ctx) {
    return ctx->fpga_variant ? "fpga" : "ndrange";
}

climp_counters climp_ctx_counters(const climp_ctx *ctx) { return ctx->counters; }
