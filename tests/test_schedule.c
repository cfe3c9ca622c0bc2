/* The learning-rate schedule climp_lr_at (trainer/optimizer.h) against open_clip's definitions
 * computed here in double: warmup lr·(step+1)/warmup for step < warmup, then constant lr, or
 * cosine 0.5·(1 + cos(π·e/es))·lr with e = step − warmup, es = total − warmup. Covers step 0, the
 * last warmup step, the first step after warmup, the middle and the last step of the cosine,
 * warmup 0 and warmup >= total. Also the AdamW no-decay mask of the parameter table against the
 * decayed set of the PyTorch reference (tests/reference/climp_ref.weight_decay_applies) for a
 * Mamba-1 and a Mamba-2 configuration. Needs no device. */
#include "model/config.h"
#include "tests/testutil.h"
#include "trainer/optimizer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

/* open_clip scheduler.py: _warmup_lr, const_lr, cosine_lr (step 0-based). */
static double ref_lr(int cosine, double base, int warmup, int total, int step) {
    if (step < warmup) return base * (step + 1) / warmup;
    if (!cosine) return base;
    double e = step - warmup, es = total - warmup;
    return 0.5 * (1 + cos(PI * e / es)) * base;
}

static int close_to(double got, double want, double base) {
    return fabs(got - want) <= 1e-6 * base + 1e-6 * fabs(want);
}

static void check_lr(climp_lr_schedule s, float base, int warmup, int total, int step) {
    double got = climp_lr_at(s, base, warmup, total, step);
    double want = ref_lr(s == CLIMP_LR_COSINE, base, warmup, total, step);
    tu_check(close_to(got, want, base), "%s lr %g warmup %d total %d step %d: %.9g, want %.9g",
             s == CLIMP_LR_COSINE ? "cosine" : "const", base, warmup, total, step, got, want);
}

static void test_schedule(void) {
    const float lr = 1e-3f;
    /* Every step of two whole runs, both schedules. */
    for (int sched = 0; sched < 2; sched++) {
        climp_lr_schedule s = sched ? CLIMP_LR_CONST : CLIMP_LR_COSINE;
        for (int step = 0; step < 100; step++) check_lr(s, lr, 10, 100, step);
        for (int step = 0; step < 7; step++) check_lr(s, 3e-4f, 0, 7, step);
    }
    /* Named points, with their closed-form values spelled out. */
    tu_check(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 0) == lr / 10,
             "step 0 of warmup 10 is lr/10 (open_clip: (step+1)/warmup, never 0)");
    tu_check(close_to(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 4), lr * 0.5, lr),
             "warmup step 4 of 10 is lr/2");
    tu_check(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 9) == lr, "last warmup step is lr");
    tu_check(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 10) == lr, "first cosine step is lr");
    tu_check(close_to(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 55), lr * 0.5, lr),
             "cosine half way (e = es/2) is lr/2");
    tu_check(close_to(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 40),
                      lr * 0.5 * (1 + cos(PI / 3)), lr),
             "cosine at e = es/3 is 0.75 lr");
    double last = climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 99);
    double want_last = 0.5 * (1 + cos(PI * 89 / 90)) * lr; /* 3.05e-7 */
    tu_check(last > 0 && fabs(last - want_last) <= 1e-3 * want_last,
             "last step (e = es - 1) is %.4g, want %.4g (positive, not 0)", last, want_last);
    tu_check(fabs(climp_lr_at(CLIMP_LR_COSINE, lr, 10, 100, 100)) <= 1e-6 * lr,
             "one past the run (e = es) is 0");
    tu_check(climp_lr_at(CLIMP_LR_CONST, lr, 10, 100, 99) == lr, "const keeps lr to the end");
    tu_check(close_to(climp_lr_at(CLIMP_LR_CONST, lr, 10, 100, 3), 0.4 * lr, lr),
             "const has the same warmup: step 3 of 10 is 0.4 lr");
    /* Warmup 0: the first step already runs at lr (no division by zero). */
    tu_check(climp_lr_at(CLIMP_LR_COSINE, lr, 0, 50, 0) == lr, "warmup 0: cosine step 0 is lr");
    tu_check(climp_lr_at(CLIMP_LR_CONST, lr, 0, 50, 0) == lr, "warmup 0: const step 0 is lr");
    tu_check(climp_lr_at(CLIMP_LR_CONST, lr, 0, 5, 4) == lr, "warmup 0: const to the end");
    /* Warmup >= total: every step of the run is a warmup step, for both schedules. */
    for (int sched = 0; sched < 2; sched++) {
        climp_lr_schedule s = sched ? CLIMP_LR_CONST : CLIMP_LR_COSINE;
        for (int step = 0; step < 5; step++) {
            check_lr(s, lr, 10, 5, step);
            check_lr(s, lr, 5, 5, step);
        }
        tu_check(close_to(climp_lr_at(s, lr, 10, 5, 4), lr * 0.5, lr),
                 "warmup 10 > total 5: the last step is lr/2");
        /* Past the run with warmup == total, es = 0: open_clip would divide by zero. */
        double past = climp_lr_at(s, lr, 5, 5, 5);
        tu_check(isfinite(past) && past >= 0 && past <= lr,
                 "warmup == total, one step past the run: finite %g in [0, lr]", past);
    }
    /* A run of one step. */
    tu_check(climp_lr_at(CLIMP_LR_COSINE, lr, 0, 1, 0) == lr, "one-step run: lr");
    tu_check(climp_lr_at(CLIMP_LR_COSINE, lr, 1, 1, 0) == lr, "one-step run, warmup 1: lr");
}

