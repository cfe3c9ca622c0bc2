/* `climp bench` calibration and energy: the device's measured peak fp32 FLOP/s (FMA chains at
 * every vector width), memory bandwidth (copy and STREAM triad on arrays well beyond the caches)
 * and launch latency, with cl_kernels/calib.cl; cached per device (platform, device, driver) in
 * climp_cache_dir()/calib-<hash>.json. Energy meters: RAPL powercap counters and NVML (loaded with
 * dlopen), both optional. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/bench.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CALIB_VERSION 3 /* 3: CPU buffers of >= 16 MiB on huge pages (runtime/buffer.c) */
#define CALIB_CHAINS 12 /* as in cl_kernels/calib.cl */
static const int k_widths[5] = {1, 2, 4, 8, 16};

/* ------------------------------------------------------------------ cache */
static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

static void mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static void cache_path(const climp_device_info *d, char *out, size_t n) {
    uint64_t h = 1469598103934665603ull;
    const char *keys[] = {d->platform_name, d->platform_version, d->name, d->vendor,
                          d->driver_version, d->device_version};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) h = fnv1a(h, keys[i]);
    char v[16];
    snprintf(v, sizeof(v), "v%d", CALIB_VERSION);
    h = fnv1a(h, v);
    snprintf(out, n, "%s/calib-%016llx.json", climp_cache_dir(), (unsigned long long)h);
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

cJSON *climp_bench_peaks_json(const climp_bench_peaks *p) {
    cJSON *o = cJSON_CreateObject();
    climp_json_num(o, "gflops", p->gflops);
    cJSON *vw = cJSON_CreateObject();
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof(k), "%d", k_widths[i]);
        climp_json_num(vw, k, p->gflops_vw[i]);
    }
    cJSON_AddItemToObject(o, "gflops_by_vector_width", vw);
    climp_json_num(o, "gbps", p->gbps);
    climp_json_num(o, "gbps_copy", p->gbps_copy);
    climp_json_num(o, "gbps_triad", p->gbps_triad);
    climp_json_num(o, "launch_latency_us", p->launch_us);
    climp_json_num(o, "array_bytes", p->array_bytes);
    cJSON_AddBoolToObject(o, "quick", p->quick);
    cJSON_AddBoolToObject(o, "from_cache", p->from_cache);
    climp_json_str(o, "cache_file", p->cache_file);
    climp_json_str(o, "date", p->date);
    climp_json_str(o, "method",
                   "FMA: 12 independent mad chains per work-item on floatW, best W; bandwidth: "
                   "float4 copy (2 x 4 bytes/float) and STREAM triad (3 x 4 bytes/float); peaks "
                   "from the fastest of >= 10 samples (5 with --quick) after warm-up; launch "
                   "latency: median");
    return o;
}

static int load_cache(const char *path, int need_full, climp_bench_peaks *p) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *o = cJSON_Parse(buf);
    if (!o) return 0;
    int ok = 0;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "quick");
    p->gflops = jnum(o, "gflops");
    p->gbps = jnum(o, "gbps");
    if (isfinite(p->gflops) && isfinite(p->gbps) && p->gflops > 0 && p->gbps > 0 &&
        !(need_full && cJSON_IsTrue(q))) {
        const cJSON *vw = cJSON_GetObjectItemCaseSensitive(o, "gflops_by_vector_width");
        for (int i = 0; i < 5; i++) {
            char k[8];
            snprintf(k, sizeof(k), "%d", k_widths[i]);
            p->gflops_vw[i] = jnum(vw, k);
        }
        p->gbps_copy = jnum(o, "gbps_copy");
        p->gbps_triad = jnum(o, "gbps_triad");
        p->launch_us = jnum(o, "launch_latency_us");
        p->array_bytes = jnum(o, "array_bytes");
        p->quick = cJSON_IsTrue(q);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "date");
        snprintf(p->date, sizeof(p->date), "%s", cJSON_IsString(d) ? d->valuestring : "");
        p->from_cache = 1;
        ok = 1;
    }
    cJSON_Delete(o);
    return ok;
}

/* ------------------------------------------------------------------ measurements */
typedef struct calib_launch {
    climp_ctx *ctx;
    climp_kernel *k;
    size_t gws;
    int nargs;
    climp_karg args[8];
} calib_launch;

