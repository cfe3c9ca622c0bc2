/* Runtime tests: status names, device selection, a kernel vs its C reference, the binary cache
 * (a second process compiles nothing), binary-only mode, build-log reporting, arena, transfers. */
#define _POSIX_C_SOURCE 200809L
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void axpy_ref(int n, float a, const float *x, float *y) {
    for (int i = 0; i < n; i++) y[i] = a * x[i] + y[i];
}

static void test_status_names(void) {
    climp_status code;
    const char *name;
    int n = 0;
    for (int i = 0; climp_status_table(i, &code, &name); i++, n++) {
        for (int j = 0; j < i; j++) {
            climp_status c2;
            const char *n2;
            climp_status_table(j, &c2, &n2);
            tu_check(c2 != code, "status code %d listed twice (%s, %s)", code, name, n2);
            tu_check(strcmp(n2, name) != 0, "status name %s listed twice", name);
        }
    }
    /* Every OpenCL 1.2-3.0 core code has a name. */
    static const int core[] = {-1,  -2,  -3,  -4,  -5,  -6,  -7,  -8,  -9,  -10, -11, -12, -13,
                               -14, -15, -16, -17, -18, -19, -30, -31, -32, -33, -34, -35, -36,
                               -37, -38, -39, -40, -41, -42, -43, -44, -45, -46, -47, -48, -49,
                               -50, -51, -52, -53, -54, -55, -56, -57, -58, -59, -60, -61, -62,
                               -63, -64, -65, -66, -67, -68, -69, -70, -71, -72, -1001};
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
        tu_check(strncmp(climp_status_name(core[i]), "UNKNOWN", 7) != 0, "code %d has no name",
                 core[i]);
    for (int c = CLIMP_ERR_INVALID_ARG; c > CLIMP_ERR_NAME_MAX_; c--)
        tu_check(!strncmp(climp_status_name(c), "CLIMP_ERR_", 10), "project code %d unnamed", c);
    tu_check(!strcmp(climp_status_name(-5), "CL_OUT_OF_RESOURCES"), "CL_OUT_OF_RESOURCES name");
    tu_check(!strncmp(climp_status_name(-12345), "UNKNOWN_STATUS(-12345)", 22), "unknown code");
    tu_check(n > 80, "status table has %d entries", n);
}

