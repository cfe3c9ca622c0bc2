/* `climp devices` and `climp compile-kernels`, plus the CLI's option-parsing helpers.
 * compile-kernels runs one training step (forward, backward, AdamW) and the inference embeds of a
 * random-initialised model on a synthetic batch, so that every program (kernel source + defines)
 * the product requests for that preset, image size and batch size is built, writes them all with
 * climp_write_kernel_binaries, then checks that the same workload runs from the folder alone in
 * binary-only mode. --list-programs prints the programs the workload needs (for
 * scripts/fpga/build.sh); --bundle also writes them as one kernel bundle (trainer/bundle.c: one
 * binary, so an FPGA holds one bitstream) and checks the workload runs from it alone with one
 * binary load; docs/fpga.md describes the flow. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/cli.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/climp_model.h"
#include "trainer/bundle.h"
#include "trainer/optimizer.h"

void climp_report_error(const char *what, climp_status s) {
    const char *d = climp_error_detail();
    fprintf(stderr, "climp: %s: %s%s%s\n", what, climp_status_name(s), d[0] ? ": " : "", d);
}

int climp_opt_str(int argc, char **argv, int *i, const char *name, const char **out) {
    if (strcmp(argv[*i], name)) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "climp: option %s needs a value\n", name);
        exit(2);
    }
    *out = argv[++*i];
    return 1;
}

int climp_opt_int(int argc, char **argv, int *i, const char *name, long lo, long hi, long *out) {
    const char *s;
    if (!climp_opt_str(argc, argv, i, name, &s)) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "climp: option %s: '%s' is not an integer in [%ld, %ld]\n", name, s, lo,
                hi);
        exit(2);
    }
    *out = v;
    return 1;
}

int climp_opt_float(int argc, char **argv, int *i, const char *name, double lo, double hi,
                    double *out) {
    const char *s;
    if (!climp_opt_str(argc, argv, i, name, &s)) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "climp: option %s: '%s' is not a number in [%g, %g]\n", name, s, lo, hi);
        exit(2);
    }
    *out = v;
    return 1;
}

static void print_gib(const char *label, uint64_t bytes) {
    printf("    %-22s %.2f GiB\n", label, bytes / 1073741824.0);
}

static cJSON *device_json(const climp_device_info *d) {
    cJSON *o = cJSON_CreateObject();
    char idx[32];
    snprintf(idx, sizeof(idx), "%d:%d", d->platform_index, d->device_index);
    cJSON_AddStringToObject(o, "index", idx);
    cJSON_AddStringToObject(o, "platform", d->platform_name);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddStringToObject(o, "type", d->type);
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "device_version", d->device_version);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "global_mem_cache_bytes", (double)d->global_mem_cache_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    cJSON_AddBoolToObject(o, "subgroups", d->subgroups);
    cJSON_AddBoolToObject(o, "compiler_available", d->compiler_available);
    cJSON_AddBoolToObject(o, "host_unified_memory", d->host_unified_memory);
    cJSON_AddNumberToObject(o, "peak_gflops_estimate", d->peak_gflops);
    cJSON_AddNumberToObject(o, "peak_gbps_estimate", d->peak_gbps);
    cJSON_AddStringToObject(o, "peak_estimate_method", d->peak_note);
    return o;
}

int climp_cmd_devices(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: climp devices [--json]\n\n"
                   "Lists every OpenCL device of every platform the ICD loader finds, with the\n"
                   "index to pass to --device (P:D), its capabilities and estimated peaks.\n"
                   "Select a device elsewhere with --device P:D, --device <name substring> or\n"
                   "CLIMP_DEVICE.\n");
            return 0;
        } else {
            fprintf(stderr, "climp devices: unknown option '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    climp_device_info *devs = NULL;
    int n = 0;
    climp_status s = climp_devices_list(&devs, &n);
    if (s == CLIMP_ERR_NO_PLATFORM || s == CLIMP_ERR_NO_DEVICE) {
        fprintf(stderr,
                "climp: no OpenCL device found (%s). Hint: install a driver (on Debian: apt-get "
                "install pocl-opencl-icd for the CPU) or check OCL_ICD_VENDORS / "
                "/etc/OpenCL/vendors.\n",
                climp_status_name(s));
        return 1;
    }
    if (s) {
        climp_report_error("listing devices", s);
        return 1;
    }
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, device_json(&devs[i]));
        char *txt = cJSON_Print(arr);
        printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(arr);
    } else {
        for (int i = 0; i < n; i++) {
            const climp_device_info *d = &devs[i];
            printf("[%d:%d] %s\n", d->platform_index, d->device_index, d->name);
            printf("    %-22s %s (%s)\n", "platform", d->platform_name, d->platform_version);
            printf("    %-22s %s, %s\n", "vendor, type", d->vendor, d->type);
            printf("    %-22s %s\n", "driver", d->driver_version);
            printf("    %-22s %s / %s\n", "OpenCL", d->device_version, d->opencl_c_version);
            printf("    %-22s %u @ %u MHz\n", "compute units", d->compute_units, d->clock_mhz);
            print_gib("global memory", d->global_mem_bytes);
            printf("    %-22s %.0f KiB\n", "local memory", d->local_mem_bytes / 1024.0);
            printf("    %-22s %.0f KiB\n", "global memory cache", d->global_mem_cache_bytes / 1024.0);
            print_gib("max allocation", d->max_alloc_bytes);
            printf("    %-22s %zu\n", "max work-group size", d->max_work_group_size);
            printf("    %-22s fp16 %s, fp64 %s, subgroups %s\n", "features", d->fp16 ? "yes" : "no",
                   d->fp64 ? "yes" : "no", d->subgroups ? "yes" : "no");
            printf("    %-22s %s\n", "online compiler", d->compiler_available ? "yes" : "no");
            printf("    %-22s %s\n", "host-unified memory", d->host_unified_memory ? "yes" : "no");
            printf("    %-22s %.0f GFLOP/s fp32, %s GB/s\n", "estimated peak", d->peak_gflops,
                   d->peak_gbps > 0 ? "" : "?");
            if (d->peak_gbps > 0) printf("    %-22s %.0f GB/s\n", "memory bandwidth", d->peak_gbps);
            printf("    %-22s %s\n", "estimate method", d->peak_note);
        }
    }
    free(devs);
    return 0;
}

/* ---------------------------------------------------------------- compile-kernels */