static climp_status run_launch(void *user) {
    calib_launch *l = user;
    return climp_launch(l->ctx, l->k, 1, &l->gws, NULL, l->nargs, l->args);
}

static climp_status measure_fma(climp_bench *b, climp_buffer *out, int wi, double *gflops) {
    const climp_device_info *d = climp_ctx_info(b->ctx);
    char name[32];
    snprintf(name, sizeof(name), "calib_fma_v%d", k_widths[wi]);
    calib_launch l = {b->ctx, NULL, 0, 4, {{0}}};
    CLIMP_TRY(climp_kernel_get(b->ctx, "calib", "", name, &l.k));
    /* Enough work-items to fill every unit several times over; GPUs need far more in flight. */
    /* Each launch runs long enough (milliseconds) for launch overhead not to matter. */
    int n = (int)d->compute_units * (d->is_cpu ? 4096 : 16384);
    int iters = (b->opt.quick ? 1024 : 4096) / k_widths[wi];
    l.gws = climp_round_up((size_t)n, 64);
    l.args[0] = climp_arg_view(climp_buffer_view(out));
    l.args[1] = climp_arg_i32(n);
    l.args[2] = climp_arg_i32(iters);
    l.args[3] = climp_arg_f32(0.5f);
    climp_bench_stats st;
    CLIMP_TRY(climp_bench_measure(b, run_launch, &l, 1, &st));
    double flops = (double)n * l.args[2].i32 * CALIB_CHAINS * k_widths[wi] * 2.0;
    *gflops = flops / st.min / 1e9; /* a peak: the best sample */
    return CLIMP_OK;
}

/* The STREAM triad a = b + 0.5 c over `floats` floats of x, y, z, ready to launch. */
static climp_status triad_launch(climp_bench *b, climp_buffer *x, climp_buffer *y,
                                 climp_buffer *z, size_t floats, calib_launch *l) {
    *l = (calib_launch){b->ctx, NULL, climp_round_up(floats / 4, 64), 5, {{0}}};
    CLIMP_TRY(climp_kernel_get(b->ctx, "calib", "", "calib_triad", &l->k));
    l->args[0] = climp_arg_view(climp_buffer_view(x));
    l->args[1] = climp_arg_view(climp_buffer_view(y));
    l->args[2] = climp_arg_view(climp_buffer_view(z));
    l->args[3] = climp_arg_f32(0.5f);
    l->args[4] = climp_arg_i32((int)(floats / 4));
    return CLIMP_OK;
}

static climp_status measure_bw(climp_bench *b, climp_buffer *x, climp_buffer *y, climp_buffer *z,
                               size_t floats) {
    calib_launch l = {b->ctx, NULL, climp_round_up(floats / 4, 64), 0, {{0}}};
    climp_bench_stats st;
    CLIMP_TRY(climp_kernel_get(b->ctx, "calib", "", "calib_copy", &l.k));
    l.nargs = 3;
    l.args[0] = climp_arg_view(climp_buffer_view(x));
    l.args[1] = climp_arg_view(climp_buffer_view(y));
    l.args[2] = climp_arg_i32((int)(floats / 4));
    CLIMP_TRY(climp_bench_measure(b, run_launch, &l, 1, &st));
    b->peaks.gbps_copy = 2.0 * 4.0 * floats / st.min / 1e9;
    CLIMP_TRY(triad_launch(b, x, y, z, floats, &l));
    CLIMP_TRY(climp_bench_measure(b, run_launch, &l, 1, &st));
    b->peaks.gbps_triad = 3.0 * 4.0 * floats / st.min / 1e9;
    b->peaks.gbps = fmax(b->peaks.gbps_copy, b->peaks.gbps_triad);
    return CLIMP_OK;
}

