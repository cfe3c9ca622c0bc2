/* Kernel bundles (trainer/bundle.c, runtime/program.c): the file-scope scanner on synthetic
 * snippets (what it renames, what it refuses) and on every FPGA kernel source; a bundle of every
 * FPGA program, two define sets of each, builds on the device, every kernel of it carries its
 * program's prefix and each program's prefixed kernels are exactly the kernels of that program
 * built alone; a binary-only context serves all of them from the one bundle binary (one binary
 * load, nothing compiled), falls back to per-program files for a program the map lacks, and
 * refuses a map whose key does not match the sources. */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "trainer/bundle.h"

static int has(char *const *v, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

/* Every name of a space-separated list is (want = 1) or is not (want = 0) in v. */
static void check_names(const char *what, char *const *v, int n, const char *list, int want) {
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        tu_check(has(v, n, w) == want, "%s: '%s' %s", what, w, want ? "renamed" : "not renamed");
}

static const char *const SNIPPET =
    "#define K(name, E) __kernel void name(__global float *o) { o[0] = E; }\n"
    "#define P(name) __kernel void name##_k(void) {}\n"
    "#define SCALE 2.0f /* a comment with # */\n"
    "typedef float real_t;\n"
    "struct pair { float a, b; };\n"
    "__constant float tab[2] = {1.0f, SCALE}, tab2[1] = {3.0f};\n"
    "static float helper(float x) { return x * tab[0] + tab2[0]; }\n"
    "K(kern_a, 1.0f)\n"
    "K(kern_b, helper(2.0f))\n"
    "__kernel __attribute__((reqd_work_group_size(1, 1, 1)))\n"
    "void kern_c(__global real_t *p, int n) {\n"
    "    struct pair q = {1.0f, 2.0f};\n"
    "    float2 v = (float2)(q.a, q.b);\n"
    "    if (n > 0) p[0] = v.x + v.y; /* ; } { */\n"
    "}\n";

static void scanner_snippets(void) {
    climp_bundle_scan sc;
    tu_check(climp_bundle_scan_text(SNIPPET, &sc) == CLIMP_OK, "snippet scans: %s",
             climp_error_detail());
    check_names("snippet", sc.names, sc.n_names, "real_t pair tab tab2 helper kern_a kern_b kern_c",
                1);
    check_names("snippet", sc.names, sc.n_names, "K P SCALE name E o x p n q a b v float", 0);
    check_names("snippet macros", sc.macros, sc.n_macros, "K P SCALE", 1);
    tu_check(sc.n_names == 8, "snippet: 8 names (got %d)", sc.n_names);
    tu_check(sc.n_resets == 0, "snippet: no pragma to reset");
    climp_bundle_scan_free(&sc);

    const char *prag = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n"
                       "#pragma OPENCL FP_CONTRACT OFF\n"
                       "void f(void) {\n#pragma unroll\n for (;;) {} }\n";
    tu_check(climp_bundle_scan_text(prag, &sc) == CLIMP_OK, "pragmas scan");
    tu_check(sc.n_resets == 2 && has(sc.resets, sc.n_resets,
                                     "#pragma OPENCL EXTENSION cl_khr_fp64 : disable") &&
                 has(sc.resets, sc.n_resets, "#pragma OPENCL FP_CONTRACT DEFAULT"),
             "file-scope pragmas reset (extension disabled, FP_CONTRACT to its default), the "
             "loop pragma ignored");
    climp_bundle_scan_free(&sc);
    const char *diag = "#ifdef __clang__\n#pragma clang diagnostic ignored \"-Wpsabi\"\n#endif\n"
                       "void g(void) {}\n";
    tu_check(climp_bundle_scan_text(diag, &sc) == CLIMP_OK, "clang diagnostic pragma scans");
    tu_check(sc.n_resets == 1 &&
                 has(sc.resets, sc.n_resets,
                     "#ifdef __clang__\n#pragma clang diagnostic warning \"-Wpsabi\"\n#endif"),
             "a silenced warning is restored after the program");
    climp_bundle_scan_free(&sc);

    static const char *const refused[][2] = {
        {"#define P(name) __kernel void name##_k(void) {}\nP(foo)\n", "pastes"},
        {"#define S(name) constant char *name = #name;\nS(foo)\n", "pastes or stringizes"},
        {"enum e { A, B };\n", "enum"},
        {"static float x(float v) { return v; }\n", "vector component"},
        {"static float s1(float v) { return v; }\n", "vector component"},
        {"#if A\nvoid f(void) {\n#else\nvoid f(int a) {\n#endif\n}\n", "unbalanced"},
        {"#pragma my_vendor_thing on\n", "cannot reset"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        climp_status s = climp_bundle_scan_text(refused[i][0], &sc);
        tu_check(s == CLIMP_ERR_UNSUPPORTED && strstr(climp_error_detail(), refused[i][1]),
                 "refused (%s): got %s '%s'", refused[i][1], climp_status_name(s),
                 climp_error_detail());
    }
    /* a paste macro whose pasted argument is not a file-scope identifier is fine */
    tu_check(climp_bundle_scan_text("#define V(a, b) a##b\ntypedef V(float, 4) vf;\n", &sc) ==
                     CLIMP_OK &&
                 sc.n_names == 1 && !strcmp(sc.names[0], "vf"),
             "typedef through a paste macro");
    climp_bundle_scan_free(&sc);
}

/* Hand-checked file-scope names of the FPGA sources (kernels, helpers), and words that stay. */
static void scanner_sources(void) {
    static const char *const want[][3] = {
        {"eltwise_fpga", "silu_fwd_swi clamp_inplace_swi bias_add_fwd_swi repeat_bwd_swi sr_sum "
                         "tree_sum ncdf_exp log1p_01 silu_grad gelu_grad softplus_f",
         "SWI FLAT_SWI SILU_FWD LANES FPGA_II IVDEP out a b n alpha"},
        {"norm_fpga", "layernorm_fwd_swi gated_rmsnorm_bwd_w_swi sr_sum tree_sum lsr_sum",
         "SWI ROW_SUM SILU LANES"},
        {"embed_loss_fpga", "embed_fwd_swi infonce_bwd_swi tree_max", "SWI L2_EPS ROW_FOR"},
        {"optim_fpga", "adamw_swi grad_sumsq_swi", "SWI LANES"},
        {"conv_fpga", "causal_conv1d_fwd_swi lasttoken_bwd_swi sr_sum", "SWI CONV1D_MAX_K"},
        {"scan_fpga", "scan_fwd_swi scan_bwd_swi softplus1 sigmoid1", "SWI UNROLL FPGA_IN_ARGS NS"},
        {"gemm", "gemm_fwd gemm_fwd_small gemm_fwd_vec gemm_fwd_swi", "TA TB FMA floatv GEMM_ARGS"},
        /* ndrange sources with a header (expanded in the program text) bundle too */
        {"scan", "scan_fwd scan_bwd_reduce_bc exp_neg_v softplus_v ldv hsum",
         "EXP_NEG REP TOK_ARGS CB"},
        {"scan_n1", "scan_fwd_n1 scan_bwd_n1 fwd_body bwd_body lanes sigmoid_v",
         "EXP2_NEG SOFTPLUS LD FWD_ARGS NV"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *text = climp_program_text(want[i][0], "", NULL);
        climp_bundle_scan sc;
        tu_check(text && climp_bundle_scan_text(text, &sc) == CLIMP_OK, "%s scans: %s",
                 want[i][0], climp_error_detail());
        if (text && sc.names) {
            check_names(want[i][0], sc.names, sc.n_names, want[i][1], 1);
            check_names(want[i][0], sc.names, sc.n_names, want[i][2], 0);
            tu_check((strcmp(want[i][0], "optim_fpga") == 0) ==
                         has(sc.resets, sc.n_resets, "#pragma OPENCL FP_CONTRACT DEFAULT"),
                     "%s: FP_CONTRACT reset only where the source sets it", want[i][0]);
        }
        climp_bundle_scan_free(&sc);
        free(text);
    }
}

/* The programs of the device checks: every FPGA source with two define sets, and all of gemm.cl. */
static const char *const SRC[] = {"eltwise_fpga", "eltwise_fpga", "norm_fpga", "norm_fpga",
                                  "optim_fpga", "embed_loss_fpga", "embed_loss_fpga", "optim_fpga",
                                  "conv_fpga", "conv_fpga", "scan_fpga", "scan_fpga", "gemm",
                                  "gemm", "gemm", "snippet", "snippet"};
static const char *const DEF[] = {"LANES=8 FPGA_II=8", "LANES=4 FPGA_II=2", "LANES=8 FPGA_II=8",
                                  "LANES=2 FPGA_II=4", "LANES=8 FPGA_II=8", "LANES=8 FPGA_II=8",
                                  "LANES=4 FPGA_II=4", "LANES=4 FPGA_II=2", "", "FPGA_II=4",
                                  "NS=1 CH=16 CHUNK=64", "NS=8 CH=16 CHUNK=64",
                                  "GEMM_KERNEL=4 USE_FMA=1", "GEMM_KERNEL=4 USE_FMA=0", "",
                                  "", "SCALE_UNUSED=1"};
#define NPROG ((int)(sizeof(SRC) / sizeof(SRC[0])))

/* Kernel names of a program text built on (dev): ';'-separated, malloc'd; NULL if it fails. */
static char *kernel_names(cl_context cc, cl_device_id dev, const char *text) {
    cl_int err;
    cl_program p = clCreateProgramWithSource(cc, 1, &text, NULL, &err);
    if (err != CL_SUCCESS) return NULL;
    char *names = NULL;
    if (clBuildProgram(p, 1, &dev, "-cl-std=CL1.2", NULL, NULL) == CL_SUCCESS) {
        size_t n = 0;
        clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &n);
        if ((names = calloc(n + 1, 1)))
            clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, n, names, NULL);
    } else {
        size_t n = 0;
        clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
        char *log = calloc(n + 1, 1);
        if (log) clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        fprintf(stderr, "build log:\n%.4000s\n", log ? log : "");
        free(log);
    }
    clReleaseProgram(p);
    return names;
}

static int count_names(const char *list) {
    int n = 0;
    for (const char *p = list; p && *p; p++) n += p == list || p[-1] == ';';
    return n;
}

/* Kernel names of the program in an offline-binary file (header: 10 + 8 + 8 bytes). */
static char *binary_kernel_names(cl_context cc, cl_device_id dev, const char *path) {
    FILE *f = fopen(path, "rb");
    static unsigned char buf[64 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f) fclose(f);
    if (n <= 26) return NULL;
    const unsigned char *bin = buf + 26;
    size_t len = n - 26;
    cl_int err, st;
    cl_program p = clCreateProgramWithBinary(cc, 1, &dev, &len, &bin, &st, &err);
    if (err != CL_SUCCESS) return NULL;
    char *names = NULL;
    size_t nn = 0;
    if (clBuildProgram(p, 1, &dev, "-cl-std=CL1.2", NULL, NULL) == CL_SUCCESS &&
        clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &nn) == CL_SUCCESS &&
        (names = calloc(nn + 1, 1)))
        clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, nn, names, NULL);
    clReleaseProgram(p);
    return names;
}

