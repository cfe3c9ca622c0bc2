/* `climp bench`: command line, orchestration of the sections (kernels, train, infer, scaling),
 * the timing harness (warm-up, repetitions, batching of short calls, statistics, energy) and the
 * one-shot profiler pass; the JSON document is assembled here and written by bench_json.c.
 * Schema and method: docs/bench.md. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "trainer/cli.h"

/* ------------------------------------------------------------------ statistics */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* User + system CPU seconds of the whole process so far (every thread), NAN on failure. */
static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* Median of n >= 1 sorted values. */
static double median_sorted(const double *s, int n) {
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

void climp_bench_stats_finish(climp_bench_stats *st) {
    int n = st->n;
    st->cpu_median = st->cpu_min = NAN; /* climp_bench_measure fills them in */
    if (n < 1) return;
    double s[64], sum = 0;
    memcpy(s, st->samples, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    for (int i = 0; i < n; i++) sum += s[i];
    st->min = s[0];
    st->max = s[n - 1];
    st->median = median_sorted(s, n);
    st->mean = sum / n;
    double var = 0;
    for (int i = 0; i < n; i++) var += (s[i] - st->mean) * (s[i] - st->mean);
    st->stddev = n > 1 ? sqrt(var / (n - 1)) : 0.0;
}

cJSON *climp_bench_stats_json(const climp_bench_stats *st) {
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "unit", "s");
    cJSON_AddNumberToObject(o, "n", st->n);
    cJSON_AddNumberToObject(o, "warmup", st->warmup);
    cJSON_AddNumberToObject(o, "inner", st->inner);
    climp_json_num(o, "median", st->median);
    climp_json_num(o, "min", st->min);
    climp_json_num(o, "max", st->max);
    climp_json_num(o, "mean", st->mean);
    climp_json_num(o, "stddev", st->stddev);
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < st->n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(st->samples[i]));
    cJSON_AddItemToObject(o, "samples", a);
    climp_json_num(o, "energy_j", st->energy_j);
    climp_json_num(o, "cpu_median", st->cpu_median);
    climp_json_num(o, "cpu_min", st->cpu_min);
    return o;
}

/* ------------------------------------------------------------------ timing harness */
climp_status climp_bench_measure(climp_bench *b, climp_bench_fn fn, void *user,
                                 int allow_batching, climp_bench_stats *st) {
    memset(st, 0, sizeof(*st));
    st->warmup = b->opt.warmup;
    st->inner = 1;
    st->energy_j = NAN;
    double t = 0;
    for (int i = 0; i < b->opt.warmup; i++) {
        double t0 = climp_now_seconds();
        CLIMP_TRY(fn(user));
        CLIMP_TRY(climp_finish(b->ctx));
        t = climp_now_seconds() - t0;
    }
    if (allow_batching && t < 1.0) {
        /* A probe call after warm-up (the first calls also compile): short calls are batched so
         * that one sample lasts at least min_sample_s and timer and sync overheads amortise. */
        double t0 = climp_now_seconds();
        CLIMP_TRY(fn(user));
        CLIMP_TRY(climp_finish(b->ctx));
        t = climp_now_seconds() - t0;
        if (t < b->min_sample_s) {
            double k = ceil(b->min_sample_s / (t > 1e-7 ? t : 1e-7));
            st->inner = k > 10000 ? 10000 : (int)k;
        }
    }
    st->n = b->opt.reps < 64 ? b->opt.reps : 64;
    double cpu[64];
    int cpu_ok = 1;
    climp_energy_begin(&b->energy);
    for (int r = 0; r < st->n; r++) {
        const double c0 = cpu_seconds(), t0 = climp_now_seconds();
        for (int k = 0; k < st->inner; k++) CLIMP_TRY(fn(user));
        CLIMP_TRY(climp_finish(b->ctx));
        st->samples[r] = (climp_now_seconds() - t0) / st->inner;
        cpu[r] = (cpu_seconds() - c0) / st->inner;
        cpu_ok &= isfinite(cpu[r]);
    }
    st->energy_j = climp_energy_end(&b->energy);
    climp_bench_stats_finish(st); /* leaves the CPU figures NAN */
    if (cpu_ok && st->n > 0) {
        qsort(cpu, (size_t)st->n, sizeof(double), cmp_double);
        st->cpu_min = cpu[0];
        st->cpu_median = median_sorted(cpu, st->n);
    }
    return CLIMP_OK;
}

