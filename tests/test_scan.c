/* Selective scan tests (model/scan.h): (1) the C backward against central finite differences in
 * double on small shapes, every gradient; (2) every OpenCL variant, chunk mapping and chunk length
 * against the C reference on real-model and awkward shapes, forward and backward, including
 * strided views and untouched gaps; (3) bitwise determinism of the backward; (4) invalid
 * arguments return their error and enqueue nothing. The FPGA variant, the tuning table and the
 * timing mode are in tests/test_scan_tune.c; shared helpers in tests/test_scan_util.h. */
#include "tests/test_scan_util.h"

/* ---------------------------------------------------------------- (1) finite differences */

static double *to_d(const float *x, size_t n) {
    double *d = calloc(n ? n : 1, sizeof(double));
    if (!d)
        abort();
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static double fd_loss(const prob *p, double **in, const double *w) {
    double *out = calloc(p->n_out, sizeof(double)), loss = 0;
    climp_scan_forward_ref_f64(&p->s, in[0], in[1], in[2], in[3] + p->b_off, in[3] + p->c_off,
                               in[4], in[5], p->has_z ? in[6] : NULL, out);
    for (size_t t = 0; t < (size_t)p->s.B * p->s.L; t++)
        for (int c = 0; c < p->s.Dc; c++)
            loss += w[t * p->s.ld_dout + c] * out[t * p->s.ld_out + c];
    free(out);
    return loss;
}

/* One finite-difference pass per gradient: input array, its stored gradient, which elements. */
enum { FD_U, FD_DT, FD_A, FD_BM, FD_CM, FD_D, FD_BIAS, FD_Z, FD_COUNT };

static void fd_check(const spec *sp) {
    prob p = make_prob(sp, 11);
    const climp_scan_shape *s = &p.s;
    /* inputs: u, dt, A_log, x (holds Bm and Cm), D, bias, z */
    const size_t sz[7] = {p.n_u, p.n_dt, p.dn, p.n_x, (size_t)s->Dc, (size_t)s->Dc, p.n_z};
    const float *src[7] = {p.u, p.dt, p.A_log, p.x, p.D, p.bias, p.z};
    const int input_of[FD_COUNT] = {0, 1, 2, 3, 3, 4, 5, 6};
    const char *names[FD_COUNT] = {"du",  "ddelta_raw", "dA_log",      "dBm",
                                   "dCm", "dD",         "ddelta_bias", "dz"};
    double *in[7], *gr[7], *w = to_d(p.dout, climp_scan_tok_extent(s, s->ld_dout));
    for (int i = 0; i < 7; i++) {
        in[i] = to_d(src[i], sz[i]);
        const size_t ng = i == 1 ? climp_scan_tok_extent(s, s->ld_ddt) : sz[i];
        gr[i] = calloc(ng ? ng : 1, sizeof(double));
    }
    climp_scan_backward_ref_f64(s, in[0], in[1], in[2], in[3] + p.b_off, in[3] + p.c_off, in[4],
                                in[5], p.has_z ? in[6] : NULL, w, gr[0], gr[1], gr[2],
                                gr[3] + p.b_off, gr[3] + p.c_off, gr[4], gr[5],
                                p.has_z ? gr[6] : NULL);
    for (int f = 0; f < (p.has_z ? FD_COUNT : FD_Z); f++) {
        const int i = input_of[f];
        double maxerr = 0;
        int checked = 0, bad = 0;
        for (size_t e = 0; e < sz[i]; e++) {
            size_t ge = e; /* where the gradient of element e is stored */
            if (f == FD_U || f == FD_DT || f == FD_Z) {
                const int ld = f == FD_U ? s->ld_u : f == FD_DT ? s->ld_dt : s->ld_z;
                if ((int)(e % ld) >= s->Dc)
                    continue; /* a gap */
                if (f == FD_DT)
                    ge = e / ld * s->ld_ddt + e % ld;
            }
            if (f == FD_BM || f == FD_CM) { /* only this tensor's part of each record */
                const size_t rec = e % s->bc_stride_g, lo = f == FD_BM ? p.b_off : p.c_off;
                if (rec < lo || rec >= lo + s->N)
                    continue;
            }
            const double x0 = in[i][e], h = 1e-5 * (1 + fabs(x0));
            in[i][e] = x0 + h;
            const double lp = fd_loss(&p, in, w);
            in[i][e] = x0 - h;
            const double lm = fd_loss(&p, in, w);
            in[i][e] = x0;
            const double fd = (lp - lm) / (2 * h), an = gr[i][ge], err = fabs(fd - an);
            if (err > maxerr)
                maxerr = err;
            if (err > 1e-7 + 1e-6 * fabs(fd) && bad++ < 4)
                fprintf(stderr, "  fd %s %s[%zu]: fd %.10g analytic %.10g\n", sp->name, names[f], e,
                        fd, an);
            checked++;
        }
        tu_check(bad == 0 && checked > 0, "finite differences %s %s: %d of %d bad, max err %.2e",
                 sp->name, names[f], bad, checked, maxerr);
        printf("fd %-10s %-12s %4d elements, max |fd - analytic| %.2e\n", sp->name, names[f],
               checked, maxerr);
    }
    for (int i = 0; i < 7; i++)
        free(in[i]), free(gr[i]);
    free(w);
    free_prob(&p);
}

/* ---------------------------------------------------------------- (4) invalid arguments */

static void invalid_check(climp_ctx *ctx) {
    const climp_scan_shape ok = {.B = 2,
                                 .L = 9,
                                 .Dc = 6,
                                 .N = 3,
                                 .G = 2,
                                 .ld_u = 6,
                                 .ld_dt = 6,
                                 .ld_z = 6,
                                 .ld_out = 6,
                                 .bc_stride_b = 54,
                                 .bc_stride_l = 6,
                                 .bc_stride_g = 3,
                                 .chunk = 4};
    climp_buffer *big = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "big", 1 << 16, &big));
    climp_tview v = climp_buffer_view(big), small = climp_view_sub(v, 0, 8), none = {NULL, 0, 0};
    const long before = climp_ctx_counters(ctx).launches;
    struct {
        const char *what;
        climp_scan_shape s;
        int fwd_err;
    } cases[] = {{"B=0", ok, CLIMP_ERR_SHAPE},
                 {"G does not divide Dc", ok, CLIMP_ERR_SHAPE},
                 {"N=257", ok, CLIMP_ERR_SHAPE},
                 {"ld_u < Dc", ok, CLIMP_ERR_SHAPE},
                 {"B/C strides overlap", ok, CLIMP_ERR_SHAPE},
                 {"chunk 2000", ok, CLIMP_ERR_INVALID_ARG},
                 {"cb 3", ok, CLIMP_ERR_INVALID_ARG},
                 {"ld_z < Dc with z", ok, CLIMP_ERR_SHAPE},
                 {"cpu-n1 variant with N=3", ok, CLIMP_ERR_INVALID_ARG},
                 {"cpu-n1 variant with chunk 128", ok, CLIMP_ERR_INVALID_ARG},
                 {"variant 5", ok, CLIMP_ERR_INVALID_ARG}};
    cases[0].s.B = 0, cases[1].s.G = 4, cases[2].s.N = 257, cases[3].s.ld_u = 5;
    cases[4].s.bc_stride_g = 2, cases[5].s.chunk = 2000, cases[6].s.cb = 3, cases[7].s.ld_z = 5;
    cases[8].s.variant = CLIMP_SCAN_CPU_N1;
    cases[9].s.variant = CLIMP_SCAN_CPU_N1, cases[9].s.N = 1, cases[9].s.chunk = 128;
    cases[9].s.bc_stride_b = 18, cases[9].s.bc_stride_l = 2, cases[9].s.bc_stride_g = 1;
    cases[10].s.variant = 5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const climp_scan_shape *s = &cases[i].s;
        climp_status e = climp_scan_forward(ctx, s, v, v, v, v, v, v, v, v, v, v);
        climp_status e2 =
            climp_scan_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v);
        tu_check(e == cases[i].fwd_err && e2 == cases[i].fwd_err, "%s: forward %s backward %s",
                 cases[i].what, climp_status_name(e), climp_status_name(e2));
    }
    /* views too small / missing, on the valid shape */
    const climp_scan_shape *s = &ok;
    struct {
        const char *what;
        climp_status got, want;
    } vc[] = {
        {"u too small", climp_scan_forward(ctx, s, small, v, v, v, v, v, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"Cm too small", climp_scan_forward(ctx, s, v, v, v, v, small, v, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"states too small", climp_scan_forward(ctx, s, v, v, v, v, v, v, v, v, v, small),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"out missing", climp_scan_forward(ctx, s, v, v, v, v, v, v, v, none, none, v),
         CLIMP_ERR_INVALID_ARG},
        {"scratch too small",
         climp_scan_backward(ctx, s, v, v, v, v, v, v, v, none, v, v, small, v, v, v, v, v, v, v,
                             none),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"dCm too small",
         climp_scan_backward(ctx, s, v, v, v, v, v, v, v, none, v, v, v, v, v, v, v, small, v, v,
                             none),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"dz missing with z",
         climp_scan_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, none),
         CLIMP_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof vc / sizeof vc[0]; i++)
        tu_check(vc[i].got == vc[i].want, "%s: got %s want %s", vc[i].what,
                 climp_status_name(vc[i].got), climp_status_name(vc[i].want));
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls enqueued nothing (%ld)",
             climp_ctx_counters(ctx).launches - before);
    tu_check(climp_scan_states_size(&cases[0].s) == 0, "states size of a bad shape is 0");
    climp_buffer_destroy(big);
}