/* The bundle climp_bundle_write built (dir/file): its text is climp_bundle_text's; every kernel
 * has a program prefix; program i's are exactly the kernels it has alone. */
static void bundle_device(cl_context cc, cl_device_id dev, const char *dir, const char *file) {
    char *text = NULL, path[1200];
    uint64_t keys[NPROG];
    climp_status s = climp_bundle_text(NPROG, SRC, DEF, &text, keys);
    tu_check(s == CLIMP_OK, "bundle text: %s", climp_error_detail());
    if (s) return;
    snprintf(path, sizeof(path), "%s/bundle.cl", dir);
    FILE *f = fopen(path, "r");
    char *written = f ? calloc(strlen(text) + 2, 1) : NULL;
    if (written) tu_check(fread(written, 1, strlen(text) + 1, f) == strlen(text) &&
                              !strcmp(written, text), "bundle.cl is the bundle text");
    else tu_check(0, "bundle.cl is readable");
    free(written);
    if (f) fclose(f);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    char *bundled = binary_kernel_names(cc, dev, path);
    tu_check(bundled != NULL, "the bundle of %d programs loads on the device", NPROG);
    int total = 0;
    for (int i = 0; i < NPROG && bundled; i++) {
        uint64_t k = 0;
        char *alone_text = climp_program_text(SRC[i], DEF[i], &k);
        tu_check(k == keys[i], "%s [%s]: bundle key = program key", SRC[i], DEF[i]);
        char *alone = alone_text ? kernel_names(cc, dev, alone_text) : NULL;
        tu_check(alone && count_names(alone) > 0, "%s [%s] builds alone", SRC[i], DEF[i]);
        char want[8192] = "", pre[16];
        snprintf(pre, sizeof(pre), "p%d_", i);
        int n_alone = count_names(alone), found = 0;
        char *save = NULL;
        char *hay = malloc(strlen(bundled) + 3);
        if (hay) sprintf(hay, ";%s;", bundled);
        for (char *w = alone ? strtok_r(alone, ";", &save) : NULL; w && hay;
             w = strtok_r(NULL, ";", &save)) {
            snprintf(want, sizeof(want), ";%s%s;", pre, w);
            found += strstr(hay, want) != NULL;
        }
        free(hay);
        tu_check(found == n_alone, "%s [%s]: %d of %d kernels in the bundle as %s<name>", SRC[i],
                 DEF[i], found, n_alone, pre);
        total += n_alone;
        free(alone);
        free(alone_text);
    }
    /* every bundle kernel is prefixed (no unprefixed or doubly counted kernel) */
    int prefixed = 0;
    char *save = NULL;
    for (char *w = bundled ? strtok_r(bundled, ";", &save) : NULL; w;
         w = strtok_r(NULL, ";", &save)) {
        int idx = -1, off = 0;
        prefixed += sscanf(w, "p%d_%n", &idx, &off) == 1 && off > 0 && idx >= 0 && idx < NPROG;
    }
    tu_check(bundled && prefixed == total, "bundle: %d prefixed kernels, %d in the programs alone",
             prefixed, total);
    tu_check(strstr(text, "#pragma OPENCL FP_CONTRACT DEFAULT") != NULL,
             "optim_fpga's FP_CONTRACT OFF is reset for the programs after it");
    free(bundled);
    free(text);
}