typedef struct ck_opts {
    climp_config cfg;
    int S, B, T; /* image size, batch size, caption tokens */
} ck_opts;

/* Synthetic batch: images U(-2, 2), B captions of random byte-tokenizer ids, lengths T, T-1, ..
 * (at least 1) so that padding and the last-token gather are exercised. */
typedef struct ck_batch {
    float *images, *emb;
    int32_t *tokens, *lengths;
} ck_batch;

static void ck_batch_free(ck_batch *b) {
    free(b->images);
    free(b->emb);
    free(b->tokens);
    free(b->lengths);
}

static climp_status ck_batch_make(const ck_opts *o, ck_batch *b) {
    const size_t ni = (size_t)o->B * o->S * o->S * 3, nt = (size_t)o->B * o->T;
    b->images = malloc(ni * sizeof(float));
    b->emb = malloc((size_t)o->B * o->cfg.embed_dim * sizeof(float));
    b->tokens = malloc(nt * sizeof(int32_t));
    b->lengths = malloc((size_t)o->B * sizeof(int32_t));
    if (!b->images || !b->emb || !b->tokens || !b->lengths) return CLIMP_ERR_HOST_OOM;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < ni; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b->images[i] = -2.0f + 4.0f * (float)((x >> 40) * (1.0 / 16777216.0));
    }
    const int vocab = o->cfg.text.vocab < 258 ? o->cfg.text.vocab : 258;
    for (size_t i = 0; i < nt; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b->tokens[i] = 2 + (int32_t)((x >> 33) % (uint64_t)(vocab - 2));
    }
    for (int i = 0; i < o->B; i++) b->lengths[i] = o->T - i % 3 > 0 ? o->T - i % 3 : 1;
    return CLIMP_OK;
}

static climp_status ck_model(climp_ctx *ctx, const ck_opts *o, int training, climp_model **m) {
    CLIMP_TRY(climp_model_create(ctx, &o->cfg, training, m));
    const climp_param_table *t = climp_model_params(*m);
    float *host = malloc(t->total * sizeof(float));
    if (!host) return CLIMP_ERR_HOST_OOM;
    climp_params_init(t, 1, host);
    climp_status s = climp_model_set_params(*m, host);
    free(host);
    return s;
}

/* Image and caption embeddings of the batch and of its first pair alone. */
static climp_status ck_embed(climp_model *m, const ck_opts *o, ck_batch *b) {
    for (int B = o->B; B >= 1; B = B > 1 ? 1 : 0) {
        CLIMP_TRY(climp_model_embed_images(m, B, o->S, o->S, b->images, b->emb));
        CLIMP_TRY(climp_model_embed_texts(m, B, o->T, b->tokens, b->lengths, b->emb));
    }
    return CLIMP_OK;
}

