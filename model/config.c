/* Model configuration: presets, JSON read/write, validation and inference of the configuration
 * from a checkpoint's tensor names and shapes. The parameter table is in model/params.c. */
#define _POSIX_C_SOURCE 200809L
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int climp_vision_stage_dim(const climp_vision_config *v, int stage) { return v->dims << stage; }
int climp_vision_inner(const climp_vision_config *v, int stage) {
    return (int)(v->ssm_ratio * climp_vision_stage_dim(v, stage));
}
int climp_vision_dt_rank(const climp_vision_config *v, int stage) {
    return (climp_vision_stage_dim(v, stage) + 15) / 16;
}
int climp_vision_out_dim(const climp_vision_config *v) {
    return climp_vision_stage_dim(v, v->n_stages - 1);
}
int climp_text_inner(const climp_text_config *t) { return t->expand * t->d_model; }
int climp_text_nheads(const climp_text_config *t) {
    return t->headdim ? climp_text_inner(t) / t->headdim : 0;
}

typedef struct { const char *name; int dims, n, d[4], d_state; } vision_preset;
static const vision_preset k_vision[] = {
    {"tiny-vision", 24, 3, {1, 1, 2, 0}, 1},
    {"vmamba-t", 96, 4, {2, 2, 5, 2}, 1},
    {"vmamba-s", 96, 4, {2, 2, 15, 2}, 1},
    {"vmamba-b", 128, 4, {2, 2, 15, 2}, 1},
};

typedef struct { const char *name; int arch, d_model, n_layer, d_state, vocab, headdim; } text_preset;
static const text_preset k_text[] = {
    {"tiny-text", CLIMP_TEXT_MAMBA1, 96, 2, 8, 264, 0},
    {"mamba-130m", CLIMP_TEXT_MAMBA1, 768, 24, 16, 50280, 0},
    {"mamba-370m", CLIMP_TEXT_MAMBA1, 1024, 48, 16, 50280, 0},
    {"mamba-790m", CLIMP_TEXT_MAMBA1, 1536, 48, 16, 50280, 0},
    {"mamba-1.4b", CLIMP_TEXT_MAMBA1, 2048, 48, 16, 50280, 0},
    {"mamba-2.8b", CLIMP_TEXT_MAMBA1, 2560, 64, 16, 50280, 0},
    {"mamba2-130m", CLIMP_TEXT_MAMBA2, 768, 24, 128, 50288, 64},
    {"mamba2-370m", CLIMP_TEXT_MAMBA2, 1024, 48, 128, 50288, 64},
    {"mamba2-780m", CLIMP_TEXT_MAMBA2, 1536, 48, 128, 50288, 64},
    {"mamba2-1.3b", CLIMP_TEXT_MAMBA2, 2048, 48, 128, 50288, 64},
    {"mamba2-2.7b", CLIMP_TEXT_MAMBA2, 2560, 64, 128, 50288, 64},
};

static const struct { const char *name, *vision, *text; int embed; } k_whole[] = {
    {"tiny", "tiny-vision", "tiny-text", 128},
    {"climp-b-mamba1", "vmamba-b", "mamba-1.4b", 768},
    {"climp-b-mamba2", "vmamba-b", "mamba2-1.3b", 768},
};

const char *climp_config_preset_names(void) {
    return "tiny, climp-b-mamba1, climp-b-mamba2, or VISION+TEXT with VISION in {tiny-vision, "
           "vmamba-t, vmamba-s, vmamba-b} and TEXT in {tiny-text, mamba-130m, mamba-370m, "
           "mamba-790m, mamba-1.4b, mamba-2.8b, mamba2-130m, mamba2-370m, mamba2-780m, "
           "mamba2-1.3b, mamba2-2.7b}, or a config .json file";
}

static void set_vision(const vision_preset *p, climp_vision_config *v) {
    memset(v, 0, sizeof(*v));
    v->dims = p->dims;
    v->n_stages = p->n;
    for (int i = 0; i < p->n; i++) v->depths[i] = p->d[i];
    v->d_state = p->d_state;
    v->ssm_ratio = 2.0f;
    v->mlp_ratio = 4.0f;
    v->in_chans = 3;
}

static void set_text(const text_preset *p, climp_text_config *t) {
    memset(t, 0, sizeof(*t));
    t->arch = p->arch;
    t->d_model = p->d_model;
    t->n_layer = p->n_layer;
    t->d_state = p->d_state;
    t->expand = 2;
    t->d_conv = 4;
    t->dt_rank = (p->d_model + 15) / 16;
    t->vocab = p->vocab;
    t->headdim = p->headdim;
    t->ngroups = 1;
}