static void test_selection(void) {
    climp_ctx *ctx = NULL;
    climp_ctx_options o = {0};
    o.device = "99:99";
    tu_check(climp_ctx_open(&o, &ctx) == CLIMP_ERR_DEVICE_NOT_FOUND, "bad index refused");
    tu_check(strstr(climp_error_detail(), "99:99") != NULL, "error names the selector");
    o.device = "no-such-device-xyz";
    tu_check(climp_ctx_open(&o, &ctx) == CLIMP_ERR_DEVICE_NOT_FOUND, "unmatched name refused");
    climp_device_info *devs = NULL;
    int n = 0;
    CLIMP_CHECK(climp_devices_list(&devs, &n));
    tu_check(n >= 1, "at least one device");
    /* Select the first device by a substring of its name, in another case. */
    char sub[64];
    snprintf(sub, sizeof(sub), "%.6s", devs[0].name);
    for (char *p = sub; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    o.device = sub;
    tu_check(climp_ctx_open(&o, &ctx) == CLIMP_OK, "select by substring '%s'", sub);
    if (ctx) tu_check(!strcmp(climp_ctx_info(ctx)->name, devs[0].name), "right device");
    climp_ctx_close(ctx);
    free(devs);
}

static int run_axpy(climp_ctx *ctx, const char *defines, int n, float a, float *out) {
    tu_rng r;
    tu_rng_seed(&r, 7);
    float *x = tu_alloc_rand(&r, n + 5, -1, 1), *y = tu_alloc_rand(&r, n + 5, -1, 1);
    climp_buffer *bx = tu_upload(ctx, "x", x, n + 5), *by = tu_upload(ctx, "y", y, n + 5);
    climp_kernel *k = NULL;
    climp_status s = climp_kernel_get(ctx, "selftest", defines, "selftest_axpy", &k);
    if (s == CLIMP_OK) {
        size_t gws = climp_round_up(n, 64), lws = 64;
        climp_tview vx = climp_view_sub(climp_buffer_view(bx), 3, n);
        climp_tview vy = climp_view_sub(climp_buffer_view(by), 5, n);
        s = CLIMP_LAUNCH(ctx, k, 1, &gws, &lws, climp_arg_view(vx), climp_arg_view(vy),
                         climp_arg_i32(n), climp_arg_f32(a));
        if (s == CLIMP_OK) s = climp_view_read(ctx, vy, out, n);
        float *ref = malloc(n * sizeof(float));
        memcpy(ref, y + 5, n * sizeof(float));
        axpy_ref(n, strstr(defines, "SCALE2=1") ? 2 * a : a, x + 3, ref);
        if (s == CLIMP_OK) tu_check(tu_compare("axpy", out, ref, n, 1e-6f, 1e-6f) == 0, "axpy vs ref");
        free(ref);
    }
    climp_buffer_destroy(bx);
    climp_buffer_destroy(by);
    free(x);
    free(y);
    return s;
}

static void test_kernel_and_buffers(climp_ctx *ctx) {
    static const int sizes[] = {1, 7, 64, 1000, 4099};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        float *out = malloc(sizes[i] * sizeof(float));
        tu_check(run_axpy(ctx, "", sizes[i], 0.75f, out) == CLIMP_OK, "axpy n=%d", sizes[i]);
        free(out);
    }
    /* A view outside its buffer is refused before enqueueing. */
    climp_buffer *b = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "small", 64, &b));
    climp_kernel *k;
    CLIMP_CHECK(climp_kernel_get(ctx, "selftest", "", "selftest_axpy", &k));
    climp_tview bad = {b, 10, 10};
    size_t g = 16;
    long before = climp_ctx_counters(ctx).launches;
    tu_check(CLIMP_LAUNCH(ctx, k, 1, &g, NULL, climp_arg_view(bad), climp_arg_view(bad),
                          climp_arg_i32(10), climp_arg_f32(1)) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "out-of-range view refused");
    tu_check(climp_ctx_counters(ctx).launches == before, "nothing enqueued");
    float tmp[32];
    tu_check(climp_buffer_read(ctx, b, 32, 64, tmp) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "read past end refused");
    /* Memory accounting. */
    tu_check(climp_ctx_mem_current(ctx) >= 64, "memory accounted");
    climp_buffer_destroy(b);
    /* Arena: sizing pass, reserve, reuse. */
    climp_arena *a = NULL;
    CLIMP_CHECK(climp_arena_create(ctx, "acts", 0, &a));
    climp_tview v1, v2;
    tu_check(climp_arena_alloc(a, 10, &v1) == CLIMP_ERR_ARENA_FULL, "unsized arena refuses");
    climp_arena_reset(a, 0);
    climp_arena_set_sizing(a, 1);
    CLIMP_CHECK(climp_arena_alloc(a, 100, &v1));
    CLIMP_CHECK(climp_arena_alloc(a, 1000, &v2));
    size_t peak = climp_arena_peak_bytes(a);
    tu_check(peak >= 1100 * 4 && v2.off % 64 == 0 && !v2.buf, "arena sizing pass (peak %zu)",
             peak);
    climp_arena_set_sizing(a, 0);
    CLIMP_CHECK(climp_arena_reserve(a, 0));
    CLIMP_CHECK(climp_arena_alloc(a, 100, &v1));
    size_t m = climp_arena_mark(a);
    CLIMP_CHECK(climp_arena_alloc(a, 1000, &v2));
    tu_check(climp_arena_alloc(a, 1 << 20, &v2) == CLIMP_ERR_ARENA_FULL, "arena full reported");
    climp_arena_reset(a, m);
    tu_check(climp_arena_alloc(a, 1000, &v2) == CLIMP_OK && v2.buf, "arena reuse after reset");
    float ones[1000], back[1000];
    for (int i = 0; i < 1000; i++) ones[i] = (float)i;
    CLIMP_CHECK(climp_view_write(ctx, v2, ones, 1000));
    CLIMP_CHECK(climp_view_read(ctx, v2, back, 1000));
    tu_check(!memcmp(ones, back, sizeof(ones)), "arena view round trip");
    climp_arena_destroy(a);
}