/* The workload: a training step as `climp train` runs it (zero grads, forward + backward, AdamW
 * with clipping), a forward-only step, the embeds evaluation runs on the training model, and the
 * embeds of an inference-mode model (`climp embed`, `search`, `zeroshot`). */
static climp_status ck_workload(climp_ctx *ctx, const ck_opts *o) {
    ck_batch b = {0};
    climp_model *m = NULL;
    climp_optimizer *opt = NULL;
    climp_status s = ck_batch_make(o, &b);
    climp_batch_in in = {o->B, o->S, o->S, b.images, o->T, b.tokens, b.lengths};
    float loss = 0;
    double gnorm = 0;
    if (!s) s = ck_model(ctx, o, 1, &m);
    if (!s) s = climp_optimizer_create(m, 0.1f, 1.0f, 0, 0, &opt);
    if (!s) s = climp_model_zero_grads(m);
    if (!s) s = climp_model_step(m, &in, 1, 1.0f, &loss, NULL, NULL);
    if (!s) s = climp_optimizer_step(opt, 1e-4f, 1.0f, &gnorm);
    if (!s) s = climp_model_step(m, &in, 0, 1.0f, &loss, NULL, NULL);
    if (!s) s = ck_embed(m, o, &b);
    climp_optimizer_destroy(opt);
    climp_model_destroy(m);
    m = NULL;
    if (!s) s = ck_model(ctx, o, 0, &m);
    if (!s) s = ck_embed(m, o, &b);
    if (!s) s = climp_finish(ctx);
    climp_model_destroy(m);
    ck_batch_free(&b);
    return s;
}

static long programs_loaded(const climp_ctx *ctx) {
    const climp_counters c = climp_ctx_counters(ctx);
    return c.source_compiles + c.binary_loads;
}

/* One manifest row: "<file> <source> [<defines>]". */
typedef struct ck_prog {
    char file[256], source[128], defines[512];
} ck_prog;