/* The runtime serves the programs from the one binary; fallback; a stale map. */
static void bundle_runtime(const char *dir) {
    climp_ctx *ctx = NULL;
    climp_status s;
    static const char *const kern[] = {"silu_fwd_swi", "clamp_inplace_swi", "layernorm_fwd_swi",
                                       "rmsnorm_bwd_w_swi", "adamw_swi", "embed_fwd_swi",
                                       "infonce_bwd_swi", "grad_sumsq_swi", "cross_scan_swi",
                                       "avgpool_bwd_swi", "scan_fwd_swi", "scan_bwd_swi",
                                       "gemm_fwd_swi", "gemm_fwd_swi", "gemm_fwd", "kern_a",
                                       "kern_c"};
    climp_ctx_options o = {.kernel_binaries = dir};
    CLIMP_CHECK(climp_ctx_open(&o, &ctx));
    int ok = 0;
    for (int i = 0; i < NPROG; i++) {
        climp_kernel *k = NULL;
        s = climp_kernel_get(ctx, SRC[i], DEF[i], kern[i], &k);
        ok += s == CLIMP_OK && k && !strcmp(climp_kernel_name(k), kern[i]);
        if (s) fprintf(stderr, "  %s [%s] %s: %s\n", SRC[i], DEF[i], kern[i], climp_error_detail());
    }
    climp_counters c = climp_ctx_counters(ctx);
    tu_check(ok == NPROG, "binary-only: %d of %d programs' kernels served, unprefixed names", ok,
             NPROG);
    tu_check(c.binary_loads == 1 && c.source_compiles == 0,
             "one binary load for %d programs (got %ld loads, %ld compiles)", NPROG,
             c.binary_loads, c.source_compiles);
    climp_kernel *k = NULL;
    s = climp_kernel_get(ctx, "eltwise_fpga", "LANES=2 FPGA_II=2", "add_swi", &k);
    tu_check(s == CLIMP_ERR_NO_BINARY &&
                 strstr(climp_error_detail(), "no offline binary for kernel source 'eltwise_fpga'"),
             "a program the bundle lacks falls back to <source>-<key>.bin: %s",
             climp_error_detail());
    s = climp_kernel_get(ctx, "gemm", "", "no_such_kernel", &k);
    tu_check(s != CLIMP_OK && strstr(climp_error_detail(), "'no_such_kernel'") &&
                 strstr(climp_error_detail(), "kernel bundle"),
             "unknown kernel of a bundled program: %s", climp_error_detail());
    climp_ctx_close(ctx);

    /* a map whose program key does not match this climp's sources */
    char path[1200];
    snprintf(path, sizeof(path), "%s/bundle.map", dir);
    FILE *f = fopen(path, "r+");
    char map[8192] = "";
    size_t n = f ? fread(map, 1, sizeof(map) - 1, f) : 0;
    char *key = strstr(map, "scan_fpga\tNS=8 CH=16 CHUNK=64\t");
    if (key) key += strlen("scan_fpga\tNS=8 CH=16 CHUNK=64\t");
    if (key) *key = *key == '0' ? '1' : '0';
    tu_check(f && key && !fseek(f, 0, SEEK_SET) && fwrite(map, 1, n, f) == n, "map edited");
    if (f) fclose(f);
    CLIMP_CHECK(climp_ctx_open(&o, &ctx));
    s = climp_kernel_get(ctx, "scan_fpga", "NS=1 CH=16 CHUNK=64", "scan_fwd_swi", &k);
    tu_check(s == CLIMP_OK, "untouched entry still served: %s", climp_error_detail());
    s = climp_kernel_get(ctx, "scan_fpga", "NS=8 CH=16 CHUNK=64", "scan_fwd_swi", &k);
    tu_check(s == CLIMP_ERR_NO_BINARY &&
                 strstr(climp_error_detail(), "built from other kernel sources"),
             "stale key refused: %s", climp_error_detail());
    climp_ctx_close(ctx);
}