/* Child mode: open the device, fetch the kernels, print counters. */
static int child(const char *mode) {
    climp_ctx *ctx = NULL;
    climp_ctx_options o = {0};
    if (!strcmp(mode, "binonly")) o.kernel_binaries = getenv("TEST_BINDIR");
    climp_status s = climp_ctx_open(&o, &ctx);
    if (s) {
        printf("open %s\n", climp_status_name(s));
        return 3;
    }
    float out[100];
    if (!strcmp(mode, "broken")) {
        climp_kernel *k;
        s = climp_kernel_get(ctx, "broken", "", "broken_kernel", &k);
        printf("broken %s\n", climp_status_name(s));
    } else if (!strcmp(mode, "binonly-missing")) {
        o.kernel_binaries = getenv("TEST_BINDIR");
        climp_ctx_close(ctx);
        CLIMP_CHECK(climp_ctx_open(&o, &ctx));
        climp_kernel *k;
        s = climp_kernel_get(ctx, "selftest", "SCALE2=1", "selftest_axpy", &k);
        printf("missing %s: %s\n", climp_status_name(s), climp_error_detail());
    } else {
        s = run_axpy(ctx, "", 100, 0.5f, out);
        printf("axpy %s %.9g\n", climp_status_name(s), out[17]);
    }
    climp_counters c = climp_ctx_counters(ctx);
    printf("compiles %ld loads %ld\n", c.source_compiles, c.binary_loads);
    climp_ctx_close(ctx);
    return 0;
}

static char *run_child(const char *self, const char *env, const char *mode) {
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s '%s' --child %s 2>&1", env, self, mode);
    FILE *p = popen(cmd, "r");
    static char buf[8192];
    size_t n = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
    buf[n] = 0;
    if (p) pclose(p);
    return buf;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) abort();
}

/* `#include "NAME.clh"` in a kernel source is expanded by the host (headers can nest); a missing
 * header is refused with its name, before anything is built. */
static void test_include(const char *kdir) {
    write_text(kdir, "inc_main.cl",
               "/* line 1 */\n#include \"inc_outer.clh\"\nkernel void inc_kernel(global float *x,"
               " const ulong x_off) { x[x_off] = INC_VALUE + inc_twice(1.5f) + __LINE__; }\n");
    write_text(kdir, "inc_outer.clh", "#include \"inc_inner.clh\"\n#define INC_VALUE 2.0f\n");
    write_text(kdir, "inc_inner.clh", "static float inc_twice(float v) { return 2.0f * v; }\n");
    write_text(kdir, "inc_missing.cl", "#include \"no_such_header.clh\"\n");
    setenv("CLIMP_KERNEL_DIR", kdir, 1);
    climp_ctx *ctx = tu_open_ctx();
    climp_kernel *k = NULL;
    climp_buffer *b = NULL;
    float got = 0;
    CLIMP_CHECK(climp_buffer_create(ctx, "inc", 4, &b));
    const climp_status s = climp_kernel_get(ctx, "inc_main", "", "inc_kernel", &k);
    tu_check(s == CLIMP_OK, "a source with nested headers builds: %s", climp_error_detail());
    size_t g = 1;
    if (s == CLIMP_OK) {
        CLIMP_CHECK(CLIMP_LAUNCH(ctx, k, 1, &g, NULL, climp_arg_view((climp_tview){b, 0, 1})));
        CLIMP_CHECK(climp_buffer_read(ctx, b, 0, 4, &got));
    }
    /* 2 + 3 + the line of the kernel in inc_main.cl (3): numbering survives the expansion */
    tu_check(got == 8.0f, "headers' code runs and __LINE__ is the including file's (%g)", got);
    tu_check(climp_kernel_get(ctx, "inc_missing", "", "x", &k) == CLIMP_ERR_NO_KERNEL_SOURCE &&
                 strstr(climp_error_detail(), "no_such_header.clh"),
             "missing header named: %s", climp_error_detail());
    climp_buffer_destroy(b);
    climp_ctx_close(ctx);
    unsetenv("CLIMP_KERNEL_DIR");
}

