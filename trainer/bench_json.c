/* `climp bench` JSON: provenance (git commit, build, compiler, OS, host, OpenCL platform / device /
 * driver strings, CLBlast version and tuning state, kernel tuning parameters in use, date, command
 * line, environment), the device block with the measured peaks, atomic writing, and the schema
 * validator used by the tests (the schema is documented in docs/bench.md). */
#define _XOPEN_SOURCE 700 /* POSIX with XSI: realpath */
#include "trainer/bench.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "model/eltwise.h"
#include "model/scan.h"

void climp_json_num(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

void climp_json_str(cJSON *o, const char *key, const char *v) {
    cJSON_AddStringToObject(o, key, v ? v : "");
}

void climp_bench_now_iso(char *out, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------ provenance helpers */
/* First line of a shell command's output (trimmed), or "" when it fails. */
static void run_line(const char *cmd, char *out, size_t n) {
    out[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(out, (int)n, p)) out[0] = 0;
    pclose(p);
    size_t l = strlen(out);
    while (l && isspace((unsigned char)out[l - 1])) out[--l] = 0;
}

static int is_commit(const char *s) {
    size_t n = strlen(s);
    if (n != 40) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* The commit of the working tree we run from (the current folder, else the executable's). */
static void git_info(cJSON *o) {
    char dirs[2][1024] = {".", ""};
    ssize_t l = readlink("/proc/self/exe", dirs[1], sizeof(dirs[1]) - 1);
    if (l > 0) {
        dirs[1][l] = 0;
        char *slash = strrchr(dirs[1], '/');
        if (slash) *slash = 0;
    }
    for (int i = 0; i < 2; i++) {
        if (!dirs[i][0] || strchr(dirs[i], '\'')) continue;
        char cmd[1200], line[256];
        snprintf(cmd, sizeof(cmd), "git -C '%.1000s' rev-parse HEAD 2>/dev/null", dirs[i]);
        run_line(cmd, line, sizeof(line));
        if (!is_commit(line)) continue;
        climp_json_str(o, "git_commit", line);
        snprintf(cmd, sizeof(cmd),
                 "git -C '%.1000s' status --porcelain --untracked-files=no 2>/dev/null | head -n 1",
                 dirs[i]);
        run_line(cmd, line, sizeof(line));
        cJSON_AddBoolToObject(o, "git_dirty", line[0] != 0);
        return;
    }
    climp_json_str(o, "git_commit", "unknown");
    cJSON_AddNullToObject(o, "git_dirty");
}

static cJSON *build_json(void) {
    cJSON *o = cJSON_CreateObject();
#if defined(__clang__)
    climp_json_str(o, "compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
    climp_json_str(o, "compiler", "gcc " __VERSION__);
#elif defined(__VERSION__)
    climp_json_str(o, "compiler", __VERSION__);
#else
    climp_json_str(o, "compiler", "unknown");
#endif
    int opt = 0, ndebug = 0, asan = 0;
#ifdef __OPTIMIZE__
    opt = 1;
#endif
#ifdef NDEBUG
    ndebug = 1;
#endif
#ifdef __SANITIZE_ADDRESS__
    asan = 1;
#endif
    cJSON_AddBoolToObject(o, "optimized", opt);
    cJSON_AddBoolToObject(o, "ndebug", ndebug);
    cJSON_AddBoolToObject(o, "address_sanitizer", asan);
    climp_json_str(o, "build_type", opt && ndebug ? "Release (optimised, NDEBUG)"
                                    : opt          ? "optimised, assertions on"
                                                   : "Debug (not optimised)");
    cJSON_AddNumberToObject(o, "c_standard", (double)__STDC_VERSION__);
    climp_json_str(o, "compiled", __DATE__ " " __TIME__);
    return o;
}

static void read_key_file(const char *path, const char *key, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl)) continue;
        char *v = line + kl;
        while (*v == ' ' || *v == '\t' || *v == ':' || *v == '=' || *v == '"') v++;
        snprintf(out, n, "%s", v);
        size_t l = strlen(out);
        while (l && (isspace((unsigned char)out[l - 1]) || out[l - 1] == '"')) out[--l] = 0;
        break;
    }
    fclose(f);
}

static cJSON *os_json(void) {
    cJSON *o = cJSON_CreateObject();
    struct utsname u;
    if (!uname(&u)) {
        climp_json_str(o, "sysname", u.sysname);
        climp_json_str(o, "release", u.release);
        climp_json_str(o, "version", u.version);
        climp_json_str(o, "machine", u.machine);
    }
    char buf[256];
    read_key_file("/etc/os-release", "PRETTY_NAME=", buf, sizeof(buf));
    climp_json_str(o, "distribution", buf[0] ? buf : "unknown");
    return o;
}

static cJSON *host_json(void) {
    cJSON *o = cJSON_CreateObject();
    char buf[256];
    read_key_file("/proc/cpuinfo", "model name", buf, sizeof(buf));
    climp_json_str(o, "cpu_model", buf[0] ? buf : "unknown");
    cJSON_AddNumberToObject(o, "logical_cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    double pages = (double)sysconf(_SC_PHYS_PAGES), psz = (double)sysconf(_SC_PAGESIZE);
    climp_json_num(o, "memory_bytes", pages > 0 && psz > 0 ? pages * psz : NAN);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    climp_json_str(o, "hostname", host);
    return o;
}

/* Shared libraries of interest as mapped into this process (resolved paths carry versions). */
static void libraries(cJSON *o, char *clblast, size_t n) {
    static const char *const names[] = {"libOpenCL", "libclblast", "libopenblas", "libpocl",
                                        "libcjson", "libblas"};
    FILE *f = fopen("/proc/self/maps", "r");
    clblast[0] = 0;
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        char *path = strchr(line, '/');
        if (!path) continue;
        path[strcspn(path, "\n")] = 0;
        const char *base = strrchr(path, '/') + 1;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strncmp(base, names[i], strlen(names[i])) || cJSON_HasObjectItem(o, names[i]))
                continue;
            char real[PATH_MAX];
            const char *p = realpath(path, real) ? real : path;
            climp_json_str(o, names[i], p);
            if (!strcmp(names[i], "libclblast")) {
                const char *v = strstr(strrchr(p, '/'), ".so.");
                snprintf(clblast, n, "%s", v ? v + 4 : "unknown");
            }
        }
    }
    fclose(f);
}

