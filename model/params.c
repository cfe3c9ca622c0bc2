/* The parameter table of a CLIMP model: every tensor with its release key name, shape, offset in
 * the one contiguous parameter buffer, weight-decay flag and initialisation (architecture.md
 * §1.6, §3.1, §4.8-4.9, §5.1), and the host-side initialiser. */
#define _POSIX_C_SOURCE 200809L
#include "model/config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static climp_status add(climp_param_table *t, int tower, int init, float a, int ndim,
                        const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static climp_status add(climp_param_table *t, int tower, int init, float a, int ndim,
                        const int64_t *shape, const char *fmt, ...) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        climp_param *p = realloc(t->p, cap * sizeof(*p));
        if (!p) return CLIMP_ERR_HOST_OOM;
        t->p = p;
        t->cap = cap;
    }
    climp_param *p = &t->p[t->n++];
    memset(p, 0, sizeof(*p));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof(p->name), fmt, ap);
    va_end(ap);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->tower = tower;
    p->init = init;
    p->init_a = a;
    /* No decay: biases (incl. the 2-D dt_projs_bias), norms (1-D), embeddings, A_log(s), D(s),
     * logit_scale. */
    size_t len = strlen(p->name);
    int nodecay = ndim < 2 || strstr(p->name, "embeddings") ||
                  (len >= 4 && !strcmp(p->name + len - 4, "bias")) ||
                  (len >= 5 && !strcmp(p->name + len - 5, "A_log")) ||
                  (len >= 6 && !strcmp(p->name + len - 6, "A_logs"));
    p->decay = !nodecay;
    return CLIMP_OK;
}

#define S1(a) ((const int64_t[]){(a)})
#define S2(a, b) ((const int64_t[]){(a), (b)})
#define S3(a, b, c) ((const int64_t[]){(a), (b), (c)})
#define S4(a, b, c, d) ((const int64_t[]){(a), (b), (c), (d)})

static climp_status add_vision(climp_param_table *t, const climp_vision_config *v) {
    const char *P = "vision_encoder";
    int C0 = v->dims, h = C0 / 2;
    float tn = 0.02f;
    CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf(27.f), 4, S4(h, 3, 3, 3),
                  "%s.patch_embed.0.weight", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf(27.f), 1, S1(h), "%s.patch_embed.0.bias", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(h), "%s.patch_embed.2.weight", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(h), "%s.patch_embed.2.bias", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf(9.f * h), 4, S4(C0, h, 3, 3),
                  "%s.patch_embed.5.weight", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf(9.f * h), 1, S1(C0),
                  "%s.patch_embed.5.bias", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(C0), "%s.patch_embed.7.weight", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(C0), "%s.patch_embed.7.bias", P));
    for (int i = 0; i < v->n_stages; i++) {
        int C = climp_vision_stage_dim(v, i), E = climp_vision_inner(v, i);
        int R = climp_vision_dt_rank(v, i), N = v->d_state, M = (int)(v->mlp_ratio * C);
        for (int j = 0; j < v->depths[i]; j++) {
            char b[96];
            snprintf(b, sizeof(b), "%s.layers.%d.blocks.%d", P, i, j);
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(C), "%s.norm.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(C), "%s.norm.bias", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)E), 3, S3(4, R + 2 * N, E),
                          "%s.op.x_proj_weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_A_LOG_S4D, 0, 2, S2(4 * E, N), "%s.op.A_logs", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(4 * E), "%s.op.Ds", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)R), 3, S3(4, E, R),
                          "%s.op.dt_projs_weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_DT_BIAS, 0, 2, S2(4, E), "%s.op.dt_projs_bias", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(E), "%s.op.out_norm.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(E), "%s.op.out_norm.bias", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_TRUNC_NORMAL, tn, 2, S2(E, C), "%s.op.in_proj.weight",
                          b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, 1 / 3.f, 4, S4(E, 1, 3, 3),
                          "%s.op.conv2d.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_TRUNC_NORMAL, tn, 2, S2(C, E),
                          "%s.op.out_proj.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(C), "%s.norm2.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(C), "%s.norm2.bias", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_TRUNC_NORMAL, tn, 2, S2(M, C), "%s.mlp.fc1.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(M), "%s.mlp.fc1.bias", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_TRUNC_NORMAL, tn, 2, S2(C, M), "%s.mlp.fc2.weight", b));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(C), "%s.mlp.fc2.bias", b));
        }
        if (i + 1 < v->n_stages) {
            float a = 1 / sqrtf(9.f * C);
            CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, a, 4, S4(2 * C, C, 3, 3),
                          "%s.layers.%d.downsample.1.weight", P, i));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_UNIFORM, a, 1, S1(2 * C),
                          "%s.layers.%d.downsample.1.bias", P, i));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(2 * C),
                          "%s.layers.%d.downsample.3.weight", P, i));
            CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(2 * C),
                          "%s.layers.%d.downsample.3.bias", P, i));
        }
    }
    int Cl = climp_vision_out_dim(v);
    CLIMP_TRY(add(t, 0, CLIMP_INIT_ONES, 0, 1, S1(Cl), "%s.classifier.norm.weight", P));
    CLIMP_TRY(add(t, 0, CLIMP_INIT_ZEROS, 0, 1, S1(Cl), "%s.classifier.norm.bias", P));
    return CLIMP_OK;
}