/* ------------------------------------------------------------------ no-decay mask */
/* Leaf suffixes of the parameters climp_ref.weight_decay_applies decays (ndim >= 2, not a bias,
 * not A_log/A_logs, not the embedding): every weight matrix and conv kernel. */
static const char *const DECAYED[] = {
    "patch_embed.0.weight", "patch_embed.5.weight", "op.x_proj_weight", "op.dt_projs_weight",
    "op.in_proj.weight",    "op.conv2d.weight",     "op.out_proj.weight", "mlp.fc1.weight",
    "mlp.fc2.weight",       "downsample.1.weight",  "vision_projection.weight",
    "mixer.in_proj.weight", "mixer.conv1d.weight",  "mixer.x_proj.weight", "mixer.dt_proj.weight",
    "mixer.out_proj.weight", "text_projection.weight",
};

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* want_n, want_decayed: the reference's table size and decayed count for this config. */
static void check_mask(const char *json, int want_n, int want_decayed) {
    climp_config c;
    climp_param_table t;
    CLIMP_CHECK(climp_config_from_json(json, &c));
    CLIMP_CHECK(climp_params_build(&c, &t));
    tu_check(t.n == want_n, "%d parameters, the reference has %d", t.n, want_n);
    int decayed = 0;
    for (int i = 0; i < t.n; i++) {
        int want = 0;
        for (size_t k = 0; k < sizeof(DECAYED) / sizeof(DECAYED[0]); k++)
            want |= ends_with(t.p[i].name, DECAYED[k]);
        decayed += t.p[i].decay != 0;
        tu_check(!t.p[i].decay == !want, "%s (ndim %d): decay %d, reference %d", t.p[i].name,
                 t.p[i].ndim, t.p[i].decay, want);
    }
    tu_check(decayed == want_decayed, "%d decayed tensors, the reference decays %d", decayed,
             want_decayed);
    /* The cases DESIGN.md calls out by name. */
    const char *nodecay[] = {"vision_encoder.layers.0.blocks.0.op.dt_projs_bias",
                             "vision_encoder.layers.0.blocks.0.op.A_logs",
                             "vision_encoder.layers.0.blocks.0.op.Ds",
                             "vision_encoder.layers.0.blocks.0.norm.weight",
                             "text_encoder.embeddings.weight", "text_encoder.layers.0.mixer.A_log",
                             "text_encoder.layers.0.mixer.D", "text_encoder.norm_f.weight",
                             "text_projection.bias", "logit_scale"};
    for (size_t k = 0; k < sizeof(nodecay) / sizeof(nodecay[0]); k++) {
        const climp_param *p = climp_params_find(&t, nodecay[k]);
        tu_check(p && !p->decay, "%s is present and not decayed", nodecay[k]);
    }
    const climp_param *p = climp_params_find(&t, "vision_encoder.layers.0.blocks.0.op.dt_projs_bias");
    tu_check(p && p->ndim == 2, "dt_projs_bias is 2-D (K, E), excluded as a bias, not by ndim");
    climp_params_free(&t);
}

static void test_mask(void) {
    const char *vis = "\"vision\": {\"dims\": 8, \"depths\": [1, 1], \"d_state\": 2, "
                      "\"ssm_ratio\": 2.0, \"mlp_ratio\": 4.0}";
    char json[1024];
    snprintf(json, sizeof json,
             "{%s, \"text\": {\"arch\": \"mamba1\", \"d_model\": 16, \"n_layer\": 2, \"d_state\": "
             "4, \"expand\": 2, \"d_conv\": 4, \"dt_rank\": 1, \"vocab\": 264, \"headdim\": 0, "
             "\"ngroups\": 1}, \"embed_dim\": 12}",
             vis);
    check_mask(json, 77, 29);
    snprintf(json, sizeof json,
             "{%s, \"text\": {\"arch\": \"mamba2\", \"d_model\": 16, \"n_layer\": 1, \"d_state\": "
             "8, \"expand\": 2, \"d_conv\": 4, \"dt_rank\": 0, \"vocab\": 264, \"headdim\": 8, "
             "\"ngroups\": 1}, \"embed_dim\": 12}",
             vis);
    check_mask(json, 66, 22);
    climp_config c;
    climp_param_table t;
    CLIMP_CHECK(climp_config_from_json(json, &c));
    CLIMP_CHECK(climp_params_build(&c, &t));
    const climp_param *p = climp_params_find(&t, "text_encoder.layers.0.mixer.dt_bias");
    tu_check(p && !p->decay, "Mamba-2 dt_bias not decayed");
    p = climp_params_find(&t, "text_encoder.layers.0.mixer.norm.weight");
    tu_check(p && !p->decay, "Mamba-2 gated norm weight not decayed");
    climp_params_free(&t);
}

int main(void) {
    test_schedule();
    test_mask();
    return tu_finish("test_schedule");
}