int main(void) {
    scanner_snippets();
    scanner_sources();
    climp_ctx *ctx = tu_open_ctx(); /* exits 77 without a device */
    char kdir[] = "/tmp/climp-test-bundle-XXXXXX";
    if (!mkdtemp(kdir)) return 1;
    char path[256], bdir[300];
    snprintf(path, sizeof(path), "%s/snippet.cl", kdir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(SNIPPET, f) < 0 || fclose(f)) return 1;
    setenv("CLIMP_KERNEL_DIR", kdir, 1); /* "snippet" besides the embedded sources */
    snprintf(bdir, sizeof(bdir), "%s/bins", kdir);
    char file[256] = "";
    climp_status s = climp_bundle_write(ctx, bdir, NPROG, SRC, DEF, file, sizeof(file));
    tu_check(s == CLIMP_OK && !strncmp(file, "bundle-", 7), "climp_bundle_write: %s %s", file,
             climp_error_detail());
    climp_ctx_close(ctx);
    cl_platform_id pl[8];
    cl_uint np = 0;
    cl_device_id dev = NULL;
    clGetPlatformIDs(8, pl, &np);
    for (cl_uint i = 0; i < np && !dev; i++)
        if (clGetDeviceIDs(pl[i], CL_DEVICE_TYPE_ALL, 1, &dev, NULL) != CL_SUCCESS) dev = NULL;
    cl_int err;
    cl_context cc = dev ? clCreateContext(NULL, 1, &dev, NULL, NULL, &err) : NULL;
    tu_check(cc != NULL, "raw OpenCL context");
    if (cc && !s) bundle_device(cc, dev, bdir, file);
    if (cc) clReleaseContext(cc);
    if (!s) bundle_runtime(bdir);
    snprintf(path, sizeof(path), "rm -rf '%s'", kdir);
    if (system(path)) fprintf(stderr, "cannot remove %s\n", kdir);
    return tu_finish("bundle");
}