climp_status climp_bench_profile_once(climp_bench *b, climp_bench_fn fn, void *user,
                                      cJSON **rows, double *event_s, double *wall_s) {
    *rows = NULL;
    *event_s = *wall_s = 0;
    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/climp-bench-prof-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        climp_error_set("cannot create a temporary file %s: %s", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    close(fd);
    climp_profile_reset(b->ctx);
    climp_profile_label(b->ctx, NULL);
    climp_profile_enable(b->ctx, 1);
    double t0 = climp_now_seconds();
    climp_status s = fn(user);
    if (!s) s = climp_finish(b->ctx);
    *wall_s = climp_now_seconds() - t0;
    climp_profile_enable(b->ctx, 0);
    climp_profile_label(b->ctx, NULL);
    if (!s) s = climp_profile_write_json(b->ctx, path);
    climp_profile_reset(b->ctx);
    char *txt = NULL;
    if (!s) {
        FILE *f = fopen(path, "rb");
        long n = -1;
        if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
            (txt = malloc((size_t)n + 1)) && fread(txt, 1, (size_t)n, f) == (size_t)n)
            txt[n] = 0;
        else
            s = CLIMP_ERR_IO;
        if (f) fclose(f);
    }
    remove(path);
    if (s) {
        free(txt);
        return s;
    }
    cJSON *doc = cJSON_Parse(txt);
    free(txt);
    cJSON *r = doc ? cJSON_DetachItemFromObject(doc, "rows") : NULL;
    cJSON_Delete(doc);
    if (!r) {
        climp_error_set("the profiler wrote unreadable JSON");
        return CLIMP_ERR_FORMAT;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, r) {
        const cJSON *sec = cJSON_GetObjectItem(e, "seconds");
        if (cJSON_IsNumber(sec)) *event_s += sec->valuedouble;
    }
    *rows = r;
    return CLIMP_OK;
}

void climp_bench_error(climp_bench *b, const char *section, const char *item, climp_status s,
                       int expected) {
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "section", section);
    climp_json_str(o, "item", item);
    climp_json_str(o, "status", climp_status_name(s));
    climp_json_str(o, "detail", climp_error_detail());
    cJSON_AddBoolToObject(o, "expected", expected);
    cJSON_AddItemToArray(b->errors, o);
    if (!expected) {
        b->failures++;
        fprintf(stderr, "climp bench: %s %s: %s%s%s\n", section, item, climp_status_name(s),
                climp_error_detail()[0] ? ": " : "", climp_error_detail());
    }
    climp_error_clear();
}