static void test_caches(const char *self) {
    char dir[] = "/tmp/climp-rt-XXXXXX";
    if (!mkdtemp(dir)) abort();
    char env[512], out1[8192];
    snprintf(env, sizeof(env), "CLIMP_CACHE_DIR=%s/cache", dir);
    snprintf(out1, sizeof(out1), "%s", run_child(self, env, "axpy"));
    tu_check(strstr(out1, "compiles 1 loads 0") != NULL, "cold start compiles: %s", out1);
    const char *out2 = run_child(self, env, "axpy");
    tu_check(strstr(out2, "compiles 0 loads 1") != NULL, "warm start compiles nothing: %s", out2);
    /* Same numbers from cache and from source. */
    const char *v1 = strstr(out1, "axpy CL_SUCCESS"), *v2 = strstr(out2, "axpy CL_SUCCESS");
    tu_check(v1 && v2 && !strncmp(v1, v2, 30), "cached binary gives the same result");
    char env2[2048];
    snprintf(env2, sizeof(env2), "%s CLIMP_NO_BINARY_CACHE=1", env);
    tu_check(strstr(run_child(self, env2, "axpy"), "compiles 1 loads 0") != NULL,
             "CLIMP_NO_BINARY_CACHE=1 compiles");
    /* Offline binaries: write, then load in binary-only mode. */
    climp_ctx *ctx = tu_open_ctx();
    char bindir[300];
    snprintf(bindir, sizeof(bindir), "%s/bins", dir);
    tu_check(climp_write_kernel_binaries(ctx, bindir) == CLIMP_OK, "write binaries: %s",
             climp_error_detail());
    climp_ctx_close(ctx);
    snprintf(env2, sizeof(env2), "%s TEST_BINDIR=%s", env, bindir);
    const char *out3 = run_child(self, env2, "binonly");
    tu_check(strstr(out3, "compiles 0 loads 1") != NULL, "binary-only loads: %s", out3);
    const char *v3 = strstr(out3, "axpy CL_SUCCESS");
    tu_check(v1 && v3 && !strncmp(v1, v3, 30), "binary-only result identical");
    const char *out4 = run_child(self, env2, "binonly-missing");
    tu_check(strstr(out4, "missing CLIMP_ERR_NO_BINARY") && strstr(out4, "selftest") &&
                 strstr(out4, "compiles 0"),
             "missing binary refused, names the kernel, compiles nothing: %s", out4);
    /* A kernel with a syntax error reports its build log. */
    char kdir[400], path[500];
    snprintf(kdir, sizeof(kdir), "%s/kernels", dir);
    mkdir(kdir, 0755);
    snprintf(path, sizeof(path), "%s/broken.cl", kdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "__kernel void broken_kernel(__global float *x) { x[0] = undefined_thing + ; }\n");
    fclose(f);
    snprintf(env2, sizeof(env2), "%s CLIMP_KERNEL_DIR=%s", env, kdir);
    const char *out5 = run_child(self, env2, "broken");
    tu_check(strstr(out5, "broken CLIMP_ERR_BUILD") && strstr(out5, "build log") &&
                 strstr(out5, "broken.cl") && strstr(out5, "undefined_thing") &&
                 strstr(out5, "driver"),
             "build failure prints kernel, device, driver and log: %s", out5);
    test_include(kdir);
    char rm[600];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    if (system(rm)) fprintf(stderr, "cleanup failed\n");
}

/* climp_hostmap: two views of one buffer share one mapping (read one, write the other), a
 * second buffer maps beside it, writes land, and a ninth buffer is refused. */
static void test_hostmap(climp_ctx *ctx) {
    climp_buffer *a = NULL, *b = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "hostmap.a", 64 * sizeof(float), &a));
    CLIMP_CHECK(climp_buffer_create(ctx, "hostmap.b", 8 * sizeof(float), &b));
    float h[64];
    for (int i = 0; i < 64; i++) h[i] = (float)i;
    CLIMP_CHECK(climp_buffer_write(ctx, a, 0, sizeof h, h));
    CLIMP_CHECK(climp_buffer_write(ctx, b, 0, 8 * sizeof(float), h));
    const climp_tview va = climp_buffer_view(a);
    const climp_tview lo = climp_view_sub(va, 3, 10), hi = climp_view_sub(va, 40, 16);
    const climp_tview vb = climp_buffer_view(b), none = {0};
    climp_hostmap m = {0};
    CLIMP_CHECK(climp_hostmap_add(&m, lo, 10, 0));
    CLIMP_CHECK(climp_hostmap_add(&m, hi, 16, 1));
    CLIMP_CHECK(climp_hostmap_add(&m, vb, 8, 0));
    CLIMP_CHECK(climp_hostmap_add(&m, none, 5, 1)); /* ignored */
    tu_check(m.n == 2, "views of one buffer merge into one region (%d regions)", m.n);
    CLIMP_CHECK(climp_hostmap_map(ctx, &m, "test"));
    const float *pl = climp_hostmap_ptr(&m, lo), *pb = climp_hostmap_ptr(&m, vb);
    float *ph = climp_hostmap_ptr(&m, hi);
    tu_check(pl && ph && pb && pl[0] == 3.0f && pl[9] == 12.0f && ph[0] == 40.0f &&
                 pb[7] == 7.0f && ph - pl == 37,
             "mapped pointers address the views' elements");
    for (int i = 0; i < 16; i++) ph[i] = -1.0f - (float)i;
    CLIMP_CHECK(climp_hostmap_unmap(ctx, &m));
    tu_check(climp_hostmap_ptr(&m, lo) == NULL, "no pointer after unmap");
    float back[64];
    CLIMP_CHECK(climp_buffer_read(ctx, a, 0, sizeof back, back));
    tu_check(back[39] == 39.0f && back[40] == -1.0f && back[55] == -16.0f && back[56] == 56.0f,
             "writes through the mapping land, nothing else changes");
    climp_hostmap full = {0};
    climp_buffer *many[CLIMP_HOSTMAP_MAX + 1] = {0};
    climp_status last = CLIMP_OK;
    for (int i = 0; i <= CLIMP_HOSTMAP_MAX; i++) {
        CLIMP_CHECK(climp_buffer_create(ctx, "hostmap.n", 16, &many[i]));
        last = climp_hostmap_add(&full, climp_buffer_view(many[i]), 4, 0);
    }
    tu_check(last == CLIMP_ERR_INVALID_ARG, "buffer %d of a host map is refused: %s",
             CLIMP_HOSTMAP_MAX + 1, climp_status_name(last));
    for (int i = 0; i <= CLIMP_HOSTMAP_MAX; i++) climp_buffer_destroy(many[i]);
    climp_buffer_destroy(a);
    climp_buffer_destroy(b);
}

