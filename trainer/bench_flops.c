/* Analytic FLOP counts for `climp bench` (reference/architecture.md §6): the VMamba vision tower
 * (§6.2, stem and downsample included), the Mamba-1 and Mamba-2 text towers (§6.1), the CLIMP
 * heads and loss, and a ViT-B/16 at the same resolution with its attention memory, for the
 * scaling comparison. Conventions (fvcore, as VMamba publishes): one MAC counts 1 for every
 * Linear, conv and matmul; LayerNorm 5 per element, RMSNorm 4, gated RMSNorm 5; average pool 1
 * per input element; activations, adds and permutes 0; the selective scan 9 per (token, channel,
 * state) plus 1 per (token, channel) for the D skip and 1 for a z gate. Hardware FLOPs are
 * 2 x MAC + the rest. Checked against §6.3 by tests/test_bench.c. */
#include "trainer/bench.h"

#include <math.h>

double climp_flops_fvcore(const climp_flops *f) { return f->mac + f->scan + f->norm + f->pool; }
double climp_flops_hw(const climp_flops *f) { return 2 * f->mac + f->scan + f->norm + f->pool; }

void climp_flops_add(climp_flops *acc, const climp_flops *f, double times) {
    acc->mac += f->mac * times;
    acc->scan += f->scan * times;
    acc->norm += f->norm * times;
    acc->pool += f->pool * times;
}

/* One VSS block (SS2D v05_noz + MLP) on an L-position grid with C channels. */
static void vss_block(const climp_vision_config *v, int stage, double L, climp_flops *f) {
    double C = climp_vision_stage_dim(v, stage), E = climp_vision_inner(v, stage);
    double R = climp_vision_dt_rank(v, stage), N = v->d_state, K = 4;
    double hidden = floor(v->mlp_ratio * C);
    f->norm += 2 * 5 * L * C;          /* norm, norm2 */
    f->mac += L * C * E;               /* in_proj */
    f->mac += 9 * L * E;               /* depthwise 3x3 */
    f->mac += L * K * E * (R + 2 * N); /* x_proj per direction */
    f->mac += L * K * E * R;           /* dt_proj per direction */
    f->scan += 9 * L * K * E * N + L * K * E;
    f->norm += 5 * L * E;              /* out_norm */
    f->mac += L * E * C;               /* out_proj */
    f->mac += 2 * L * C * hidden;      /* fc1 + fc2 */
}

void climp_flops_vision(const climp_vision_config *v, int H, int W, int head_out,
                        climp_flops *out) {
    climp_flops f = {0, 0, 0, 0};
    double C0 = v->dims, half = v->dims / 2;
    int h = climp_down2(H), w = climp_down2(W); /* stem conv 1 */
    f.mac += (double)h * w * half * v->in_chans * 9;
    f.norm += 5.0 * h * w * half;
    h = climp_down2(h), w = climp_down2(w); /* stem conv 2 */
    f.mac += (double)h * w * C0 * half * 9;
    f.norm += 5.0 * h * w * C0;
    for (int i = 0; i < v->n_stages; i++) {
        for (int j = 0; j < v->depths[i]; j++) vss_block(v, i, (double)h * w, &f);
        if (i + 1 < v->n_stages) { /* downsample v3: conv 3x3 s2 C -> 2C, LayerNorm(2C) */
            double C = climp_vision_stage_dim(v, i);
            h = climp_down2(h), w = climp_down2(w);
            f.mac += (double)h * w * 2 * C * C * 9;
            f.norm += 5.0 * h * w * 2 * C;
        }
    }
    double Cl = climp_vision_out_dim(v);
    f.norm += 5.0 * h * w * Cl; /* classifier.norm */
    f.pool += (double)h * w * Cl;
    f.mac += (double)head_out * Cl;
    *out = f;
}

void climp_flops_text(const climp_text_config *t, long L, int embed_dim, climp_flops *out) {
    climp_flops f = {0, 0, 0, 0};
    double D = t->d_model, E = climp_text_inner(t), N = t->d_state, K = t->d_conv;
    double tok = (double)L;
    for (int i = 0; i < t->n_layer; i++) {
        f.norm += 4 * D * tok; /* block RMSNorm */
        if (t->arch == CLIMP_TEXT_MAMBA2) {
            double G = t->ngroups, H = climp_text_nheads(t);
            f.mac += tok * (D * (2 * E + 2 * G * N + H) + (E + 2 * G * N) * K + E * D);
            /* recurrent SSM: 3 multiply-adds per (head dim, state) element, plus the D skip */
            f.scan += tok * (6 * E * N + E);
            f.norm += 5 * E * tok; /* gated RMSNorm */
        } else {
            double R = t->dt_rank;
            f.mac += tok * (D * 2 * E + E * K + E * (R + 2 * N) + R * E + E * D);
            f.scan += tok * (9 * E * N + 2 * E); /* D skip and z gate */
        }
    }
    f.norm += 4 * D * tok; /* norm_f */
    f.mac += (double)embed_dim * D;
    *out = f;
}

double climp_flops_pair_forward(const climp_config *c, int H, int W, long L, int B) {
    climp_flops f;
    climp_flops_vision(&c->vision, H, W, c->embed_dim, &f);
    double total = climp_flops_hw(&f);
    climp_flops_text(&c->text, L, c->embed_dim, &f);
    total += climp_flops_hw(&f);
    total += 2.0 * B * c->embed_dim; /* this pair's row of the B x B similarity matrix */
    return total;
}

void climp_flops_vit_b16(int H, int W, climp_vit_cost *out) {
    const double D = 768, layers = 12, heads = 12, mlp = 3072, patch = 16;
    double n = floor(H / patch) * floor(W / patch), T = n + 1;
    climp_flops f = {0, 0, 0, 0};
    f.mac += n * (3 * patch * patch) * D;           /* patch embedding */
    f.mac += layers * (4 * T * D * D                /* qkv, attention output projection */
                       + 2 * T * T * D              /* q k^T and attention x v */
                       + 2 * T * D * mlp);          /* MLP */
    f.norm += 5 * T * D * (2 * layers + 1);         /* LayerNorms */
    out->tokens = (int)T;
    out->flops = f;
    out->attn_bytes_layer = heads * T * T * 4;      /* one layer's fp32 attention matrix */
    out->attn_bytes_train = layers * heads * T * T * 4; /* probabilities kept for backward */
    /* Kept per layer for backward (fp32): LN inputs 2D, qkv 3D, attention output D, MLP hidden
     * 4D before and after GELU, residual D: 15 T D floats, plus the attention probabilities. */
    out->act_bytes_train = layers * 15 * T * D * 4 + out->attn_bytes_train;
    /* Inference keeps one layer alive: its attention matrix, the residual, qkv and MLP hidden. */
    out->act_bytes_infer = out->attn_bytes_layer + 8 * T * D * 4;
}