static climp_status read_manifest(const char *dir, ck_prog **out, int *n) {
    char path[1100], line[1024];
    snprintf(path, sizeof(path), "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        climp_error_set("cannot read %s: %s", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    ck_prog *v = NULL;
    int cnt = 0, cap = 0;
    climp_status s = CLIMP_OK;
    while (!s && fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (cnt == cap) {
            ck_prog *nv = realloc(v, (size_t)(cap = cap ? 2 * cap : 32) * sizeof(*v));
            if (!nv) {
                s = CLIMP_ERR_HOST_OOM;
                break;
            }
            v = nv;
        }
        ck_prog *p = &v[cnt];
        char *lb = strchr(line, '['), *rb = strrchr(line, ']');
        if (!lb || !rb || rb < lb || sscanf(line, "%255s %127s", p->file, p->source) != 2) {
            climp_error_set("%s: malformed line '%s'", path, line);
            s = CLIMP_ERR_FORMAT;
            break;
        }
        snprintf(p->defines, sizeof(p->defines), "%.*s", (int)(rb - lb - 1), lb + 1);
        cnt++;
    }
    fclose(f);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    *n = cnt;
    return CLIMP_OK;
}

/* Remove a flat folder this command created (files, then the folder). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[1200];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* Binary-only check: a fresh context loading only the `n` files of DIR (linked into a temporary
 * folder) runs the whole workload without compiling anything, with `loads` binary loads (-1:
 * any number). */
static climp_status verify_binaries(const climp_ctx_options *base, const char *dir,
                                    const char *const *files, int n, long loads,
                                    const ck_opts *o) {
    char vdir[] = "/tmp/climp-verify-XXXXXX";
    if (!mkdtemp(vdir)) {
        climp_error_set("cannot create a temporary folder: %s", strerror(errno));
        return CLIMP_ERR_IO;
    }
    climp_status s = CLIMP_OK;
    char abs[1024], src[1400], dst[1400];
    if (dir[0] == '/' || !getcwd(abs, sizeof(abs))) abs[0] = 0;
    for (int i = 0; i < n && !s; i++) {
        snprintf(src, sizeof(src), "%s%s%s/%s", abs, abs[0] ? "/" : "", dir, files[i]);
        snprintf(dst, sizeof(dst), "%s/%s", vdir, files[i]);
        if (symlink(src, dst)) {
            climp_error_set("cannot link %s: %s", dst, strerror(errno));
            s = CLIMP_ERR_IO;
        }
    }
    climp_ctx_options vo = *base;
    vo.kernel_binaries = vdir;
    climp_ctx *v = NULL;
    if (!s) s = climp_ctx_open(&vo, &v);
    if (!s) s = ck_workload(v, o);
    if (!s && climp_ctx_counters(v).source_compiles) {
        climp_error_set("binary-only check compiled %ld programs from source",
                        climp_ctx_counters(v).source_compiles);
        s = CLIMP_ERR_NO_BINARY;
    }
    if (!s && loads >= 0 && climp_ctx_counters(v).binary_loads != loads) {
        climp_error_set("binary-only check loaded %ld binaries, expected %ld",
                        climp_ctx_counters(v).binary_loads, loads);
        s = CLIMP_ERR_NO_BINARY;
    }
    climp_ctx_close(v);
    remove_tree(vdir);
    return s;
}

static void compile_kernels_usage(void) {
    printf("usage: climp compile-kernels --out DIR [--device D] [--kernel-variant ndrange|fpga]\n"
           "                             [--preset P] [--image-size S] [--batch-size B]\n"
           "                             [--text-len T] [--list-programs] [--bundle]\n\n"
           "Builds every kernel program (source + defines) climp uses on device D for preset P\n"
           "(default tiny) at image size S (default 64), batch size B (default 8) and captions\n"
           "of T tokens (default 32): it runs one training step (forward, backward, AdamW) and\n"
           "the inference embeds of a random-initialised model on a synthetic batch, writes\n"
           "every built program as a binary plus manifest.txt into DIR, then checks that the\n"
           "same workload runs from DIR alone without compiling. Load the folder with\n"
           "--kernel-binaries DIR (or CLIMP_KERNEL_BINARIES=DIR). The kernel variant must be\n"
           "the one training will use (CLIMP_KERNEL_VARIANT, or fpga on ACCELERATOR devices).\n"
           "--list-programs prints the programs the workload needs, one per line:\n"
           "  <file name in DIR>\\t<kernel source>\\t<defines>\n"
           "(without --out the binaries go to a temporary folder that is removed);\n"
           "scripts/fpga/build.sh compiles exactly these with aoc or v++ (docs/fpga.md).\n"
           "--bundle also writes the workload's programs as ONE program (an FPGA then holds one\n"
           "bitstream): DIR/bundle.cl, its binary DIR/bundle-<key>.bin and DIR/bundle.map, and\n"
           "checks that the workload runs from those alone with a single binary load.\n");
}

int climp_cmd_compile_kernels(int argc, char **argv) {
    climp_ctx_options opt = {0};
    const char *out = NULL, *preset = "tiny";
    long S = 64, B = 8, T = 32;
    int list = 0, bundle = 0;
    for (int i = 1; i < argc; i++) {
        if (climp_opt_str(argc, argv, &i, "--device", &opt.device)) continue;
        if (climp_opt_str(argc, argv, &i, "--out", &out)) continue;
        if (climp_opt_str(argc, argv, &i, "--kernel-variant", &opt.kernel_variant)) continue;
        if (climp_opt_str(argc, argv, &i, "--preset", &preset)) continue;
        if (climp_opt_str(argc, argv, &i, "--model-config", &preset)) continue;
        if (climp_opt_int(argc, argv, &i, "--image-size", 8, 4096, &S)) continue;
        if (climp_opt_int(argc, argv, &i, "--batch-size", 1, 65536, &B)) continue;
        if (climp_opt_int(argc, argv, &i, "--text-len", 1, 65536, &T)) continue;
        if (!strcmp(argv[i], "--list-programs") || !strcmp(argv[i], "--bundle")) {
            if (argv[i][2] == 'l') list = 1;
            else bundle = 1;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            compile_kernels_usage();
            return 0;
        }
        fprintf(stderr, "climp compile-kernels: unknown option '%s' (try --help)\n", argv[i]);
        return 2;
    }
    if (!out && !list) {
        fprintf(stderr, "climp compile-kernels: --out DIR is required\n");
        return 2;
    }
    if (opt.kernel_variant && strcmp(opt.kernel_variant, "fpga") &&
        strcmp(opt.kernel_variant, "ndrange")) {
        fprintf(stderr, "climp compile-kernels: --kernel-variant must be ndrange or fpga\n");
        return 2;
    }
    ck_opts o = {.S = (int)S, .B = (int)B, .T = (int)T};
    if (climp_config_preset(preset, &o.cfg)) {
        fprintf(stderr, "climp compile-kernels: unknown preset '%s' (%s)\n", preset,
                climp_config_preset_names());
        return 2;
    }
    unsetenv("CLIMP_KERNEL_BINARIES"); /* this command builds; it never loads a binary folder */
    climp_ctx *ctx = NULL;
    climp_status s = climp_ctx_open(&opt, &ctx);
    if (s) {
        climp_report_error("opening the device", s);
        if (s == CLIMP_ERR_NO_BINARY)
            fprintf(stderr, "climp: compile-kernels builds from source; for a device without an "
                    "online compiler (FPGA boards) use scripts/fpga/build.sh (docs/fpga.md)\n");
        return 1;
    }
    /* Binary-only runs cannot use CLBlast (it compiles its own kernels at run time); build the
     * GEMM kernels such runs will use instead. */
    if (!getenv("CLIMP_GEMM") && climp_gemm_choose(ctx, NULL) == CLIMP_GEMM_CLBLAST)
        setenv("CLIMP_GEMM", "tiled", 1);
    const char *what = "running the workload";
    char tmpdir[] = "/tmp/climp-programs-XXXXXX";
    const char *dir = out;
    ck_prog *progs = NULL;
    int n = 0;
    long used = 0, extra = 0;
    climp_counters c0 = climp_ctx_counters(ctx);
    s = ck_workload(ctx, &o);
    if (!s) {
        used = programs_loaded(ctx);
        what = "writing the binaries";
        if (!dir && !(dir = mkdtemp(tmpdir))) {
            climp_error_set("cannot create a temporary folder: %s", strerror(errno));
            s = CLIMP_ERR_IO;
        }
    }
    if (!s) s = climp_write_kernel_binaries(ctx, dir);
    climp_counters c = climp_ctx_counters(ctx);
    extra = programs_loaded(ctx) - used;
    const int fpga = !strcmp(climp_ctx_variant(ctx), "fpga");
    if (!s) s = read_manifest(dir, &progs, &n);
    /* Programs are listed newest first: the default builds climp_write_kernel_binaries added,
     * then the workload's programs. The binary-only check proves the split right. */
    if (!s && n != used + extra) {
        climp_error_set("manifest lists %d programs, %ld were built", n, used + extra);
        s = CLIMP_ERR_FORMAT;
    }
    const char **files = NULL;
    if (!s && !(files = calloc((size_t)n + 2, sizeof(*files)))) s = CLIMP_ERR_HOST_OOM;
    for (int i = 0; !s && i < n; i++) files[i] = progs[i].file;
    if (!s) {
        what = "checking the binaries (binary-only run of the same workload)";
        s = verify_binaries(&opt, dir, files + extra, (int)used, -1, &o);
    }
    char bfile[256] = "";
    if (!s && bundle) { /* the workload's programs, in list order, as one program */
        const char **src = calloc((size_t)used + 1, sizeof(*src));
        const char **defs = calloc((size_t)used + 1, sizeof(*defs));
        for (int i = 0; src && defs && i < used; i++) {
            src[i] = progs[extra + i].source;
            defs[i] = progs[extra + i].defines;
        }
        what = "writing the kernel bundle";
        s = src && defs ? climp_bundle_write(ctx, dir, (int)used, src, defs, bfile, sizeof(bfile))
                        : CLIMP_ERR_HOST_OOM;
        free(src);
        free(defs);
        const char *bfiles[2] = {"bundle.map", bfile};
        if (!s) {
            what = "checking the kernel bundle (binary-only run of the same workload)";
            s = verify_binaries(&opt, dir, bfiles, 2, 1, &o);
        }
    }
    climp_ctx_close(ctx);
    free(files);
    if (!s && list)
        for (int i = (int)extra; i < n; i++)
            printf("%s\t%s\t%s\n", progs[i].file, progs[i].source, progs[i].defines);
    free(progs);
    if (!out && dir) remove_tree(dir);
    if (s) {
        climp_report_error(what, s);
        return 1;
    }
    fprintf(list ? stderr : stdout,
            "compile-kernels: %d programs%s%s (%ld used by preset %s at image %d, batch %d, "
            "variant %s; %ld default builds); %ld compiled from source, %ld from the cache; "
            "checked: the workload runs from them alone\n",
            n, out ? " written to " : "", out ? out : "", used, o.cfg.name, o.S, o.B,
            fpga ? "fpga" : "ndrange", extra,
            c.source_compiles - c0.source_compiles, c.binary_loads - c0.binary_loads);
    if (bundle)
        fprintf(list ? stderr : stdout,
                "compile-kernels: kernel bundle %s%s%s: the %ld programs in one binary "
                "(bundle.cl, bundle.map); checked: the workload runs from it alone, 1 binary "
                "load\n", out ? out : "", out ? "/" : "", bfile, used);
    return 0;
}