climp_status climp_bench_triad_now(climp_bench *b, double *gbps) {
    *gbps = NAN;
    if (!b->bw[0]) {
        const climp_device_info *d = climp_ctx_info(b->ctx);
        size_t bytes = (size_t)(b->opt.quick ? 16 : 64) << 20;
        if (d->max_alloc_bytes && bytes > d->max_alloc_bytes)
            bytes = d->max_alloc_bytes / 256 * 256;
        b->bw_floats = bytes / 4;
        static const char *names[3] = {"bench.triad.a", "bench.triad.b", "bench.triad.c"};
        for (int i = 0; i < 3; i++) {
            climp_status s = climp_buffer_create(b->ctx, names[i], bytes, &b->bw[i]);
            if (!s) s = climp_buffer_fill_zero(b->ctx, b->bw[i], 0, bytes);
            if (s) {
                climp_bench_triad_free(b);
                return s;
            }
        }
    }
    calib_launch l;
    CLIMP_TRY(triad_launch(b, b->bw[0], b->bw[1], b->bw[2], b->bw_floats, &l));
    if (!b->bw_warm) { /* the first pass maps the arrays' pages: untimed */
        CLIMP_TRY(run_launch(&l));
        CLIMP_TRY(climp_finish(b->ctx));
        b->bw_warm = 1;
    }
    const double t0 = climp_now_seconds();
    CLIMP_TRY(run_launch(&l));
    CLIMP_TRY(climp_finish(b->ctx));
    *gbps = 3.0 * 4.0 * (double)b->bw_floats / (climp_now_seconds() - t0) / 1e9;
    return CLIMP_OK;
}

void climp_bench_triad_free(climp_bench *b) {
    for (int i = 0; i < 3; i++) {
        climp_buffer_destroy(b->bw[i]);
        b->bw[i] = NULL;
    }
    b->bw_warm = 0;
}

static climp_status measure_latency(climp_bench *b, climp_buffer *out) {
    calib_launch l = {b->ctx, NULL, 1, 2, {{0}}};
    CLIMP_TRY(climp_kernel_get(b->ctx, "calib", "", "calib_empty", &l.k));
    l.args[0] = climp_arg_view(climp_buffer_view(out));
    l.args[1] = climp_arg_i32(0);
    climp_bench_stats st;
    CLIMP_TRY(climp_bench_measure(b, run_launch, &l, 0, &st));
    b->peaks.launch_us = st.median * 1e6;
    return CLIMP_OK;
}

static climp_status calibrate_now(climp_bench *b) {
    const climp_device_info *d = climp_ctx_info(b->ctx);
    climp_bench_peaks *p = &b->peaks;
    /* Bandwidth arrays: far beyond any last-level cache (GPUs have up to 256 MiB), within the
     * device's allocation limit. */
    double want = b->opt.quick ? 64.0 * 1048576 : 512.0 * 1048576;
    double lim = fmin((double)d->max_alloc_bytes, (double)d->global_mem_bytes / 8);
    size_t bytes = (size_t)fmax(16.0 * 1048576, fmin(want, lim));
    bytes = bytes / 256 * 256;
    size_t floats = bytes / 4;
    if (floats / 4 > (size_t)0x7fffffff) floats = (size_t)0x7fffffff * 4;
    p->array_bytes = (double)floats * 4;
    climp_buffer *out = NULL, *x = NULL, *y = NULL, *z = NULL;
    climp_status s;
    size_t nout = (size_t)d->compute_units * 16384 + 64;
    if ((s = climp_buffer_create(b->ctx, "calib.out", nout * 4, &out))) goto done;
    for (int i = 0; i < 5; i++) {
        if (b->opt.quick && k_widths[i] != 4 && k_widths[i] != 8) {
            p->gflops_vw[i] = NAN;
            continue;
        }
        if ((s = measure_fma(b, out, i, &p->gflops_vw[i]))) goto done;
        if (!(p->gflops >= p->gflops_vw[i])) p->gflops = p->gflops_vw[i];
    }
    if ((s = climp_buffer_create(b->ctx, "calib.x", floats * 4, &x))) goto done;
    if ((s = climp_buffer_create(b->ctx, "calib.y", floats * 4, &y))) goto done;
    if ((s = climp_buffer_create(b->ctx, "calib.z", floats * 4, &z))) goto done;
    if ((s = climp_buffer_fill_zero(b->ctx, y, 0, floats * 4))) goto done;
    if ((s = climp_buffer_fill_zero(b->ctx, z, 0, floats * 4))) goto done;
    if ((s = measure_bw(b, x, y, z, floats))) goto done;
    s = measure_latency(b, out);
done:
    climp_buffer_destroy(out);
    climp_buffer_destroy(x);
    climp_buffer_destroy(y);
    climp_buffer_destroy(z);
    return s;
}