static cJSON *tuning_json(climp_ctx *ctx) {
    cJSON *o = cJSON_CreateObject();
    /* GEMM: which backend AUTO picks for a typical Linear of the text tower. */
    climp_gemm_desc g = {.trans_b = 1, .M = 512, .N = 3072, .K = 768, .alpha = 1.0f,
                         .lda = 768, .ldb = 768, .ldc = 3072, .batch = 1};
    climp_json_str(o, "gemm_auto_backend", climp_gemm_backend_name(climp_gemm_choose(ctx, &g)));
    cJSON *av = cJSON_CreateArray();
    for (int be = CLIMP_GEMM_HOSTBLAS; be <= CLIMP_GEMM_TILED; be++)
        if (climp_gemm_backend_available(ctx, (climp_gemm_backend)be))
            cJSON_AddItemToArray(av, cJSON_CreateString(climp_gemm_backend_name(be)));
    cJSON_AddItemToObject(o, "gemm_backends_available", av);
    /* Selective scan: the tunables resolved for Mamba-130m (8 x 64 tokens) and VMamba-T stage 0. */
    climp_scan_shape t = {.B = 8, .L = 64, .Dc = 1536, .N = 16, .G = 1, .ld_u = 1536,
                          .ld_dt = 1536, .ld_z = 1536, .ld_out = 1536, .bc_stride_b = 80 * 64,
                          .bc_stride_l = 80};
    climp_scan_shape v = {.B = 1, .L = 3136, .Dc = 768, .N = 1, .G = 4, .ld_u = 768,
                          .ld_dt = 768, .ld_z = 768, .ld_out = 768, .bc_stride_b = 3136 * 32,
                          .bc_stride_l = 32, .bc_stride_g = 8};
    const climp_scan_shape *shapes[2] = {&t, &v};
    const char *names[2] = {"scan_mamba130m_B8_L64", "scan_vmamba_t_stage0"};
    for (int i = 0; i < 2; i++) {
        climp_scan_shape r = climp_scan_resolve(ctx, shapes[i]);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "chunk", r.chunk);
        climp_json_str(s, "variant", r.variant == CLIMP_SCAN_CPU      ? "cpu"
                                     : r.variant == CLIMP_SCAN_CPU_N1 ? "cpu-n1"
                                     : r.variant == CLIMP_SCAN_FPGA   ? "fpga"
                                                                      : "gpu");
        cJSON_AddNumberToObject(s, "cb", r.cb);
        cJSON_AddNumberToObject(s, "wg", r.wg);
        climp_json_str(s, "split", r.split == CLIMP_SCAN_SPLIT_CHUNKS ? "chunks" : "sequential");
        cJSON_AddItemToObject(o, names[i], s);
    }
    climp_json_str(o, "elementwise_ops_style", climp_ops_cpu_style(ctx) ? "cpu" : "gpu");
    climp_json_str(o, "kernel_variant", climp_ctx_variant(ctx));
    /* The tuning table in effect (climp tune; shipped defaults under the file's values). */
    const char *off = getenv("CLIMP_TUNING");
    climp_json_str(o, "table_file", climp_tune_path());
    cJSON_AddBoolToObject(o, "table_enabled", !(off && (!strcmp(off, "off") || !strcmp(off, "0"))));
    cJSON *tab = cJSON_CreateObject();
    for (int i = 0, n = climp_tune_count(ctx); i < n; i++) {
        int val = 0;
        const char *k = climp_tune_entry(ctx, i, &val);
        if (k) cJSON_AddNumberToObject(tab, k, val);
    }
    cJSON_AddItemToObject(o, "table", tab);
    return o;
}

