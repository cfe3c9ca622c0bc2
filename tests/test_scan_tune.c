/* Selective scan tests, second part (model/scan.h; first part tests/test_scan.c, shared helpers
 * tests/test_scan_util.h): (5) the FPGA single work-item variant (cl_kernels/scan_fpga.cl)
 * through a second context opened with kernel_variant "fpga", on the awkward and real-model
 * shapes, block widths and chunk lengths, plus its determinism and its limits; (6) the tuning
 * table keys over the launcher's heuristics.
 * CLIMP_SCAN_BENCH=1 instead times the device against the single-thread C reference side by side
 * (alternating, medians of CLIMP_SCAN_BENCH_REPS, default 5) at the Mamba-130m and VMamba-T
 * stage-0 shapes of `climp bench kernels` (CLIMP_SCAN_BENCH_ONLY=substring picks shapes,
 * CLIMP_SCAN_BENCH_NOREF=1 times the device alone, CLIMP_SCAN_BENCH_CB=4,16 alternates more
 * device configurations with those channel blocks). */
#include "tests/test_scan_util.h"

/* ---------------------------------------------------------------- (5) FPGA variant */

static void fpga_checks(climp_ctx *ctx, const spec *awkward, int nawk) {
    climp_ctx_options fo = {0};
    fo.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&fo, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    /* AUTO on the fpga context; blocks of 16 (default), 4 and 1 channels */
    const config fa[] = {{CLIMP_SCAN_AUTO, 0, 0, 0, 0},
                         {CLIMP_SCAN_AUTO, 4, 0, 0, 0},
                         {CLIMP_SCAN_AUTO, 1, 0, 0, 0}};
    /* few distinct programs (N, CH, chunk): a CPU driver compiles each one for several s */
    const int ch2[] = {16, 64}, ch1[] = {64}, ch0[] = {0}, ch7[] = {7}, ch16[] = {16};
    for (int i = 0; i < nawk; i++) {
        device_check(f, &awkward[i], fa, 1, ch2, 2);
        device_check(f, &awkward[i], &fa[1], 1, ch16, 1);
    }
    device_check(f, &awkward[4], &fa[2], 1, ch7, 1);
    const spec m130 = {"mamba-130m", 2, 64, 1536, 16, 1, 1, 96, 0, 0};
    const spec m2 = {"mamba2", 2, 100, 128, 128, 1, 0, 0, 0, 1};
    const spec vm = {"vmamba-14x14", 2, 196, 384, 1, 4, 0, 6, 0, 0};
    const spec longl = {"L4099", 1, 4099, 8, 3, 1, 1, 1, 0, 0};
    device_check(f, &m130, fa, 1, ch1, 1);
    device_check(f, &m2, fa, 1, ch2, 2); /* N 128: 8 and 2 channels per block */
    device_check(f, &vm, fa, 1, ch1, 1);
    device_check(f, &longl, fa, 1, ch0, 1);
    climp_scan_shape probe = {.B = 1, .L = 8, .Dc = 32, .N = 16, .G = 1};
    climp_scan_shape r = climp_scan_resolve(f, &probe);
    tu_check(r.variant == CLIMP_SCAN_FPGA && r.cb == 16 && r.chunk == 64,
             "fpga context resolves AUTO to the FPGA variant (variant %d cb %d chunk %d)",
             r.variant, r.cb, r.chunk);
    probe.N = 256;
    r = climp_scan_resolve(f, &probe);
    tu_check(r.cb == 1, "N 256 at chunk 64: one channel per block (cb %d)", r.cb);
    determinism_check(f, &m130, &fa[0]);
    /* the FPGA variant forced on the ordinary context (no backward scratch needed) */
    const config forced[] = {{CLIMP_SCAN_FPGA, 0, 0, 0, 0}};
    device_check(ctx, &awkward[3], forced, 1, ch2, 2);
    probe.variant = CLIMP_SCAN_FPGA;
    tu_check(climp_scan_bwd_scratch_size(&probe) == 0, "FPGA variant needs no scratch");
    /* beyond the chunk buffer: unsupported, nothing enqueued */
    climp_scan_shape big = {.B = 1, .L = 9, .Dc = 2, .N = 32, .G = 1, .ld_u = 2, .ld_dt = 2,
                            .cb = 1, .ld_out = 2, .bc_stride_b = 9 * 64, .bc_stride_l = 64,
                            .bc_stride_g = 64, .chunk = 1024};
    climp_buffer *buf = NULL;
    CLIMP_CHECK(climp_buffer_create(f, "big", 1 << 18, &buf));
    climp_tview v = climp_buffer_view(buf), none = {NULL, 0, 0};
    const long before = climp_ctx_counters(f).launches;
    climp_status e = climp_scan_forward(f, &big, v, v, v, v, v, v, v, none, v, v);
    climp_status e2 = climp_scan_backward(f, &big, v, v, v, v, v, v, v, none, v, v, none, v, v, v,
                                          v, v, v, v, none);
    tu_check(e == CLIMP_ERR_UNSUPPORTED && e2 == CLIMP_ERR_UNSUPPORTED,
             "chunk 1024 x N 32 is unsupported by the FPGA variant (%s, %s)",
             climp_status_name(e), climp_status_name(e2));
    tu_check(climp_ctx_counters(f).launches == before, "nothing enqueued");
    climp_buffer_destroy(buf);
    climp_ctx_close(f);
}