/* ------------------------------------------------------------------ command line */
static void usage(void) {
    printf(
        "usage: climp bench [kernels|train|infer|scaling|all]... [options]\n\n"
        "The benchmark suite: the same workloads on every OpenCL device, with warm-up,\n"
        "repetitions (median, min, max, stddev and raw samples; process CPU time per call in the\n"
        "JSON), %% of the device's MEASURED peak (calibrated once per device and cached), roofline\n"
        "bounds, energy where a sensor exists, and full provenance in --json. Sections (default\n"
        "all):\n"
        "  kernels   selective scan fwd/bwd, GEMM on every backend, convs, norms, loss, AdamW;\n"
        "            memory-bound cases beyond the cache also as %% of STREAM triads run\n"
        "            between their calls (%%bw-now: the bandwidth of the moment)\n"
        "  train     samples/s of training steps and forward passes, step-time breakdown, MFU\n"
        "  infer     images/s and captions/s of each tower\n"
        "  scaling   image size 224 -> 448 -> 896 -> ... and caption length 16 -> 2048: time,\n"
        "            FLOPs and peak device memory, beside a ViT-B/16's analytic cost\n\n"
        "options:\n"
        "  --json FILE          write every result with provenance (schema: docs/bench.md)\n"
        "  --reps N             timed repetitions per figure (default 5; --quick 2)\n"
        "  --warmup N           untimed runs first (default 1)\n"
        "  --quick              small shapes and the tiny preset only (seconds; used by the tests)\n"
        "  --preset P[,P...]    model presets for train/infer/scaling (default tiny and\n"
        "                       vmamba-t+mamba-130m; scaling uses the first non-tiny one)\n"
        "  --batch-size B[,B..] batch sizes for train/infer (default 32 tiny, 4 otherwise)\n"
        "  --image-size S       image size for train/infer (default 64 tiny, 224 otherwise)\n"
        "  --text-len L         caption tokens for train/infer (default 64; --quick 16)\n"
        "  --device D           P:D index or name substring (default $CLIMP_DEVICE or 0:0)\n"
        "  --name NAME          label of this run in bench_compare tables\n"
        "  --filter S           only kernel cases whose name, model or shape contains S\n"
        "  --backends auto|all  GEMM backends in `kernels` (default all; --quick auto)\n"
        "  --recalibrate        measure the device peaks again instead of using the cache\n"
        "  --recompute          train with block recomputation (climp train --recompute)\n"
        "  --scaling-budget SEC skip scaling points predicted to take longer (default 60)\n"
        "  --no-reference       do not time the plain-C reference of each kernel case\n"
        "  --reference          time it (the default): `speedup_vs_reference` per kernel\n"
        "  --reference-budget SEC  skip references predicted slower per call (default 30;\n"
        "                       --quick 0.25)\n"
        "  --max-image-size S   largest image size of the scaling series (default 3584)\n"
        "  --max-text-len L     longest caption of the scaling series (default 2048)\n");
}

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 1 || v > 65536 || (*end && *end != ',')) return -1;
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *p ? -1 : n;
}