climp_status climp_bench_calibrate(climp_bench *b) {
    const climp_device_info *d = climp_ctx_info(b->ctx);
    climp_bench_peaks *p = &b->peaks;
    memset(p, 0, sizeof(*p));
    cache_path(d, p->cache_file, sizeof(p->cache_file));
    if (!b->opt.recalibrate && load_cache(p->cache_file, !b->opt.quick, p)) {
        climp_log(CLIMP_LOG_INFO, "bench: measured peaks from %s: %.1f GFLOP/s, %.1f GB/s",
                  p->cache_file, p->gflops, p->gbps);
        return CLIMP_OK;
    }
    fprintf(stderr, "climp bench: calibrating %s (FMA peak, bandwidth, launch latency)...\n",
            d->name);
    /* The calibration uses its own statistics settings: at least 10 samples (5 with --quick),
     * of which the fastest counts. */
    climp_bench_opts saved = b->opt;
    int reps = b->opt.quick ? 5 : 10;
    if (b->opt.reps < reps) b->opt.reps = reps;
    if (b->opt.warmup < 1) b->opt.warmup = 1;
    climp_status s = calibrate_now(b);
    b->opt = saved;
    if (s) return s;
    p->quick = b->opt.quick;
    climp_bench_now_iso(p->date, sizeof(p->date));
    /* Cache (best effort: a read-only cache folder only costs a recalibration next time). */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", climp_cache_dir());
    mkdirs(dir);
    cJSON *o = climp_bench_peaks_json(p);
    climp_json_str(o, "device", d->name);
    climp_json_str(o, "driver_version", d->driver_version);
    climp_json_str(o, "platform_version", d->platform_version);
    if (climp_bench_write_json(o, p->cache_file))
        climp_log(CLIMP_LOG_WARN, "bench: cannot write the calibration cache %s", p->cache_file);
    cJSON_Delete(o);
    return CLIMP_OK;
}

/* ------------------------------------------------------------------ energy */
static int read_double(const char *path, double *v) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fscanf(f, "%lf", v) == 1;
    fclose(f);
    return ok;
}

static void rapl_open(climp_energy_meter *m) {
    const char *root = "/sys/class/powercap";
    DIR *dir = opendir(root);
    if (!dir) {
        snprintf(m->reason, sizeof(m->reason), "no RAPL powercap interface (%s: %s)", root,
                 strerror(errno));
        return;
    }
    struct dirent *e;
    char names[256] = "";
    while ((e = readdir(dir)) && m->ndom < CLIMP_BENCH_ENERGY_MAX) {
        /* Package-level zones only ("intel-rapl:N", one colon): sub-zones are inside them. */
        const char *c = strchr(e->d_name, ':');
        if (strncmp(e->d_name, "intel-rapl:", 11) || !c || strchr(c + 1, ':')) continue;
        char p[160], q[160];
        double v = 0, range = 0;
        snprintf(p, sizeof(p), "%s/%.40s/energy_uj", root, e->d_name);
        snprintf(q, sizeof(q), "%s/%.40s/max_energy_range_uj", root, e->d_name);
        if (!read_double(p, &v)) {
            snprintf(m->reason, sizeof(m->reason), "RAPL counter %.160s is not readable (root "
                     "only on recent kernels)", p);
            continue;
        }
        if (!read_double(q, &range)) range = 0;
        snprintf(m->path[m->ndom], sizeof(m->path[0]), "%s", p);
        m->range_uj[m->ndom++] = range;
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%.40s", used ? ", " : "", e->d_name);
    }
    closedir(dir);
    if (m->ndom) {
        m->kind = 1;
        snprintf(m->sensor, sizeof(m->sensor), "rapl");
        snprintf(m->scope, sizeof(m->scope), "RAPL package zones (%s): whole CPU sockets incl. "
                 "idle cores and other processes; DRAM and accelerators not included", names);
    } else if (!m->reason[0]) {
        snprintf(m->reason, sizeof(m->reason), "no intel-rapl package zone under %s", root);
    }
}

typedef int (*nvml_void_fn)(void);
typedef int (*nvml_count_fn)(unsigned *);
typedef int (*nvml_handle_fn)(unsigned, void **);
typedef int (*nvml_name_fn)(void *, char *, unsigned);
typedef int (*nvml_energy_fn)(void *, unsigned long long *);

static void *sym(void *lib, const char *name) { return dlsym(lib, name); }