static cJSON *env_json(void) {
    static const char *const vars[] = {"CLIMP_DEVICE", "CLIMP_GEMM", "CLIMP_GEMM_TILED_TYPE",
                                       "CLIMP_OPS_VARIANT", "CLIMP_KERNEL_VARIANT",
                                       "CLIMP_KERNEL_BINARIES", "CLIMP_CACHE_DIR",
                                       "CLIMP_NO_BINARY_CACHE", "POCL_DEVICES",
                                       "POCL_MAX_PTHREAD_COUNT", "OMP_NUM_THREADS",
                                       "OPENBLAS_NUM_THREADS", "CLBLAST_DISABLE_CACHE",
                                       "CLIMP_TUNING", "CLIMP_TUNING_FILE"};
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v) climp_json_str(o, vars[i], v);
    }
    return o;
}

cJSON *climp_bench_provenance(const climp_bench *b) {
    cJSON *o = cJSON_CreateObject();
    git_info(o);
    char date[40];
    climp_bench_now_iso(date, sizeof(date));
    climp_json_str(o, "date", date);
    size_t len = 1;
    for (int i = 0; i < b->opt.argc; i++) len += strlen(b->opt.argv[i]) + 3;
    char *cmd = calloc(len + 8, 1);
    if (cmd) {
        strcat(cmd, "climp");
        for (int i = 0; i < b->opt.argc; i++) {
            strcat(cmd, " ");
            strcat(cmd, b->opt.argv[i]);
        }
        climp_json_str(o, "command_line", cmd);
        free(cmd);
    }
    cJSON_AddItemToObject(o, "build", build_json());
    cJSON_AddItemToObject(o, "os", os_json());
    cJSON_AddItemToObject(o, "host", host_json());
    const climp_device_info *d = climp_ctx_info(b->ctx);
    cJSON *cl = cJSON_CreateObject();
    climp_json_str(cl, "platform_name", d->platform_name);
    climp_json_str(cl, "platform_vendor", d->platform_vendor);
    climp_json_str(cl, "platform_version", d->platform_version);
    climp_json_str(cl, "device_name", d->name);
    climp_json_str(cl, "device_vendor", d->vendor);
    climp_json_str(cl, "device_version", d->device_version);
    climp_json_str(cl, "driver_version", d->driver_version);
    climp_json_str(cl, "opencl_c_version", d->opencl_c_version);
    cJSON_AddItemToObject(o, "opencl", cl);
    cJSON *libs = cJSON_CreateObject();
    char clblast[64];
    libraries(libs, clblast, sizeof(clblast));
    cJSON_AddItemToObject(o, "libraries", libs);
    cJSON *cb = cJSON_CreateObject();
    int have = climp_gemm_backend_available(b->ctx, CLIMP_GEMM_CLBLAST);
    cJSON_AddBoolToObject(cb, "linked", have || clblast[0]);
    climp_json_str(cb, "version", clblast[0] ? clblast : have ? "unknown" : "not linked");
    climp_json_str(cb, "tuning", have || clblast[0]
                                     ? "CLBlast's built-in tuning database (climp sets no "
                                       "parameter overrides)"
                                     : "n/a");
    cJSON_AddItemToObject(o, "clblast", cb);
    cJSON_AddItemToObject(o, "tuning", tuning_json(b->ctx));
    cJSON_AddItemToObject(o, "environment", env_json());
    return o;
}