static climp_status add_text(climp_param_table *t, const climp_text_config *c) {
    const char *P = "text_encoder";
    int D = c->d_model, E = climp_text_inner(c), N = c->d_state, K = c->d_conv;
    float out_a = 1 / sqrtf((float)E) / sqrtf((float)c->n_layer);
    CLIMP_TRY(add(t, 1, CLIMP_INIT_NORMAL, 0.02f, 2, S2(c->vocab, D), "%s.embeddings.weight", P));
    for (int i = 0; i < c->n_layer; i++) {
        char b[96];
        snprintf(b, sizeof(b), "%s.layers.%d", P, i);
        CLIMP_TRY(add(t, 1, CLIMP_INIT_ONES, 0, 1, S1(D), "%s.norm.weight", b));
        if (c->arch == CLIMP_TEXT_MAMBA1) {
            int R = c->dt_rank;
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)D), 2, S2(2 * E, D),
                          "%s.mixer.in_proj.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)K), 3, S3(E, 1, K),
                          "%s.mixer.conv1d.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)K), 1, S1(E),
                          "%s.mixer.conv1d.bias", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)E), 2, S2(R + 2 * N, E),
                          "%s.mixer.x_proj.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)R), 2, S2(E, R),
                          "%s.mixer.dt_proj.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_DT_BIAS, 0, 1, S1(E), "%s.mixer.dt_proj.bias", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_A_LOG_S4D, 0, 2, S2(E, N), "%s.mixer.A_log", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_ONES, 0, 1, S1(E), "%s.mixer.D", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, out_a, 2, S2(D, E), "%s.mixer.out_proj.weight",
                          b));
        } else {
            int H = climp_text_nheads(c), G = c->ngroups, cd = E + 2 * G * N;
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)D), 2,
                          S2(2 * E + 2 * G * N + H, D), "%s.mixer.in_proj.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)K), 3, S3(cd, 1, K),
                          "%s.mixer.conv1d.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)K), 1, S1(cd),
                          "%s.mixer.conv1d.bias", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_DT_BIAS, 0, 1, S1(H), "%s.mixer.dt_bias", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_A_LOG_RAND, 0, 1, S1(H), "%s.mixer.A_log", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_ONES, 0, 1, S1(H), "%s.mixer.D", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_ONES, 0, 1, S1(E), "%s.mixer.norm.weight", b));
            CLIMP_TRY(add(t, 1, CLIMP_INIT_UNIFORM, out_a, 2, S2(D, E), "%s.mixer.out_proj.weight",
                          b));
        }
    }
    CLIMP_TRY(add(t, 1, CLIMP_INIT_ONES, 0, 1, S1(D), "%s.norm_f.weight", P));
    return CLIMP_OK;
}