/* Returns -1 to continue, else an exit code. */
static int parse(int argc, char **argv, climp_bench_opts *o) {
    memset(o, 0, sizeof(*o));
    o->reps = -1;
    o->warmup = 1;
    o->all_backends = -1;
    o->scaling_budget_s = 60;
    o->max_image_size = 3584;
    o->max_text_len = 2048;
    o->argc = argc;
    o->argv = argv;
    int any = 0;
    static char preset_buf[1024];
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        double d;
        if (!strcmp(argv[i], "kernels")) o->do_kernels = any = 1;
        else if (!strcmp(argv[i], "train")) o->do_train = any = 1;
        else if (!strcmp(argv[i], "infer")) o->do_infer = any = 1;
        else if (!strcmp(argv[i], "scaling")) o->do_scaling = any = 1;
        else if (!strcmp(argv[i], "all"))
            o->do_kernels = o->do_train = o->do_infer = o->do_scaling = any = 1;
        else if (!strcmp(argv[i], "--quick")) o->quick = 1;
        else if (!strcmp(argv[i], "--recalibrate")) o->recalibrate = 1;
        else if (!strcmp(argv[i], "--recompute")) o->recompute = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else if (climp_opt_str(argc, argv, &i, "--json", &o->json_path)) {
        } else if (climp_opt_str(argc, argv, &i, "--device", &o->device)) {
        } else if (climp_opt_str(argc, argv, &i, "--name", &o->name)) {
        } else if (climp_opt_str(argc, argv, &i, "--filter", &o->filter)) {
        } else if (climp_opt_int(argc, argv, &i, "--reps", 1, 64, &n)) o->reps = (int)n;
        else if (climp_opt_int(argc, argv, &i, "--warmup", 0, 100, &n)) o->warmup = (int)n;
        else if (climp_opt_int(argc, argv, &i, "--image-size", 8, 16384, &n)) o->image_size = (int)n;
        else if (climp_opt_int(argc, argv, &i, "--text-len", 1, 65536, &n)) o->text_len = (int)n;
        else if (climp_opt_int(argc, argv, &i, "--max-image-size", 8, 65536, &n))
            o->max_image_size = (int)n;
        else if (climp_opt_int(argc, argv, &i, "--max-text-len", 1, 1 << 20, &n))
            o->max_text_len = (int)n;
        else if (climp_opt_float(argc, argv, &i, "--scaling-budget", 0.001, 1e6, &d))
            o->scaling_budget_s = d;
        else if (climp_opt_str(argc, argv, &i, "--backends", &v)) {
            if (strcmp(v, "all") && strcmp(v, "auto")) {
                fprintf(stderr, "climp bench: --backends takes auto or all\n");
                return 2;
            }
            o->all_backends = !strcmp(v, "all");
        } else if (climp_opt_str(argc, argv, &i, "--batch-size", &v)) {
            if ((o->nbatch = parse_list(v, o->batch, CLIMP_BENCH_MAX_LIST)) < 1) {
                fprintf(stderr, "climp bench: --batch-size '%s' is not a list of integers\n", v);
                return 2;
            }
        } else if (climp_opt_str(argc, argv, &i, "--preset", &v)) {
            snprintf(preset_buf, sizeof(preset_buf), "%s", v);
            o->npresets = 0;
            for (char *tok = strtok(preset_buf, ","); tok && o->npresets < CLIMP_BENCH_MAX_LIST;
                 tok = strtok(NULL, ","))
                o->presets[o->npresets++] = tok;
            for (int k = 0; k < o->npresets; k++) {
                climp_config c;
                if (climp_config_preset(o->presets[k], &c)) {
                    fprintf(stderr, "climp bench: %s\n", climp_error_detail());
                    return 2;
                }
            }
        } else if (climp_bench_ref_option(argc, argv, &i)) {
        } else {
            fprintf(stderr, "climp bench: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (!any) o->do_kernels = o->do_train = o->do_infer = o->do_scaling = 1;
    if (o->reps < 0) o->reps = o->quick ? 2 : 5;
    if (o->all_backends < 0) o->all_backends = !o->quick;
    if (!o->npresets) {
        o->presets[o->npresets++] = "tiny";
        if (!o->quick) o->presets[o->npresets++] = "vmamba-t+mamba-130m";
    }
    return -1;
}

static cJSON *settings_json(const climp_bench_opts *o) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "reps", o->reps);
    cJSON_AddNumberToObject(s, "warmup", o->warmup);
    cJSON_AddBoolToObject(s, "quick", o->quick);
    cJSON *sec = cJSON_CreateArray();
    const char *names[4] = {"kernels", "train", "infer", "scaling"};
    int on[4] = {o->do_kernels, o->do_train, o->do_infer, o->do_scaling};
    for (int i = 0; i < 4; i++)
        if (on[i]) cJSON_AddItemToArray(sec, cJSON_CreateString(names[i]));
    cJSON_AddItemToObject(s, "sections", sec);
    cJSON *pr = cJSON_CreateArray();
    for (int i = 0; i < o->npresets; i++)
        cJSON_AddItemToArray(pr, cJSON_CreateString(o->presets[i]));
    cJSON_AddItemToObject(s, "presets", pr);
    climp_json_str(s, "timing", "wall time around the calls and climp_finish (in-order queue); "
                                "short calls batched `inner` times per sample");
    climp_json_num(s, "scaling_budget_s", o->scaling_budget_s);
    return s;
}