cJSON *climp_bench_device_json(const climp_bench *b) {
    const climp_device_info *d = climp_ctx_info(b->ctx);
    cJSON *o = cJSON_CreateObject();
    char idx[32];
    snprintf(idx, sizeof(idx), "%d:%d", d->platform_index, d->device_index);
    climp_json_str(o, "index", idx);
    climp_json_str(o, "name", d->name);
    climp_json_str(o, "vendor", d->vendor);
    climp_json_str(o, "type", d->type);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "global_mem_cache_bytes", (double)d->global_mem_cache_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddBoolToObject(o, "host_unified_memory", d->host_unified_memory);
    climp_json_num(o, "estimated_peak_gflops", d->peak_gflops);
    climp_json_num(o, "estimated_peak_gbps", d->peak_gbps > 0 ? d->peak_gbps : NAN);
    climp_json_str(o, "estimate_method", d->peak_note);
    cJSON_AddItemToObject(o, "peaks", climp_bench_peaks_json(&b->peaks));
    return o;
}

climp_status climp_bench_write_json(const cJSON *root, const char *path) {
    char *txt = cJSON_Print(root);
    if (!txt) return CLIMP_ERR_HOST_OOM;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        cJSON_free(txt);
        return CLIMP_ERR_HOST_OOM;
    }
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(txt, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        remove(tmp);
        climp_error_set("cannot write %s", path);
    }
    free(tmp);
    cJSON_free(txt);
    return ok ? CLIMP_OK : CLIMP_ERR_IO;
}

/* ------------------------------------------------------------------ schema validator */
typedef struct vctx {
    char *err;
    size_t n;
    int bad;
} vctx;

static int fail(vctx *v, const char *path, const char *key, const char *what) {
    if (!v->bad) snprintf(v->err, v->n, "%s%s%s: %s", path, key ? "." : "", key ? key : "", what);
    v->bad = 1;
    return 0;
}

static const cJSON *get(vctx *v, const cJSON *o, const char *path, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) fail(v, path, key, "missing");
    return it;
}

/* Number >= lo; null allowed when nullable. */
static int num(vctx *v, const cJSON *o, const char *path, const char *key, double lo,
               int nullable) {
    const cJSON *it = get(v, o, path, key);
    if (!it) return 0;
    if (cJSON_IsNull(it)) return nullable ? 1 : fail(v, path, key, "null");
    if (!cJSON_IsNumber(it)) return fail(v, path, key, "not a number");
    if (!(it->valuedouble >= lo)) return fail(v, path, key, "out of range");
    return 1;
}