climp_status climp_params_build(const climp_config *c, climp_param_table *out) {
    memset(out, 0, sizeof(*out));
    CLIMP_TRY(climp_config_validate(c));
    climp_status s = add_vision(out, &c->vision);
    int Cl = climp_vision_out_dim(&c->vision), D = c->text.d_model, Ed = c->embed_dim;
    if (!s) s = add(out, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)Cl), 2, S2(Ed, Cl),
                    "vision_projection.weight");
    if (!s) s = add(out, 0, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)Cl), 1, S1(Ed),
                    "vision_projection.bias");
    if (!s) s = add_text(out, &c->text);
    if (!s) s = add(out, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)D), 2, S2(Ed, D),
                    "text_projection.weight");
    if (!s) s = add(out, 1, CLIMP_INIT_UNIFORM, 1 / sqrtf((float)D), 1, S1(Ed),
                    "text_projection.bias");
    if (!s) s = add(out, 2, CLIMP_INIT_CONST, logf(1 / 0.07f), 0, NULL, "logit_scale");
    if (s) {
        climp_params_free(out);
        return s;
    }
    /* Offsets grouped by (tower, decay), each tensor aligned to 16 floats (64 bytes). */
    size_t off = 0;
    for (int tower = 0; tower < 3; tower++)
        for (int decay = 1; decay >= 0; decay--)
            for (int i = 0; i < out->n; i++) {
                climp_param *p = &out->p[i];
                if (p->tower != tower || p->decay != decay) continue;
                off = climp_round_up(off, 16);
                p->offset = off;
                off += p->numel;
            }
    out->total = climp_round_up(off, 16);
    return CLIMP_OK;
}

void climp_params_free(climp_param_table *t) {
    if (!t) return;
    free(t->p);
    memset(t, 0, sizeof(*t));
}

const climp_param *climp_params_find(const climp_param_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].name, name)) return &t->p[i];
    return NULL;
}

/* splitmix64 stream per tensor: deterministic and independent of tensor order. */
static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(uint64_t *s) { return (double)(mix(s) >> 11) / 9007199254740992.0; }
static double gauss(uint64_t *s) {
    double u1 = unif(s), u2 = unif(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

void climp_params_init(const climp_param_table *t, uint64_t seed, float *host) {
    memset(host, 0, t->total * sizeof(float));
    for (int i = 0; i < t->n; i++) {
        const climp_param *p = &t->p[i];
        uint64_t s = seed ^ 0x5bd1e995u;
        for (const char *c = p->name; *c; c++) s = (s ^ (unsigned char)*c) * 0x100000001b3ull;
        float *x = host + p->offset;
        double a = p->init_a;
        size_t last = p->ndim ? (size_t)p->shape[p->ndim - 1] : 1;
        for (size_t k = 0; k < p->numel; k++) {
            double v = 0;
            switch (p->init) {
            case CLIMP_INIT_ZEROS: v = 0; break;
            case CLIMP_INIT_ONES: v = 1; break;
            case CLIMP_INIT_CONST: v = a; break;
            case CLIMP_INIT_UNIFORM: v = (2 * unif(&s) - 1) * a; break;
            case CLIMP_INIT_UNIFORM01: v = unif(&s) * a; break;
            case CLIMP_INIT_NORMAL: v = gauss(&s) * a; break;
            case CLIMP_INIT_TRUNC_NORMAL:
                do v = gauss(&s) * a;
                while (fabs(v) > 2.0);
                break;
            case CLIMP_INIT_DT_BIAS: {
                double dt = exp(unif(&s) * (log(0.1) - log(1e-3)) + log(1e-3));
                if (dt < 1e-4) dt = 1e-4;
                v = dt + log(-expm1(-dt));
                break;
            }
            case CLIMP_INIT_A_LOG_S4D: v = log((double)(k % last) + 1); break;
            case CLIMP_INIT_A_LOG_RAND: v = log(1 + 15 * unif(&s)); break;
            }
            x[k] = (float)v;
        }
    }
}