/* ---------------------------------------------------------------- (6) tuning table */

/* The launcher's automatic tunables come from the tuning table ("scan.<param>@N<n>", model/scan.h)
 * over its heuristics: tuned values apply (and compute the right result in buffers sized without a
 * context), the class-less key is the fallback, invalid or non-fitting values are ignored. */
static void tuning_check(climp_ctx *ctx, const spec *sp) {
    const int cpu = climp_ctx_info(ctx)->is_cpu;
    prob q = make_prob(sp, 1);
    const climp_scan_shape s = q.s;
    climp_tune_clear(ctx);
    climp_scan_shape r = climp_scan_resolve(ctx, &s);
    tu_check(r.chunk == 64 && (!cpu || (r.variant == CLIMP_SCAN_CPU && r.cb == 16)),
             "heuristics: chunk %d cb %d", r.chunk, r.cb);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb@N3", 8));
    CLIMP_CHECK(climp_tune_set(ctx, "scan.chunk@N3", 48)); /* as many chunks as 64: fits */
    CLIMP_CHECK(climp_tune_set(ctx, "scan.split@N3", CLIMP_SCAN_SPLIT_CHUNKS));
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb@N1", 4)); /* another class: not used */
    r = climp_scan_resolve(ctx, &s);
    tu_check(r.chunk == 48 && r.split == CLIMP_SCAN_SPLIT_CHUNKS && (!cpu || r.cb == 8),
             "tuned: chunk %d split %d cb %d", r.chunk, r.split, r.cb);
    const config autocf[] = {{CLIMP_SCAN_AUTO, 0, 0, CLIMP_SCAN_SPLIT_AUTO, 0}};
    const int ch0[] = {0};
    device_check(ctx, sp, autocf, 1, ch0, 1); /* the tuned launch against the reference */
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb", 4));
    r = climp_scan_resolve(ctx, &s);
    tu_check(!cpu || r.cb == 4, "class-less key: cb %d", r.cb);
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb@N3", 3));     /* invalid */
    CLIMP_CHECK(climp_tune_set(ctx, "scan.chunk@N3", 16)); /* more chunks: states would not fit */
    CLIMP_CHECK(climp_tune_set(ctx, "scan.split@N3", 7));  /* invalid */
    r = climp_scan_resolve(ctx, &s);
    tu_check(r.chunk == 64 && (!cpu || r.cb == 16), "ignored: chunk %d cb %d", r.chunk, r.cb);
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.variant@N3", CLIMP_SCAN_GPU));
    r = climp_scan_resolve(ctx, &s);
    tu_check(r.variant == CLIMP_SCAN_GPU, "tuned variant %d", r.variant);
    climp_tune_clear(ctx);
    free_prob(&q);
}

/* ---------------------------------------------------------------- bench (CLIMP_SCAN_BENCH=1) */

/* Wall and process CPU seconds (PoCL's worker threads are in this process, so CPU time is what
 * the work cost, whatever else the machine is doing). */
typedef struct stamp {
    double wall, cpu;
} stamp;
static stamp stamp_now(void) {
    return (stamp){climp_now_seconds(), (double)clock() / CLOCKS_PER_SEC};
}
static stamp stamp_since(stamp a) {
    stamp b = stamp_now();
    return (stamp){b.wall - a.wall, b.cpu - a.cpu};
}
static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_dbl);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#define BENCH_MAXREPS 64
#define BENCH_MAXCF 4
/* Side by side: per repetition the C reference forward, the device forward, the reference
 * backward, the device backward (each device call ends with climp_finish), alternating so that
 * load from other processes hits both alike; medians of wall and process CPU time. ncb > 0 adds
 * device configurations with cb = cbs[i] (A/B comparisons in one process). */