static int str(vctx *v, const cJSON *o, const char *path, const char *key, const char *one_of) {
    const cJSON *it = get(v, o, path, key);
    if (!it) return 0;
    if (!cJSON_IsString(it)) return fail(v, path, key, "not a string");
    if (one_of) {
        char want[256];
        snprintf(want, sizeof(want), "|%s|", one_of);
        char have[128];
        snprintf(have, sizeof(have), "|%s|", it->valuestring);
        if (!strstr(want, have)) return fail(v, path, key, "unexpected value");
    }
    return 1;
}

static const cJSON *obj(vctx *v, const cJSON *o, const char *path, const char *key) {
    const cJSON *it = get(v, o, path, key);
    if (it && !cJSON_IsObject(it)) {
        fail(v, path, key, "not an object");
        return NULL;
    }
    return it;
}

static const cJSON *arr(vctx *v, const cJSON *o, const char *path, const char *key) {
    const cJSON *it = get(v, o, path, key);
    if (it && !cJSON_IsArray(it)) {
        fail(v, path, key, "not an array");
        return NULL;
    }
    return it;
}

static void stats(vctx *v, const cJSON *o, const char *path) {
    const cJSON *t = obj(v, o, path, "time");
    if (!t) return;
    char p[160];
    snprintf(p, sizeof(p), "%s.time", path);
    num(v, t, p, "n", 1, 0);
    num(v, t, p, "warmup", 0, 0);
    num(v, t, p, "inner", 1, 0);
    static const char *const k[] = {"median", "min", "max", "mean", "stddev"};
    for (int i = 0; i < 5; i++) num(v, t, p, k[i], 0, 0);
    if (v->bad) return;
    double mn = cJSON_GetObjectItem(t, "min")->valuedouble;
    double md = cJSON_GetObjectItem(t, "median")->valuedouble;
    double mx = cJSON_GetObjectItem(t, "max")->valuedouble;
    if (!(mn <= md && md <= mx)) fail(v, p, NULL, "min <= median <= max does not hold");
    const cJSON *s = arr(v, t, p, "samples");
    if (s && cJSON_GetArraySize(s) != (int)cJSON_GetObjectItem(t, "n")->valuedouble)
        fail(v, p, "samples", "length differs from n");
    const cJSON *e;
    if (s) cJSON_ArrayForEach(e, s) if (!cJSON_IsNumber(e) || e->valuedouble < 0)
        fail(v, p, "samples", "not all non-negative numbers");
}

/* Schema 2: the plain-C reference of a climp kernel case (trainer/bench_ref.c). */
static void reference(vctx *v, const cJSON *e, const char *path) {
    const cJSON *r = obj(v, e, path, "reference");
    if (!r) return;
    char p[160];
    snprintf(p, sizeof(p), "%s.reference", path);
    str(v, r, p, "function", NULL);
    str(v, r, p, "reason", NULL);
    if (!str(v, r, p, "status", "ok|skipped|off|unavailable|failed")) return;
    const cJSON *sp = get(v, e, path, "speedup_vs_reference");
    if (!sp) return;
    if (strcmp(cJSON_GetObjectItem(r, "status")->valuestring, "ok")) {
        if (!cJSON_IsNull(sp))
            fail(v, path, "speedup_vs_reference", "not null without a reference");
        return;
    }
    stats(v, r, p);
    num(v, r, p, "threads", 1, 0);
    const cJSON *bd = obj(v, r, p, "build");
    if (bd) {
        char q[176];
        snprintf(q, sizeof(q), "%s.build", p);
        str(v, bd, q, "compiler", NULL);
        str(v, bd, q, "flags", NULL);
    }
    if (!num(v, e, path, "speedup_vs_reference", 0, 0) || v->bad) return;
    const double rm = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "time"), "median")->valuedouble;
    const double dm = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "time"), "median")->valuedouble;
    if (!(dm > 0) || !(fabs(sp->valuedouble - rm / dm) <= 1e-6 * (rm / dm)))
        fail(v, path, "speedup_vs_reference", "differs from reference median / median");
}

