/* Private to the model files: the model struct, the activation tapes of each block, and small
 * helpers (linear layers, arena allocation with the sizing pass). */
#ifndef CLIMP_MODEL_INTERNAL_H
#define CLIMP_MODEL_INTERNAL_H

#include "model/climp_model.h"

/* One VSS block's saved activations (B, H, W grid of the stage; L = H*W). */
typedef struct vss_tape {
    climp_tview x;                   /* (B, L, C) block input */
    climp_tview m1, r1, n1;          /* norm: mean, rstd (B*L), output (B, L, C) */
    climp_tview xe;                  /* in_proj out (B, L, E) */
    climp_tview xc;                  /* dwconv out (B, L, E), silu input */
    climp_tview xs;                  /* cross-scan of silu(xc) (B, L, 4, E) */
    climp_tview xdbl;                /* (B, L, 4, R+2N) */
    climp_tview dt;                  /* delta_raw (B, L, 4, E) */
    climp_tview states;              /* scan chunk states */
    climp_tview y;                   /* cross-merge (B, L, E) */
    climp_tview m2, r2, yn;          /* out_norm */
    climp_tview x2;                  /* x + out_proj(yn) (B, L, C) */
    climp_tview m3, r3, n2;          /* norm2 */
    climp_tview h, g;                /* fc1 out (B, L, M), gelu(h) */
    climp_tview out;                 /* x2 + fc2(g) */
} vss_tape;

typedef struct down_tape {
    climp_tview x, c, m, r, out; /* input (B,H,W,C), conv out (B,Ho,Wo,2C), LN stats, output */
} down_tape;

typedef struct vision_tape {
    int B, H, W;
    climp_tview img;                      /* (B, H, W, 3) */
    climp_tview a1, m1, r1, a2, a3, a4, m2, r2, a5; /* stem */
    vss_tape *blocks;                     /* all blocks, stage-major */
    down_tape down[CLIMP_MAX_STAGES];
    climp_tview head_in;                  /* input of classifier.norm (B, Hl, Wl, Cl) */
    climp_tview fm, fr, fn;               /* classifier.norm */
    climp_tview pooled;                   /* (B, C_last) */
    climp_tview proj, norm, emb;          /* projection (B, Ed), its L2 norm, embedding */
} vision_tape;

typedef struct mamba_tape {
    climp_tview r;       /* residual stream entering the layer (B, L, D) */
    climp_tview rs, hn;  /* RMSNorm rstd and output */
    climp_tview xz;      /* in_proj out: Mamba-1 (B, L, 2E); Mamba-2 (B, L, d_in_proj) */
    climp_tview xc;      /* conv out (silu input) (B, L, E or conv_dim) */
    climp_tview u;       /* silu(xc) */
    climp_tview xdbl;    /* Mamba-1 x_proj out (B, L, R+2N) */
    climp_tview dt;      /* delta_raw (B, L, E) */
    climp_tview states;
    climp_tview y;       /* scan out (B, L, E) */
    climp_tview gs, yg;  /* Mamba-2 gated norm rstd and output */
} mamba_tape;

typedef struct text_tape {
    int B, L;
    climp_tview ids, lengths;
    mamba_tape *layers;
    climp_tview rf;              /* final residual (B, L, D) */
    climp_tview fs, fn;          /* norm_f rstd, output */
    climp_tview pooled;          /* (B, D) */
    climp_tview proj, norm, emb; /* (B, Ed) */
} text_tape;

struct climp_model {
    climp_ctx *ctx;
    climp_config cfg;
    climp_param_table table;
    int *hash; /* open-addressing index into table.p by name */
    int hash_cap;
    climp_buffer *params, *grads;
    climp_arena *arena;
    int dry;      /* sizing pass: allocate views, launch nothing */
    int training; /* keep activations for backward */
    int recompute; /* training: keep block outputs only, recompute the rest in backward */
    int nblocks;
    vision_tape vt;
    text_tape tt;
    climp_tview loss, work; /* loss (1), InfoNCE work */
    climp_tview mamba2_exp; /* Mamba-2 per-channel expansions of per-head params (scratch) */
};

/* Launch only outside the sizing pass. */
#define RUN(m, expr)                                                                          \
    do {                                                                                      \
        if (!(m)->dry) CLIMP_TRY(expr);                                                       \
    } while (0)

/* Allocate n floats from the activation arena. */
climp_status mdl_alloc(climp_model *m, size_t n, climp_tview *out);
/* Views of a parameter / gradient; names are printf-formatted. */
climp_tview mdl_p(climp_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
climp_tview mdl_g(climp_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* y (M, N) = x (M, K, row stride ldx) W^T (W (N, K)) [+ bias] + beta y. */
climp_status mdl_linear_fwd(climp_model *m, climp_tview y, climp_tview x, int ldx, climp_tview W,
                            climp_tview bias, int M, int N, int K, float beta);
/* dx (M, K) (+)= dy W; dW += dy^T x; dbias += colsum(dy). dx may be empty. dx_beta 0 or 1. */
climp_status mdl_linear_bwd(climp_model *m, climp_tview dx, int lddx, float dx_beta,
                            climp_tview dW, climp_tview dbias, climp_tview dy, climp_tview x,
                            int ldx, climp_tview W, int M, int N, int K);

climp_status mdl_vision_forward(climp_model *m, int B, int H, int W);
climp_status mdl_vision_backward(climp_model *m, climp_tview demb);
climp_status mdl_text_forward(climp_model *m, int B, int L);
climp_status mdl_text_backward(climp_model *m, climp_tview demb);

#endif