climp_status climp_config_preset(const char *name, climp_config *out) {
    memset(out, 0, sizeof(*out));
    size_t len = strlen(name);
    if (len > 5 && !strcmp(name + len - 5, ".json")) {
        char *txt = climp_read_file(name, 1u << 24, NULL);
        if (!txt) {
            climp_error_set("cannot read model config %s", name);
            return CLIMP_ERR_IO;
        }
        climp_status s = climp_config_from_json(txt, out);
        free(txt);
        if (s) climp_error_set("model config %s: %s", name, climp_error_detail());
        return s;
    }
    char vis[64] = "", txt[64] = "";
    int embed = 512;
    for (size_t i = 0; i < sizeof(k_whole) / sizeof(k_whole[0]); i++)
        if (!strcmp(name, k_whole[i].name)) {
            snprintf(vis, sizeof(vis), "%s", k_whole[i].vision);
            snprintf(txt, sizeof(txt), "%s", k_whole[i].text);
            embed = k_whole[i].embed;
        }
    const char *plus = strchr(name, '+');
    if (!vis[0] && plus && plus - name < 64) {
        snprintf(vis, sizeof(vis), "%.*s", (int)(plus - name), name);
        snprintf(txt, sizeof(txt), "%s", plus + 1);
    }
    int vi = -1, ti = -1;
    for (size_t i = 0; i < sizeof(k_vision) / sizeof(k_vision[0]); i++)
        if (!strcmp(vis, k_vision[i].name)) vi = (int)i;
    for (size_t i = 0; i < sizeof(k_text) / sizeof(k_text[0]); i++)
        if (!strcmp(txt, k_text[i].name)) ti = (int)i;
    if (vi < 0 || ti < 0) {
        climp_error_set("unknown model preset '%s' (known: %s)", name,
                        climp_config_preset_names());
        return CLIMP_ERR_INVALID_ARG;
    }
    set_vision(&k_vision[vi], &out->vision);
    set_text(&k_text[ti], &out->text);
    out->embed_dim = embed;
    snprintf(out->name, sizeof(out->name), "%s", name);
    return climp_config_validate(out);
}

climp_status climp_config_validate(const climp_config *c) {
    const climp_vision_config *v = &c->vision;
    const climp_text_config *t = &c->text;
#define REQ(cond, ...)                                                                          \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            climp_error_set(__VA_ARGS__);                                                       \
            return CLIMP_ERR_FORMAT;                                                            \
        }                                                                                       \
    } while (0)
    REQ(v->n_stages >= 1 && v->n_stages <= CLIMP_MAX_STAGES, "vision: 1..8 stages, got %d",
        v->n_stages);
    REQ(v->dims >= 2 && v->dims % 2 == 0 && v->dims <= 4096, "vision: dims must be even, 2..4096");
    for (int i = 0; i < v->n_stages; i++)
        REQ(v->depths[i] >= 1 && v->depths[i] <= 256, "vision: depth %d out of range", i);
    REQ(v->d_state >= 1 && v->d_state <= 256, "vision: d_state must be 1..256");
    REQ(v->ssm_ratio > 0 && v->ssm_ratio <= 8 && v->mlp_ratio > 0 && v->mlp_ratio <= 16,
        "vision: ssm_ratio/mlp_ratio out of range");
    REQ(v->in_chans == 3, "vision: in_chans must be 3");
    REQ(t->arch == CLIMP_TEXT_MAMBA1 || t->arch == CLIMP_TEXT_MAMBA2, "text: arch must be "
                                                                      "mamba1 or mamba2");
    REQ(t->d_model >= 1 && t->d_model <= 16384 && t->n_layer >= 1 && t->n_layer <= 512,
        "text: d_model/n_layer out of range");
    REQ(t->d_state >= 1 && t->d_state <= 256, "text: d_state must be 1..256");
    REQ(t->expand >= 1 && t->expand <= 8 && t->d_conv >= 1 && t->d_conv <= 8,
        "text: expand/d_conv out of range");
    REQ(t->vocab >= 2 && t->vocab <= (1 << 22), "text: vocab out of range");
    if (t->arch == CLIMP_TEXT_MAMBA1) REQ(t->dt_rank >= 1, "text: dt_rank must be >= 1");
    if (t->arch == CLIMP_TEXT_MAMBA2) {
        REQ(t->headdim >= 1 && climp_text_inner(t) % t->headdim == 0,
            "text: headdim must divide expand*d_model");
        REQ(t->ngroups >= 1 && climp_text_nheads(t) % t->ngroups == 0,
            "text: ngroups must divide the number of heads");
    }
    REQ(c->embed_dim >= 1 && c->embed_dim <= 16384, "embed_dim out of range");
#undef REQ
    return CLIMP_OK;
}

/* An integer field; out-of-range or fractional values give -1 (refused by validation). */
static int jint(const cJSON *o, const char *k, int def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x)) return def;
    double v = x->valuedouble;
    if (!(v >= -1e9 && v <= 1e9) || v != (double)(long)v) return -1;
    return (int)v;
}