static void entries(vctx *v, const cJSON *root, const char *section, int climp, int version) {
    const cJSON *a = arr(v, root, "$", section);
    const cJSON *e;
    int i = 0;
    if (!a) return;
    cJSON_ArrayForEach(e, a) {
        char p[128];
        snprintf(p, sizeof(p), "$.%s[%d]", section, i++);
        if (!cJSON_IsObject(e)) {
            fail(v, p, NULL, "not an object");
            return;
        }
        str(v, e, p, "key", NULL);
        if (!strcmp(section, "kernels")) {
            str(v, e, p, "name", NULL);
            str(v, e, p, "model", NULL);
            str(v, e, p, "shape", NULL);
            str(v, e, p, "variant", NULL);
            stats(v, e, p);
            num(v, e, p, "flops", 0, 0);
            num(v, e, p, "bytes", 0, 0);
            num(v, e, p, "intensity", 0, 1);
            num(v, e, p, "gflops", 0, 0);
            num(v, e, p, "gbps", 0, 0);
            num(v, e, p, "pct_peak_flops", 0, !climp);
            num(v, e, p, "pct_peak_bw", 0, !climp);
            num(v, e, p, "roofline_gflops", 0, 1);
            num(v, e, p, "pct_of_roofline", 0, !climp);
            str(v, e, p, "bound", climp ? "compute|memory" : "compute|memory|unknown");
            if (climp && version >= 2) reference(v, e, p);
        } else if (!strcmp(section, "train")) {
            str(v, e, p, "preset", NULL);
            str(v, e, p, "mode", "train_step|forward");
            num(v, e, p, "batch", 1, 0);
            num(v, e, p, "image_size", 1, 0);
            num(v, e, p, "text_len", 1, 0);
            stats(v, e, p);
            num(v, e, p, "samples_per_s", 0, 0);
            num(v, e, p, "flops_per_sample", 0, 0);
            num(v, e, p, "achieved_gflops", 0, 0);
            num(v, e, p, "pct_peak_flops", 0, 1);
            num(v, e, p, "energy_j_per_sample", 0, 1);
            if (climp) arr(v, e, p, "breakdown");
        } else if (!strcmp(section, "infer")) {
            str(v, e, p, "preset", NULL);
            str(v, e, p, "tower", "vision|text");
            num(v, e, p, "batch", 1, 0);
            num(v, e, p, "size", 1, 0);
            stats(v, e, p);
            num(v, e, p, "items_per_s", 0, 0);
            num(v, e, p, "flops_per_item", 0, 0);
            num(v, e, p, "achieved_gflops", 0, 0);
        } else {
            str(v, e, p, "preset", NULL);
            str(v, e, p, "series", "image|text");
            str(v, e, p, "mode", "infer|train");
            num(v, e, p, "size", 1, 0);
            str(v, e, p, "status", "ok|out_of_memory|skipped");
            num(v, e, p, "flops", 0, 0);
            const cJSON *st = cJSON_GetObjectItem(e, "status");
            if (cJSON_IsString(st) && !strcmp(st->valuestring, "ok")) {
                stats(v, e, p);
                num(v, e, p, "device_mem_peak_bytes", 0, !climp);
                num(v, e, p, "activation_bytes", 0, !climp);
            }
            const cJSON *sr = cJSON_GetObjectItem(e, "series");
            if (cJSON_IsString(sr) && !strcmp(sr->valuestring, "image")) {
                const cJSON *vit = obj(v, e, p, "vit_b16");
                char q[160];
                snprintf(q, sizeof(q), "%s.vit_b16", p);
                if (vit) {
                    num(v, vit, q, "flops", 0, 0);
                    num(v, vit, q, "attn_bytes_layer", 0, 0);
                    num(v, vit, q, "attn_bytes_train", 0, 0);
                    num(v, vit, q, "act_bytes_train", 0, 0);
                }
            }
        }
        if (v->bad) return;
    }
}