int main(void) {
    const spec fd1 = {"fd-g2-z", 2, 6, 4, 3, 2, 1, 2, 1, 0};
    const spec fd2 = {"fd-g1", 1, 7, 3, 2, 1, 0, 1, 2, 0};
    const spec fd3 = {"fd-n1-g3", 2, 4, 3, 1, 3, 1, 0, 0, 0};
    fd_check(&fd1);
    fd_check(&fd2);
    fd_check(&fd3);

    climp_ctx *ctx = tu_open_ctx();
    /* slab 32: backward in launches of 2 chunks of 16 (or 1 of 64) tokens */
    const config all[] = {{CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_CHUNKS, 32},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 32},
                          {CLIMP_SCAN_GPU, 0, 4, CLIMP_SCAN_SPLIT_CHUNKS, 32},
                          {CLIMP_SCAN_GPU, 0, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0}};
    const int nall = sizeof all / sizeof all[0];
    const int ch2[] = {16, 64};
    /* The default CPU width (cb 8) and the GPU variant always; CLIMP_SCAN_FULL=1 also tries cb
     * 1, 2, 4 and 16 (each is one more program build, several seconds on a CPU driver). */
    const config widths[] = {{CLIMP_SCAN_CPU, 1, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 32},
                             {CLIMP_SCAN_CPU, 2, 0, CLIMP_SCAN_SPLIT_CHUNKS, 32},
                             {CLIMP_SCAN_CPU, 4, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0},
                             {CLIMP_SCAN_CPU, 16, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0}};
    const int full = getenv("CLIMP_SCAN_FULL") != NULL;
    for (int i = 0; i < SCAN_NAWKWARD; i++) {
        device_check(ctx, &scan_awkward[i], all, nall, ch2, 2);
        if (full)
            device_check(ctx, &scan_awkward[i], widths, 3, ch2, 2);
    }
    const spec m130 = {"mamba-130m", 2, 64, 1536, 16, 1, 1, 96, 0, 0};
    const spec m2 = {"mamba2", 2, 300, 128, 128, 1, 0, 0, 0, 1};
    const spec vm = {"vmamba-s0", 1, 3136, 768, 1, 4, 0, 6, 0, 0};
    const config two[] = {{CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 128}};
    const config gpu1[] = {{CLIMP_SCAN_GPU, 0, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0}};
    const int ch1[] = {64};
    device_check(ctx, &m130, two, 2, ch2, 2);
    device_check(ctx, &m130, gpu1, 1, ch1, 1);
    device_check(ctx, &m2, two, 2, ch2, 2);
    device_check(ctx, &vm, two, 2, ch2, 2);
    device_check(ctx, &vm, gpu1, 1, ch1, 1);
    /* automatic variant, split and chunk; one long sequence (many chunks, the default slab) */
    const config autocf[] = {{CLIMP_SCAN_AUTO, 0, 0, CLIMP_SCAN_SPLIT_AUTO, 0}};
    const int ch0[] = {0};
    const spec longl = {"L65537", 1, 65537, 8, 2, 1, 1, 1, 0, 0};
    device_check(ctx, &m130, autocf, 1, ch0, 1);
    device_check(ctx, &longl, autocf, 1, ch0, 1);
    device_check(ctx, &longl, &two[1], 1, ch1, 1);
    if (full) { /* the largest chunk capacities (private arrays of 4096 floats) */
        const config big[] = {{CLIMP_SCAN_CPU, 4, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0},
                              {CLIMP_SCAN_CPU, 16, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0}};
        const int ch1024[] = {1024}, ch256[] = {256};
        device_check(ctx, &longl, &big[0], 1, ch1024, 1);
        device_check(ctx, &longl, &big[1], 1, ch256, 1);
    }

    device_check(ctx, &vm, autocf, 1, ch0, 1);
    /* The N = 1 variant (scan_n1.cl): groups whose channels end inside a vector (37 per group),
     * several blocks per group with a partial last one (300 per group, one sequence), the gate,
     * padded strides, chunks that are not a multiple of its token blocks, one-token chunks,
     * slabs (the carry handed between backward launches through the scratch), and a batch whose
     * groups are still split in two blocks. */
    const spec n1a = {"n1-g4-z", 2, 70, 4 * 37, 1, 4, 1, 6, 3, 0};
    const spec n1b = {"n1-wide", 1, 150, 2 * 300, 1, 2, 0, 4, 0, 0};
    /* a batch that alone gives the work-items, groups of 13 vectors: still 2 blocks (8 + 5) */
    const spec n1c = {"n1-batch", 4, 45, 2 * 100, 1, 2, 0, 0, 0, 0};
    const config n1cf[] = {{CLIMP_SCAN_CPU_N1, 0, 0, 0, 0}, {CLIMP_SCAN_CPU_N1, 0, 0, 0, 32}};
    const int ch3[] = {1, 37, 64};
    device_check(ctx, &n1a, n1cf, 2, ch3, 3);
    device_check(ctx, &n1b, n1cf, 2, ch3, 3);
    device_check(ctx, &n1c, n1cf, 2, ch3, 3);
    /* The forward's whole groups per work-item (rows), asked for and automatic: groups of 32
     * channels (4 vectors) with the gate and padded strides, 2 groups of 64, and rows of 96
     * vectors (VMamba-T stage 0's 4 x 192 channels); then a shape where rows cannot apply
     * (groups of 37 channels: the forward keeps blocks). */
    const spec n1r = {"n1-rows-z", 8, 75, 4 * 32, 1, 4, 1, 3, 5, 0};
    const spec n1s = {"n1-rows", 3, 130, 2 * 64, 1, 2, 0, 0, 0, 0};
    const spec n1w = {"n1-rows-wide", 2, 21, 4 * 192, 1, 4, 0, 0, 0, 0};
    device_check_rows(ctx, &n1r, n1cf, 2, ch3, 3, 4);
    device_check_rows(ctx, &n1r, n1cf, 1, ch3, 3, 2);
    device_check(ctx, &n1r, n1cf, 1, ch3, 3);
    device_check_rows(ctx, &n1s, n1cf, 2, ch3, 3, 2);
    device_check(ctx, &n1s, n1cf, 1, ch3, 3);
    device_check_rows(ctx, &n1w, n1cf, 1, ch2, 2, 4);
    {
        prob pr = make_prob(&n1a, 1);
        climp_scan_shape r = pr.s;
        r.variant = CLIMP_SCAN_CPU_N1, r.rows = 4;
        tu_check(climp_scan_resolve(ctx, &r).rows == 1, "n1-g4-z: rows 4 does not apply to "
                                                        "groups of 37 channels (forward in blocks)");
        free_prob(&pr);
    }
    for (int i = 0; i < SCAN_NAWKWARD; i++)
        if (scan_awkward[i].N == 1)
            device_check(ctx, &scan_awkward[i], n1cf, 2, ch2, 2);
    determinism_check(ctx, &n1a, &n1cf[1]);
    const spec n20 = {"n20-g2", 2, 40, 8, 20, 2, 1, 2, 0, 0}; /* dB/dC sums: 16 lanes + 4 */
    device_check(ctx, &n20, autocf, 1, ch2, 2);
    determinism_check(ctx, &m130, &autocf[0]);
    determinism_check(ctx, &vm, &autocf[0]); /* N = 1: its own program (constant state size) */
    determinism_check(ctx, &scan_awkward[5], &all[4]);
    determinism_check(ctx, &scan_awkward[7], &all[5]);
    invalid_check(ctx);
    climp_ctx_close(ctx);
    return tu_finish("test_scan");
}