/* Buffers of 16 MiB and more on a CPU device live on the runtime's own huge-page memory, each at
 * its own colour (runtime/buffer.c): contents survive writes, copies and mappings, and the
 * buffers start at different offsets modulo 4 KB (no 4K aliasing between streams). */
static void test_large_buffers(climp_ctx *ctx) {
    enum { NB = 3 };
    const size_t n = (17u << 20) / sizeof(float) + 5;
    climp_buffer *b[NB] = {0};
    float *h = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    if (!h || !back) abort();
    for (size_t i = 0; i < n; i++) h[i] = (float)(i % 1000003);
    for (int k = 0; k < NB; k++) CLIMP_CHECK(climp_buffer_create(ctx, "large", n * 4, &b[k]));
    CLIMP_CHECK(climp_buffer_write(ctx, b[0], 0, n * 4, h));
    CLIMP_CHECK(climp_buffer_copy(ctx, b[0], 0, b[1], 0, n * 4));
    CLIMP_CHECK(climp_buffer_read(ctx, b[1], 0, n * 4, back));
    tu_check(!memcmp(h, back, n * 4), "a 17 MiB buffer holds what was written and copied");
    climp_hostmap m = {0};
    for (int k = 0; k < NB; k++) CLIMP_CHECK(climp_hostmap_add(&m, climp_buffer_view(b[k]), n, 1));
    CLIMP_CHECK(climp_hostmap_map(ctx, &m, "test"));
    uintptr_t low[NB];
    for (int k = 0; k < NB; k++) low[k] = (uintptr_t)climp_hostmap_ptr(&m, climp_buffer_view(b[k])) % 4096;
    float *p2 = climp_hostmap_ptr(&m, climp_buffer_view(b[2]));
    tu_check(p2 != NULL, "a large buffer maps");
    if (p2) p2[n - 1] = 42.0f;
    CLIMP_CHECK(climp_hostmap_unmap(ctx, &m));
    float last = 0;
    CLIMP_CHECK(climp_buffer_read(ctx, b[2], (n - 1) * 4, 4, &last));
    tu_check(last == 42.0f, "a write through the mapping of a large buffer lands");
    const climp_device_info *d = climp_ctx_info(ctx);
    const char *e = getenv("CLIMP_HUGEPAGES");
    if (d->is_cpu && d->host_unified_memory && !(e && !strcmp(e, "0")))
        tu_check(low[0] != low[1] && low[1] != low[2] && low[0] != low[2],
                 "large buffers start at different offsets modulo 4 KB (%lu %lu %lu)",
                 (unsigned long)low[0], (unsigned long)low[1], (unsigned long)low[2]);
    for (int k = 0; k < NB; k++) climp_buffer_destroy(b[k]);
    free(h), free(back);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--child")) return child(argv[2]);
    test_status_names();
    climp_ctx *ctx = tu_open_ctx();
    test_selection();
    test_kernel_and_buffers(ctx);
    test_hostmap(ctx);
    test_large_buffers(ctx);
    climp_ctx_close(ctx);
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        test_caches(self);
    }
    return tu_finish("test_runtime");
}