static float jnum(const cJSON *o, const char *k, float def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? (float)x->valuedouble : def;
}

climp_status climp_config_from_json(const char *json, climp_config *out) {
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        climp_error_set("config is not a JSON object");
        return CLIMP_ERR_FORMAT;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "vision");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text");
    if (!cJSON_IsObject(v) || !cJSON_IsObject(t)) {
        cJSON_Delete(root);
        climp_error_set("config needs \"vision\" and \"text\" objects");
        return CLIMP_ERR_FORMAT;
    }
    climp_vision_config *vc = &out->vision;
    vc->dims = jint(v, "dims", 0);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(v, "depths");
    int n = cJSON_IsArray(d) ? cJSON_GetArraySize(d) : 0;
    vc->n_stages = n;
    for (int i = 0; i < n && i < CLIMP_MAX_STAGES; i++) {
        const cJSON *x = cJSON_GetArrayItem(d, i);
        double dv = cJSON_IsNumber(x) ? x->valuedouble : 0;
        vc->depths[i] = dv >= 0 && dv <= 1e6 ? (int)dv : 0;
    }
    vc->d_state = jint(v, "d_state", 1);
    vc->ssm_ratio = jnum(v, "ssm_ratio", 2.0f);
    vc->mlp_ratio = jnum(v, "mlp_ratio", 4.0f);
    vc->in_chans = jint(v, "in_chans", 3);
    climp_text_config *tc = &out->text;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(t, "arch");
    tc->arch = cJSON_IsString(arch) && !strcmp(arch->valuestring, "mamba2") ? CLIMP_TEXT_MAMBA2
               : cJSON_IsString(arch) && !strcmp(arch->valuestring, "mamba1") ? CLIMP_TEXT_MAMBA1
                                                                              : 0;
    tc->d_model = jint(t, "d_model", 0);
    tc->n_layer = jint(t, "n_layer", 0);
    tc->d_state = jint(t, "d_state", 16);
    tc->expand = jint(t, "expand", 2);
    tc->d_conv = jint(t, "d_conv", 4);
    tc->dt_rank = jint(t, "dt_rank", (tc->d_model + 15) / 16);
    tc->vocab = jint(t, "vocab", 0);
    tc->headdim = jint(t, "headdim", 0);
    tc->ngroups = jint(t, "ngroups", 1);
    out->embed_dim = jint(root, "embed_dim", 0);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    snprintf(out->name, sizeof(out->name), "%s", cJSON_IsString(nm) ? nm->valuestring : "custom");
    cJSON_Delete(root);
    return climp_config_validate(out);
}

