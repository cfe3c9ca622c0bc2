/* Model configuration: the VMamba vision tower, the Mamba-1/Mamba-2 text tower and the CLIMP
 * heads; presets, JSON (the __metadata__ "config" of our checkpoints), inference from tensor names
 * and shapes alone (the released CLIMP model.safetensors carries no config), and the parameter
 * table (names, shapes, offsets into the one contiguous parameter buffer, no-decay flags, init).
 * Implementation: model/config.c, model/params.c. Shapes: reference/architecture.md §1-§5. */
#ifndef CLIMP_CONFIG_H
#define CLIMP_CONFIG_H

#include <stdint.h>

#include "runtime/climp_runtime.h"

#define CLIMP_MAX_STAGES 8

typedef struct climp_vision_config {
    int dims;                    /* C0: stage i has C0 * 2^i channels */
    int n_stages;                /* len(depths) */
    int depths[CLIMP_MAX_STAGES];
    int d_state;                 /* N (1 in the released v2 models) */
    float ssm_ratio;             /* E = ssm_ratio * C */
    float mlp_ratio;             /* MLP hidden = mlp_ratio * C */
    int in_chans;                /* 3 */
} climp_vision_config;

enum { CLIMP_TEXT_MAMBA1 = 1, CLIMP_TEXT_MAMBA2 = 2 };

typedef struct climp_text_config {
    int arch;    /* CLIMP_TEXT_MAMBA1 / CLIMP_TEXT_MAMBA2 */
    int d_model; /* D */
    int n_layer;
    int d_state; /* N */
    int expand;  /* E = expand * D */
    int d_conv;  /* K = 4 */
    int dt_rank; /* R (Mamba-1): ceil(D/16) */
    int vocab;   /* embedding rows (padded) */
    int headdim; /* P (Mamba-2) */
    int ngroups; /* G (Mamba-2) */
} climp_text_config;

typedef struct climp_config {
    climp_vision_config vision;
    climp_text_config text;
    int embed_dim;
    char name[64]; /* preset name or "custom" */
} climp_config;

/* Derived sizes. */
int climp_vision_stage_dim(const climp_vision_config *v, int stage);   /* C */
int climp_vision_inner(const climp_vision_config *v, int stage);       /* E */
int climp_vision_dt_rank(const climp_vision_config *v, int stage);     /* R = ceil(C/16) */
int climp_vision_out_dim(const climp_vision_config *v);                /* C of the last stage */
int climp_text_inner(const climp_text_config *t);                      /* E */
int climp_text_nheads(const climp_text_config *t);                     /* H (Mamba-2) */
/* Grid size after a stride-2 conv: floor((n-1)/2)+1. */
static inline int climp_down2(int n) { return (n - 1) / 2 + 1; }

/* Presets: "tiny", "climp-b-mamba1", "climp-b-mamba2", or "VISION+TEXT" where VISION is one of
 * tiny-vision, vmamba-t, vmamba-s, vmamba-b and TEXT one of tiny-text, mamba-130m, mamba-370m,
 * mamba-790m, mamba-1.4b, mamba-2.8b, mamba2-130m, mamba2-370m, mamba2-780m, mamba2-1.3b,
 * mamba2-2.7b. A path to a .json file is read as a config. */
climp_status climp_config_preset(const char *name, climp_config *out);
/* Comma-separated list of preset names, for --help. */
const char *climp_config_preset_names(void);
climp_status climp_config_from_json(const char *json, climp_config *out);
/* Writes the config as JSON into a malloc'ed string. */
char *climp_config_to_json(const climp_config *c);
/* Sanity limits (dims > 0, stages <= 8, state sizes <= 256 ...). */
climp_status climp_config_validate(const climp_config *c);

/* ------------------------------------------------------------------ parameter table */
enum {
    CLIMP_INIT_ZEROS,
    CLIMP_INIT_ONES,
    CLIMP_INIT_UNIFORM,      /* U(-a, a) */
    CLIMP_INIT_UNIFORM01,    /* a * U[0, 1) (VMamba ssm_init v2) */
    CLIMP_INIT_NORMAL,       /* N(0, a) */
    CLIMP_INIT_TRUNC_NORMAL, /* N(0, a) cut at +-2 (timm trunc_normal_) */
    CLIMP_INIT_CONST,        /* a */
    CLIMP_INIT_DT_BIAS,      /* inverse softplus of dt ~ logU(1e-3, 0.1), dt >= 1e-4 */
    CLIMP_INIT_A_LOG_S4D,    /* ln(n + 1) along the last axis */
    CLIMP_INIT_A_LOG_RAND,   /* ln U(1, 16) (Mamba-2 per head) */
};

typedef struct climp_param {
    char name[112];
    int ndim;
    int64_t shape[4];
    size_t offset; /* floats from the start of the parameter buffer */
    size_t numel;
    int decay;     /* AdamW weight decay applies */
    int tower;     /* 0 vision (+ projection), 1 text (+ projection), 2 logit_scale */
    int init;      /* CLIMP_INIT_* */
    float init_a;
} climp_param;

typedef struct climp_param_table {
    climp_param *p;
    int n, cap;
    size_t total; /* floats */
} climp_param_table;

/* Builds the table (no allocation of the parameters themselves). Tensors are laid out grouped by
 * (tower, decay) so that the optimizer needs few launches. */
climp_status climp_params_build(const climp_config *c, climp_param_table *out);
void climp_params_free(climp_param_table *t);
const climp_param *climp_params_find(const climp_param_table *t, const char *name);
/* Host initialisation of the whole buffer (total floats) from a seed, per the spec. */
void climp_params_init(const climp_param_table *t, uint64_t seed, float *host);

/* Infer the configuration from tensor names and shapes alone. `shape_of` returns the ndim (0 if
 * the tensor is absent) and fills shape. */
typedef int (*climp_shape_fn)(void *user, const char *name, int64_t *shape);
climp_status climp_config_infer(climp_shape_fn shape_of, void *user, climp_config *out);

#endif