int climp_cmd_bench(int argc, char **argv) {
    climp_bench b;
    memset(&b, 0, sizeof(b));
    int rc = parse(argc, argv, &b.opt);
    if (rc >= 0) return rc;
    b.min_sample_s = b.opt.quick ? 0.002 : 0.02;
    climp_ctx_options co = {0};
    co.device = b.opt.device;
    climp_status s = climp_ctx_open(&co, &b.ctx);
    if (s) {
        climp_report_error("opening the device", s);
        return 1;
    }
    const climp_device_info *d = climp_ctx_info(b.ctx);
    climp_energy_open(&b.energy, d);
    b.root = cJSON_CreateObject();
    climp_json_str(b.root, "schema", "climp-bench");
    cJSON_AddNumberToObject(b.root, "schema_version", CLIMP_BENCH_SCHEMA_VERSION);
    climp_json_str(b.root, "tool", "climp");
    char name[320];
    snprintf(name, sizeof(name), "climp %s", d->name);
    climp_json_str(b.root, "name", b.opt.name ? b.opt.name : name);
    cJSON_AddItemToObject(b.root, "settings", settings_json(&b.opt));
    b.kernels = cJSON_AddArrayToObject(b.root, "kernels");
    b.train = cJSON_AddArrayToObject(b.root, "train");
    b.infer = cJSON_AddArrayToObject(b.root, "infer");
    b.scaling = cJSON_AddArrayToObject(b.root, "scaling");
    b.errors = cJSON_AddArrayToObject(b.root, "errors");
    printf("climp bench on %s (%s, driver %s)%s\n", d->name, d->platform_name, d->driver_version,
           b.opt.quick ? " [quick]" : "");
    s = climp_bench_calibrate(&b);
    if (s) {
        climp_report_error("calibrating the device", s);
        goto out;
    }
    printf("measured peaks: %.1f GFLOP/s fp32, %.1f GB/s (copy %.1f, triad %.1f), launch %.1f us"
           "%s | estimate %.0f GFLOP/s\n",
           b.peaks.gflops, b.peaks.gbps, b.peaks.gbps_copy, b.peaks.gbps_triad, b.peaks.launch_us,
           b.peaks.from_cache ? " (cached)" : "", d->peak_gflops);
    printf("energy: %s\n", b.energy.kind ? b.energy.scope : b.energy.reason);
    /* A section that cannot even start (e.g. a bad preset) is a failure; items inside report
     * their own errors and the section goes on. */
    if (b.opt.do_kernels && (s = climp_bench_kernels(&b))) climp_bench_error(&b, "kernels", "-", s, 0);
    if (b.opt.do_train && (s = climp_bench_train(&b))) climp_bench_error(&b, "train", "-", s, 0);
    if (b.opt.do_infer && (s = climp_bench_infer(&b))) climp_bench_error(&b, "infer", "-", s, 0);
    if (b.opt.do_scaling && (s = climp_bench_scaling(&b)))
        climp_bench_error(&b, "scaling", "-", s, 0);
    s = CLIMP_OK;
out:
    cJSON_AddItemToObject(b.root, "device", climp_bench_device_json(&b));
    cJSON_AddItemToObject(b.root, "energy", climp_energy_json(&b.energy));
    cJSON_AddItemToObject(b.root, "provenance", climp_bench_provenance(&b));
    if (b.opt.json_path) {
        climp_status w = climp_bench_write_json(b.root, b.opt.json_path);
        if (w) {
            climp_report_error("writing the results", w);
            if (!s) s = w;
        } else {
            printf("results: %s\n", b.opt.json_path);
        }
    }
    if (b.failures) fprintf(stderr, "climp bench: %d item(s) failed (see \"errors\")\n", b.failures);
    cJSON_Delete(b.root);
    climp_energy_close(&b.energy);
    climp_bench_triad_free(&b);
    climp_ctx_close(b.ctx);
    return s || b.failures ? 1 : 0;
}