static void bench(climp_ctx *ctx, const spec *sp, int reps, int with_ref, const int *cbs, int ncb) {
    prob p = make_prob(sp, 5);
    const climp_scan_shape *s0 = &p.s;
    const float *z = p.has_z ? p.z : NULL;
    refres r = {tu_filled(p.n_out, 0), tu_filled(tokn(&p, s0->ld_u), 0), tu_filled(tokn(&p, s0->ld_ddt), 0),
                tu_filled(p.n_z, 0),   tu_filled(p.n_x, 0),              tu_dup(p.dA0, p.dn),
                tu_dup(p.dD0, s0->Dc), tu_dup(p.db0, s0->Dc)};
    const int ncf = 1 + ncb;
    climp_scan_shape cs[BENCH_MAXCF];
    devbufs d[BENCH_MAXCF];
    for (int c = 0; c < ncf; c++) {
        cs[c] = p.s;
        cs[c].cb = c ? cbs[c - 1] : 0;
        dev_setup(ctx, &p, &cs[c], &d[c]);
        dev_forward(ctx, &cs[c], &d[c]); /* warm-up (compiles) */
        dev_backward(ctx, &cs[c], &d[c]);
    }
    CLIMP_CHECK(climp_finish(ctx));
    /* [config][ref fwd, dev fwd, ref bwd, dev bwd: wall then cpu][rep] */
    static double t[BENCH_MAXCF][8][BENCH_MAXREPS];
    for (int i = 0; i < reps; i++)
        for (int c = 0; c < ncf; c++) {
            const climp_scan_shape *s = &cs[c];
            stamp a = stamp_now(), e;
            if (with_ref && c == 0) /* the reference once per repetition */
                climp_scan_forward_ref(s, p.u, p.dt, p.A_log, p.x + p.b_off, p.x + p.c_off, p.D,
                                       p.bias, z, r.out);
            e = stamp_since(a), t[c][0][i] = e.wall, t[c][4][i] = e.cpu, a = stamp_now();
            dev_forward(ctx, s, &d[c]);
            CLIMP_CHECK(climp_finish(ctx));
            e = stamp_since(a), t[c][1][i] = e.wall, t[c][5][i] = e.cpu, a = stamp_now();
            if (with_ref && c == 0)
                climp_scan_backward_ref(s, p.u, p.dt, p.A_log, p.x + p.b_off, p.x + p.c_off, p.D,
                                        p.bias, z, p.dout, r.du, r.ddt, r.dA, r.dx + p.b_off,
                                        r.dx + p.c_off, r.dD, r.db, p.has_z ? r.dz : NULL);
            e = stamp_since(a), t[c][2][i] = e.wall, t[c][6][i] = e.cpu, a = stamp_now();
            dev_backward(ctx, s, &d[c]);
            CLIMP_CHECK(climp_finish(ctx));
            e = stamp_since(a), t[c][3][i] = e.wall, t[c][7][i] = e.cpu;
        }
    for (int c = 0; c < ncf; c++) {
        double m[8];
        for (int k = 0; k < 8; k++) /* reference times: those of config 0 */
            m[k] = 1e3 * median(t[k % 2 ? c : 0][k], reps);
        const climp_scan_shape rs = climp_scan_resolve(ctx, &cs[c]);
        printf("%s B=%d L=%d Dc=%d N=%d G=%d%s [%s cb=%d chunk=%d %s], medians of %d\n", sp->name,
               sp->B, sp->L, sp->Dc, sp->N, sp->G, sp->has_z ? " z" : "", variant_name(rs.variant),
               rs.cb, rs.chunk, split_name(rs.split), reps);
        const char *dir[2] = {"forward ", "backward"};
        for (int k = 0; k < 2; k++)
            printf("  %s ref %8.2f ms (%8.2f cpu-ms)  device %8.2f ms (%8.2f cpu-ms)  ref/device "
                   "wall %5.1fx cpu %5.1fx\n",
                   dir[k], m[2 * k], m[4 + 2 * k], m[2 * k + 1], m[5 + 2 * k],
                   m[2 * k] / m[2 * k + 1], m[4 + 2 * k] / m[5 + 2 * k]);
        dev_free(&d[c]);
    }
    fflush(stdout);
    free_res(&r);
    free_prob(&p);
}

int main(void) {
    if (getenv("CLIMP_SCAN_BENCH")) { /* the real shapes of `climp bench kernels` */
        climp_ctx *ctx = tu_open_ctx();
        const char *e = getenv("CLIMP_SCAN_BENCH_REPS"), *only = getenv("CLIMP_SCAN_BENCH_ONLY");
        int reps = e ? atoi(e) : 5;
        reps = reps < 1 ? 1 : reps > BENCH_MAXREPS ? BENCH_MAXREPS : reps;
        int cbs[BENCH_MAXCF], ncb = 0; /* CLIMP_SCAN_BENCH_CB=4,16: more configurations */
        for (const char *c = getenv("CLIMP_SCAN_BENCH_CB"); c && *c && ncb < BENCH_MAXCF - 1;) {
            cbs[ncb++] = atoi(c);
            c = strchr(c, ',');
            c = c ? c + 1 : NULL;
        }
        const spec bs[] = {{"mamba-130m-short", 8, 64, 1536, 16, 1, 1, 48, 0, 0},
                           {"mamba-130m-long", 1, 2048, 1536, 16, 1, 1, 48, 0, 0},
                           {"vmamba-t-stage0", 1, 3136, 768, 1, 4, 0, 6, 0, 0}};
        for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
            if (!only || strstr(bs[i].name, only))
                bench(ctx, &bs[i], reps, !getenv("CLIMP_SCAN_BENCH_NOREF"), cbs, ncb);
        climp_ctx_close(ctx);
        return 0;
    }
    climp_ctx *ctx = tu_open_ctx();
    tuning_check(ctx, &scan_awkward[5]);
    fpga_checks(ctx, scan_awkward, SCAN_NAWKWARD);
    climp_ctx_close(ctx);
    return tu_finish("test_scan_tune");
}