char *climp_config_to_json(const climp_config *c) {
    cJSON *root = cJSON_CreateObject(), *v = cJSON_CreateObject(), *t = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", c->name[0] ? c->name : "custom");
    cJSON_AddNumberToObject(v, "dims", c->vision.dims);
    cJSON *d = cJSON_CreateArray();
    for (int i = 0; i < c->vision.n_stages; i++)
        cJSON_AddItemToArray(d, cJSON_CreateNumber(c->vision.depths[i]));
    cJSON_AddItemToObject(v, "depths", d);
    cJSON_AddNumberToObject(v, "d_state", c->vision.d_state);
    cJSON_AddNumberToObject(v, "ssm_ratio", c->vision.ssm_ratio);
    cJSON_AddNumberToObject(v, "mlp_ratio", c->vision.mlp_ratio);
    cJSON_AddNumberToObject(v, "in_chans", c->vision.in_chans);
    cJSON_AddStringToObject(t, "arch", c->text.arch == CLIMP_TEXT_MAMBA2 ? "mamba2" : "mamba1");
    cJSON_AddNumberToObject(t, "d_model", c->text.d_model);
    cJSON_AddNumberToObject(t, "n_layer", c->text.n_layer);
    cJSON_AddNumberToObject(t, "d_state", c->text.d_state);
    cJSON_AddNumberToObject(t, "expand", c->text.expand);
    cJSON_AddNumberToObject(t, "d_conv", c->text.d_conv);
    cJSON_AddNumberToObject(t, "dt_rank", c->text.dt_rank);
    cJSON_AddNumberToObject(t, "vocab", c->text.vocab);
    cJSON_AddNumberToObject(t, "headdim", c->text.headdim);
    cJSON_AddNumberToObject(t, "ngroups", c->text.ngroups);
    cJSON_AddItemToObject(root, "vision", v);
    cJSON_AddItemToObject(root, "text", t);
    cJSON_AddNumberToObject(root, "embed_dim", c->embed_dim);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------------ inference from names */
climp_status climp_config_infer(climp_shape_fn shape_of, void *user, climp_config *out) {
    memset(out, 0, sizeof(*out));
    int64_t s[8];
    char name[160];
    climp_vision_config *v = &out->vision;
    /* Vision: stem conv gives C0/2; stages and depths from the block keys. */
    if (shape_of(user, "vision_encoder.patch_embed.5.weight", s) != 4) {
        climp_error_set("no vision_encoder.patch_embed.5.weight (4-D): not a VMamba v2 tower");
        return CLIMP_ERR_FORMAT;
    }
    if (s[0] < 2 || s[0] > 4096) {
        climp_error_set("vision_encoder.patch_embed.5.weight has %lld output channels",
                        (long long)s[0]);
        return CLIMP_ERR_FORMAT;
    }
    v->dims = (int)s[0];
    v->in_chans = 3;
    for (int i = 0; i < CLIMP_MAX_STAGES; i++) {
        int j = 0;
        for (;; j++) {
            snprintf(name, sizeof(name), "vision_encoder.layers.%d.blocks.%d.norm.weight", i, j);
            if (!shape_of(user, name, s)) break;
        }
        if (!j) break;
        v->depths[i] = j;
        v->n_stages = i + 1;
    }
    if (shape_of(user, "vision_encoder.layers.0.blocks.0.op.A_logs", s) != 2) {
        climp_error_set("no vision_encoder.layers.0.blocks.0.op.A_logs (2-D)");
        return CLIMP_ERR_FORMAT;
    }
    v->d_state = (int)s[1];
    int64_t e_rows = s[0]; /* 4E */
    v->ssm_ratio = (float)((double)e_rows / 4.0 / v->dims);
    if (shape_of(user, "vision_encoder.layers.0.blocks.0.mlp.fc1.weight", s) == 2)
        v->mlp_ratio = (float)((double)s[0] / v->dims);
    /* Text. */
    climp_text_config *t = &out->text;
    if (shape_of(user, "text_encoder.embeddings.weight", s) != 2) {
        climp_error_set("no text_encoder.embeddings.weight (2-D)");
        return CLIMP_ERR_FORMAT;
    }
    if (s[0] < 2 || s[0] > (1 << 22) || s[1] < 1 || s[1] > 16384) {
        climp_error_set("text_encoder.embeddings.weight has shape (%lld, %lld): not a usable "
                        "embedding", (long long)s[0], (long long)s[1]);
        return CLIMP_ERR_FORMAT;
    }
    t->vocab = (int)s[0];
    t->d_model = (int)s[1];
    for (int j = 0;; j++) {
        snprintf(name, sizeof(name), "text_encoder.layers.%d.norm.weight", j);
        if (!shape_of(user, name, s)) break;
        t->n_layer = j + 1;
    }
    t->d_conv = 4;
    t->expand = 2;
    t->ngroups = 1;
    if (shape_of(user, "text_encoder.layers.0.mixer.x_proj.weight", s) == 2) {
        t->arch = CLIMP_TEXT_MAMBA1;
        int64_t E = s[1];
        t->expand = (int)(E / t->d_model);
        if (shape_of(user, "text_encoder.layers.0.mixer.A_log", s) == 2) t->d_state = (int)s[1];
        if (shape_of(user, "text_encoder.layers.0.mixer.dt_proj.weight", s) == 2)
            t->dt_rank = (int)s[1];
        if (shape_of(user, "text_encoder.layers.0.mixer.conv1d.weight", s) == 3)
            t->d_conv = (int)s[2];
    } else if (shape_of(user, "text_encoder.layers.0.mixer.dt_bias", s) == 1) {
        t->arch = CLIMP_TEXT_MAMBA2;
        int64_t H = s[0];
        int64_t E = 0, conv_dim = 0;
        if (shape_of(user, "text_encoder.layers.0.mixer.norm.weight", s) == 1) E = s[0];
        if (shape_of(user, "text_encoder.layers.0.mixer.conv1d.weight", s) == 3) {
            conv_dim = s[0];
            t->d_conv = (int)s[2];
        }
        if (!E || !H || conv_dim <= E) {
            climp_error_set("Mamba-2 tensors have inconsistent shapes");
            return CLIMP_ERR_FORMAT;
        }
        t->expand = (int)(E / t->d_model);
        t->headdim = (int)(E / H);
        t->d_state = (int)((conv_dim - E) / 2); /* ngroups 1 assumed */
    } else {
        climp_error_set("text_encoder.layers.0.mixer has neither x_proj (Mamba-1) nor dt_bias "
                        "(Mamba-2)");
        return CLIMP_ERR_FORMAT;
    }
    if (shape_of(user, "text_projection.weight", s) == 2) out->embed_dim = (int)s[0];
    snprintf(out->name, sizeof(out->name), "inferred");
    return climp_config_validate(out);
}