static void nvml_open(climp_energy_meter *m, const climp_device_info *d) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    nvml_void_fn init = NULL, shut = NULL;
    nvml_count_fn count = NULL;
    nvml_handle_fn handle = NULL;
    nvml_name_fn name = NULL;
    nvml_energy_fn energy = NULL;
    void *p;
    /* POSIX: dlsym's void * converts to a function pointer through memcpy. */
    if ((p = sym(lib, "nvmlInit_v2"))) memcpy(&init, &p, sizeof(p));
    if ((p = sym(lib, "nvmlShutdown"))) memcpy(&shut, &p, sizeof(p));
    if ((p = sym(lib, "nvmlDeviceGetCount_v2"))) memcpy(&count, &p, sizeof(p));
    if ((p = sym(lib, "nvmlDeviceGetHandleByIndex_v2"))) memcpy(&handle, &p, sizeof(p));
    if ((p = sym(lib, "nvmlDeviceGetName"))) memcpy(&name, &p, sizeof(p));
    if ((p = sym(lib, "nvmlDeviceGetTotalEnergyConsumption"))) memcpy(&energy, &p, sizeof(p));
    unsigned n = 0;
    if (!init || !shut || !count || !handle || !name || !energy || init() != 0) {
        dlclose(lib);
        return;
    }
    if (count(&n) == 0)
        for (unsigned i = 0; i < n; i++) {
            void *dev = NULL;
            char nm[128] = "";
            unsigned long long mj = 0;
            if (handle(i, &dev) || name(dev, nm, sizeof(nm)) || !strstr(d->name, nm) ||
                energy(dev, &mj))
                continue;
            m->kind = 2;
            m->lib = lib;
            m->dev = dev;
            m->nvml_energy = (int (*)(void *, unsigned long long *))energy;
            m->nvml_shutdown = shut;
            snprintf(m->sensor, sizeof(m->sensor), "nvml");
            snprintf(m->scope, sizeof(m->scope), "NVML total energy counter of GPU %u (%s): the "
                     "whole board, including other processes on it", i, nm);
            return;
        }
    shut();
    dlclose(lib);
}

void climp_energy_open(climp_energy_meter *m, const climp_device_info *d) {
    memset(m, 0, sizeof(*m));
    if (d && d->is_gpu) nvml_open(m, d);
    if (!m->kind) rapl_open(m);
    if (!m->kind) {
        snprintf(m->sensor, sizeof(m->sensor), "unavailable");
        if (!m->reason[0]) snprintf(m->reason, sizeof(m->reason), "no readable energy sensor");
        if (d && d->is_gpu)
            strncat(m->reason, "; no NVML device matching the OpenCL device (ROCm SMI and Level "
                    "Zero sysman are not read)", sizeof(m->reason) - strlen(m->reason) - 1);
    }
}

void climp_energy_close(climp_energy_meter *m) {
    if (m->kind == 2) {
        m->nvml_shutdown();
        dlclose(m->lib);
    }
    m->kind = 0;
}

static int energy_read(climp_energy_meter *m, double *v) {
    if (m->kind == 1) {
        for (int i = 0; i < m->ndom; i++)
            if (!read_double(m->path[i], &v[i])) return 0;
        return 1;
    }
    if (m->kind == 2) {
        unsigned long long mj = 0;
        if (m->nvml_energy(m->dev, &mj)) return 0;
        v[0] = (double)mj * 1e3; /* in microjoules, like RAPL */
        return 1;
    }
    return 0;
}

void climp_energy_begin(climp_energy_meter *m) {
    if (m->kind && !energy_read(m, m->start)) m->start[0] = NAN;
}

double climp_energy_end(climp_energy_meter *m) {
    double now[CLIMP_BENCH_ENERGY_MAX];
    if (!m->kind || isnan(m->start[0]) || !energy_read(m, now)) return NAN;
    double uj = 0;
    int n = m->kind == 1 ? m->ndom : 1;
    for (int i = 0; i < n; i++) {
        double d = now[i] - m->start[i];
        if (d < 0 && m->kind == 1 && m->range_uj[i] > 0) d += m->range_uj[i];
        uj += d;
    }
    return uj * 1e-6;
}

cJSON *climp_energy_json(const climp_energy_meter *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "available", m->kind != 0);
    climp_json_str(o, "sensor", m->sensor);
    if (m->kind) {
        climp_json_str(o, "scope", m->scope);
        climp_json_str(o, "sampling", "cumulative counter read before and after the timed "
                                      "repetitions (warm-up excluded)");
    } else {
        climp_json_str(o, "reason", m->reason);
    }
    return o;
}