int climp_bench_validate(const char *json_text, char *err, size_t err_size) {
    vctx v = {err, err_size, 0};
    err[0] = 0;
    cJSON *root = cJSON_Parse(json_text);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, err_size, "not a JSON object");
        cJSON_Delete(root);
        return 1;
    }
    str(&v, root, "$", "schema", "climp-bench");
    const cJSON *sv = get(&v, root, "$", "schema_version");
    if (sv && !(cJSON_IsNumber(sv) && sv->valuedouble == sv->valueint && sv->valueint >= 1 &&
                sv->valueint <= CLIMP_BENCH_SCHEMA_VERSION))
        fail(&v, "$", "schema_version", "unsupported");
    const int version = sv && cJSON_IsNumber(sv) ? sv->valueint : 0;
    str(&v, root, "$", "tool", "climp|pytorch");
    str(&v, root, "$", "name", NULL);
    const cJSON *tool = cJSON_GetObjectItem(root, "tool");
    int climp = cJSON_IsString(tool) && !strcmp(tool->valuestring, "climp");
    const cJSON *pv = obj(&v, root, "$", "provenance");
    if (pv) {
        str(&v, pv, "$.provenance", "git_commit", NULL);
        str(&v, pv, "$.provenance", "date", NULL);
        str(&v, pv, "$.provenance", "command_line", NULL);
        obj(&v, pv, "$.provenance", "build");
        obj(&v, pv, "$.provenance", "os");
        obj(&v, pv, "$.provenance", "host");
        if (climp) {
            const cJSON *cl = obj(&v, pv, "$.provenance", "opencl");
            if (cl) {
                str(&v, cl, "$.provenance.opencl", "platform_name", NULL);
                str(&v, cl, "$.provenance.opencl", "device_name", NULL);
                str(&v, cl, "$.provenance.opencl", "driver_version", NULL);
            }
            const cJSON *cb = obj(&v, pv, "$.provenance", "clblast");
            if (cb) str(&v, cb, "$.provenance.clblast", "version", NULL);
            obj(&v, pv, "$.provenance", "tuning");
        }
    }
    const cJSON *dev = obj(&v, root, "$", "device");
    if (dev) {
        str(&v, dev, "$.device", "name", NULL);
        str(&v, dev, "$.device", "type", NULL);
        const cJSON *pk = obj(&v, dev, "$.device", "peaks");
        if (pk) {
            num(&v, pk, "$.device.peaks", "gflops", 1e-9, !climp);
            num(&v, pk, "$.device.peaks", "gbps", 1e-9, !climp);
        }
    }
    const cJSON *en = obj(&v, root, "$", "energy");
    if (en) {
        const cJSON *a = get(&v, en, "$.energy", "available");
        if (a && !cJSON_IsBool(a)) fail(&v, "$.energy", "available", "not a boolean");
        str(&v, en, "$.energy", "sensor", NULL);
    }
    const cJSON *se = obj(&v, root, "$", "settings");
    if (se) {
        num(&v, se, "$.settings", "reps", 1, 0);
        num(&v, se, "$.settings", "warmup", 0, 0);
        /* Written by the kernels section: required when it has entries. */
        if (climp && version >= 2 &&
            (cJSON_GetObjectItem(se, "reference") ||
             cJSON_GetArraySize(cJSON_GetObjectItem(root, "kernels")) > 0)) {
            const cJSON *rs = obj(&v, se, "$.settings", "reference");
            if (rs) {
                const cJSON *en2 = get(&v, rs, "$.settings.reference", "enabled");
                if (en2 && !cJSON_IsBool(en2))
                    fail(&v, "$.settings.reference", "enabled", "not a boolean");
                num(&v, rs, "$.settings.reference", "budget_s", 0, 0);
            }
        }
    }
    entries(&v, root, "kernels", climp, version);
    entries(&v, root, "train", climp, version);
    entries(&v, root, "infer", climp, version);
    entries(&v, root, "scaling", climp, version);
    arr(&v, root, "$", "errors");
    cJSON_Delete(root);
    return v.bad;
}
