/* `climp bench train|infer|scaling`: whole-model workloads on seeded random inputs (images of
 * U(-2, 2), captions of random byte-tokenizer ids at a fixed length).
 *   train    one optimizer step (zero grads, forward + backward of both towers and the loss,
 *            AdamW with the gradient norm) and a forward pass, per preset and batch size:
 *            samples/s, FLOPs per sample (architecture.md §6, training = 3 x forward), % of the
 *            measured peak (MFU-style), a step-time breakdown by op label from one profiled
 *            step, memory and energy.
 *   infer    images/s of the vision tower and captions/s of the text tower.
 *   scaling  image size 224 -> 448 -> 896 -> ... and caption length 16 -> 2048, inference and
 *            training step, until the device runs out of memory or the predicted time of the
 *            next point exceeds --scaling-budget; ViT-B/16's analytic FLOPs and attention memory
 *            beside each image point. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/climp_model.h"
#include "trainer/optimizer.h"

enum { RUN_TRAIN, RUN_FORWARD, RUN_IMAGES, RUN_TEXTS };
static const char *const k_mode_names[] = {"train_step", "forward", "infer", "infer"};

typedef struct model_run {
    climp_model *m;
    climp_optimizer *opt;
    int mode;
    int B, S, L;
    float *images, *emb;
    int32_t *tokens, *lengths;
} model_run;

static climp_status model_call(void *p) {
    model_run *r = p;
    climp_ctx *ctx = climp_model_ctx(r->m);
    climp_batch_in in = {r->B, r->S, r->S, r->images, r->L, r->tokens, r->lengths};
    float loss = 0;
    double gnorm = 0;
    switch (r->mode) {
    case RUN_TRAIN:
        CLIMP_TRY(climp_model_zero_grads(r->m));
        CLIMP_TRY(climp_model_step(r->m, &in, 1, 1.0f, &loss, NULL, NULL));
        climp_profile_label(ctx, "optimizer");
        climp_status s = climp_optimizer_step(r->opt, 1e-5f, 1.0f, &gnorm);
        climp_profile_label(ctx, NULL);
        return s;
    case RUN_FORWARD: return climp_model_step(r->m, &in, 0, 1.0f, &loss, NULL, NULL);
    case RUN_IMAGES: return climp_model_embed_images(r->m, r->B, r->S, r->S, r->images, r->emb);
    default: return climp_model_embed_texts(r->m, r->B, r->L, r->tokens, r->lengths, r->emb);
    }
}

/* Host inputs for B pairs at S x S and L tokens (either may be 0). */
static climp_status make_inputs(model_run *r, const climp_config *c, int B, int S, int L) {
    r->B = B, r->S = S, r->L = L;
    size_t ni = (size_t)B * S * S * 3, nt = (size_t)B * (L ? L : 1);
    r->images = malloc((ni ? ni : 1) * sizeof(float));
    r->tokens = malloc(nt * sizeof(int32_t));
    r->lengths = malloc((size_t)B * sizeof(int32_t));
    r->emb = malloc((size_t)B * c->embed_dim * sizeof(float));
    if (!r->images || !r->tokens || !r->lengths || !r->emb) return CLIMP_ERR_HOST_OOM;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < ni; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        r->images[i] = -2.0f + 4.0f * (float)((x >> 40) * (1.0 / 16777216.0));
    }
    int vocab = c->text.vocab < 258 ? c->text.vocab : 258;
    for (size_t i = 0; i < nt; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        r->tokens[i] = 2 + (int32_t)((x >> 33) % (uint64_t)(vocab - 2));
    }
    for (int i = 0; i < B; i++) r->lengths[i] = L;
    return CLIMP_OK;
}

static void free_inputs(model_run *r) {
    free(r->images);
    free(r->tokens);
    free(r->lengths);
    free(r->emb);
    r->images = r->emb = NULL;
    r->tokens = r->lengths = NULL;
}

static climp_status make_model(climp_bench *b, const climp_config *cfg, int training,
                               model_run *r) {
    CLIMP_TRY(climp_model_create(b->ctx, cfg, training, &r->m));
    climp_model_set_recompute(r->m, b->opt.recompute);
    const climp_param_table *t = climp_model_params(r->m);
    float *host = malloc(t->total * sizeof(float));
    if (!host) return CLIMP_ERR_HOST_OOM;
    climp_params_init(t, 1, host);
    climp_status s = climp_model_set_params(r->m, host);
    free(host);
    if (!s && training) s = climp_optimizer_create(r->m, 0.1f, 0.0f, 0, 0, &r->opt);
    return s;
}

static void free_model(model_run *r) {
    climp_optimizer_destroy(r->opt);
    climp_model_destroy(r->m);
    r->opt = NULL;
    r->m = NULL;
}

static int is_oom(climp_status s) {
    return s == CLIMP_ERR_DEVICE_OOM || s == CLIMP_ERR_ARENA_FULL || s == CLIMP_ERR_HOST_OOM ||
           s == -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */ || s == -5 /* CL_OUT_OF_RESOURCES */ ||
           s == -6 /* CL_OUT_OF_HOST_MEMORY */ || s == -61 /* CL_INVALID_BUFFER_SIZE */;
}

static cJSON *memory_json(climp_bench *b, const model_run *r) {
    cJSON *o = cJSON_CreateObject();
    double params = (double)climp_model_params(r->m)->total * 4;
    climp_json_num(o, "device_mem_peak_bytes", (double)climp_ctx_mem_peak(b->ctx));
    climp_json_num(o, "activation_bytes", (double)climp_model_activation_bytes(r->m));
    cJSON_AddBoolToObject(o, "recompute", climp_model_recompute(r->m));
    climp_json_num(o, "param_bytes", params);
    climp_json_num(o, "training_state_bytes", r->opt ? 4 * params : params);
    return o;
}

static int by_seconds(const void *a, const void *b) {
    double x = cJSON_GetObjectItem(*(cJSON *const *)a, "seconds")->valuedouble;
    double y = cJSON_GetObjectItem(*(cJSON *const *)b, "seconds")->valuedouble;
    return (x < y) - (x > y);
}

/* Breakdown by op label (and the top kernels) from one profiled call. */
static void add_breakdown(cJSON *o, cJSON *rows, double ev, double wall) {
    cJSON *bd = cJSON_CreateArray(), *e;
    char seen[32][96];
    int ns = 0;
    cJSON_ArrayForEach(e, rows) {
        const char *op = cJSON_GetObjectItem(e, "op")->valuestring;
        int k = 0;
        while (k < ns && strcmp(seen[k], op)) k++;
        if (k < ns || ns == 32) continue;
        snprintf(seen[ns++], sizeof(seen[0]), "%s", op);
        double sec = 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, rows) if (!strcmp(cJSON_GetObjectItem(f, "op")->valuestring, op))
            sec += cJSON_GetObjectItem(f, "seconds")->valuedouble;
        cJSON *x = cJSON_CreateObject();
        climp_json_str(x, "op", !strcmp(op, "-") ? "unlabelled" : op);
        climp_json_num(x, "seconds", sec);
        climp_json_num(x, "fraction", wall > 0 ? sec / wall : NAN);
        cJSON_AddItemToArray(bd, x);
    }
    cJSON *x = cJSON_CreateObject();
    climp_json_str(x, "op", "untracked (host work, host-BLAS GEMM, transfers, fills)");
    climp_json_num(x, "seconds", wall - ev > 0 ? wall - ev : 0);
    climp_json_num(x, "fraction", wall > 0 ? fmax(wall - ev, 0) / wall : NAN);
    cJSON_AddItemToArray(bd, x);
    cJSON_AddItemToObject(o, "breakdown", bd);
    climp_json_num(o, "profiled_step_seconds", wall);
    /* The 12 most expensive (kernel, op) rows. */
    int n = cJSON_GetArraySize(rows);
    cJSON **v = malloc(sizeof(cJSON *) * (size_t)(n ? n : 1));
    cJSON *top = cJSON_CreateArray();
    if (v) {
        int i = 0;
        cJSON_ArrayForEach(e, rows) v[i++] = e;
        qsort(v, (size_t)n, sizeof(cJSON *), by_seconds);
        for (i = 0; i < n && i < 12; i++) cJSON_AddItemToArray(top, cJSON_Duplicate(v[i], 1));
        free(v);
    }
    cJSON_AddItemToObject(o, "top_kernels", top);
    cJSON_Delete(rows);
}

static int default_batch(const climp_bench *b, const char *preset) {
    return b->opt.quick ? 4 : !strcmp(preset, "tiny") ? 32 : 4;
}
static int image_size(const climp_bench *b, const char *preset) {
    if (b->opt.image_size) return b->opt.image_size;
    return b->opt.quick ? 32 : !strcmp(preset, "tiny") ? 64 : 224;
}
static int text_len(const climp_bench *b) {
    return b->opt.text_len ? b->opt.text_len : b->opt.quick ? 16 : 64;
}

/* ------------------------------------------------------------------ train */
static void train_item(climp_bench *b, const char *preset, const climp_config *cfg, model_run *r,
                       int mode) {
    char item[256];
    snprintf(item, sizeof(item), "%s %s B=%d S=%d L=%d", k_mode_names[mode], preset, r->B, r->S,
             r->L);
    r->mode = mode;
    climp_bench_stats st;
    cJSON *rows = NULL;
    double ev = 0, wall = 0;
    climp_status s = climp_bench_measure(b, model_call, r, 0, &st);
    if (!s) s = climp_bench_profile_once(b, model_call, r, &rows, &ev, &wall);
    if (s) {
        climp_bench_error(b, "train", item, s, is_oom(s));
        return;
    }
    double fwd = climp_flops_pair_forward(cfg, r->S, r->S, r->L, r->B);
    double per = mode == RUN_TRAIN ? 3 * fwd : fwd, sps = r->B / st.median;
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "key", item);
    climp_json_str(o, "preset", preset);
    climp_json_str(o, "mode", k_mode_names[mode]);
    cJSON_AddNumberToObject(o, "batch", r->B);
    cJSON_AddNumberToObject(o, "image_size", r->S);
    cJSON_AddNumberToObject(o, "text_len", r->L);
    cJSON_AddItemToObject(o, "time", climp_bench_stats_json(&st));
    climp_json_num(o, "samples_per_s", sps);
    climp_json_num(o, "flops_per_sample", per);
    climp_json_num(o, "achieved_gflops", per * sps / 1e9);
    climp_json_num(o, "pct_peak_flops", 100 * per * sps / (b->peaks.gflops * 1e9));
    climp_json_num(o, "pct_estimated_peak_flops",
                   100 * per * sps / (climp_ctx_info(b->ctx)->peak_gflops * 1e9));
    climp_json_num(o, "energy_j_per_sample", st.energy_j / (st.n * st.inner * (double)r->B));
    cJSON_AddItemToObject(o, "memory", memory_json(b, r));
    add_breakdown(o, rows, ev, wall);
    cJSON_AddItemToArray(b->train, o);
    printf("%-24s %-10s %4d %5d %5d %10.4f %10.2f %9.2f %6.2f%% %9.1f\n", preset,
           k_mode_names[mode], r->B, r->S, r->L, st.median, sps, per * sps / 1e9,
           100 * per * sps / (b->peaks.gflops * 1e9), climp_ctx_mem_peak(b->ctx) / 1048576.0);
    fflush(stdout);
}

typedef void (*item_fn)(climp_bench *b, const char *preset, const climp_config *cfg,
                        model_run *r, int mode);

/* For each preset and batch size: a model (training or inference), inputs, and item() for each
 * of the two modes; a failure is recorded under `section` and the next preset goes on (an
 * unknown preset stops the section). */
static climp_status for_each_run(climp_bench *b, const char *section, int training, item_fn item,
                         int mode0, int mode1) {
    for (int p = 0; p < b->opt.npresets; p++) {
        const char *preset = b->opt.presets[p];
        climp_config cfg;
        CLIMP_TRY(climp_config_preset(preset, &cfg));
        climp_status s;
        model_run r;
        memset(&r, 0, sizeof(r));
        climp_ctx_mem_reset_peak(b->ctx);
        if ((s = make_model(b, &cfg, training, &r))) {
            climp_bench_error(b, section, preset, s, is_oom(s));
            free_model(&r);
            continue;
        }
        int nb = b->opt.nbatch ? b->opt.nbatch : 1;
        for (int i = 0; i < nb; i++) {
            int B = b->opt.nbatch ? b->opt.batch[i] : default_batch(b, preset);
            if ((s = make_inputs(&r, &cfg, B, image_size(b, preset), text_len(b)))) {
                climp_bench_error(b, section, preset, s, 0);
            } else {
                item(b, preset, &cfg, &r, mode0);
                item(b, preset, &cfg, &r, mode1);
            }
            free_inputs(&r);
        }
        free_model(&r);
    }
    return CLIMP_OK;
}

climp_status climp_bench_train(climp_bench *b) {
    printf("\n%-24s %-10s %4s %5s %5s %10s %10s %9s %7s %9s\n", "preset", "mode", "B", "S", "L",
           "median s", "samples/s", "GFLOP/s", "%peak", "mem MiB");
    return for_each_run(b, "train", 1, train_item, RUN_TRAIN, RUN_FORWARD);
}

/* ------------------------------------------------------------------ infer */
static void infer_item(climp_bench *b, const char *preset, const climp_config *cfg, model_run *r,
                       int mode) {
    const int vision = mode == RUN_IMAGES, size = vision ? r->S : r->L;
    char item[256];
    snprintf(item, sizeof(item), "infer %s %s B=%d %s=%d", vision ? "vision" : "text", preset,
             r->B, vision ? "S" : "L", size);
    r->mode = mode;
    climp_bench_stats st;
    climp_status s = climp_bench_measure(b, model_call, r, 0, &st);
    if (s) {
        climp_bench_error(b, "infer", item, s, is_oom(s));
        return;
    }
    climp_flops f;
    if (vision) climp_flops_vision(&cfg->vision, r->S, r->S, cfg->embed_dim, &f);
    else climp_flops_text(&cfg->text, r->L, cfg->embed_dim, &f);
    double per = climp_flops_hw(&f), ips = r->B / st.median;
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "key", item);
    climp_json_str(o, "preset", preset);
    climp_json_str(o, "tower", vision ? "vision" : "text");
    cJSON_AddNumberToObject(o, "batch", r->B);
    cJSON_AddNumberToObject(o, "size", size);
    cJSON_AddItemToObject(o, "time", climp_bench_stats_json(&st));
    climp_json_num(o, "items_per_s", ips);
    climp_json_num(o, "flops_per_item", per);
    climp_json_num(o, "achieved_gflops", per * ips / 1e9);
    climp_json_num(o, "pct_peak_flops", 100 * per * ips / (b->peaks.gflops * 1e9));
    climp_json_num(o, "energy_j_per_item", st.energy_j / (st.n * st.inner * (double)r->B));
    cJSON_AddItemToObject(o, "memory", memory_json(b, r));
    cJSON_AddItemToArray(b->infer, o);
    printf("%-24s %-7s %4d %5d %10.4f %10.2f %9.2f %6.2f%%\n", preset, vision ? "vision" : "text",
           r->B, size, st.median, ips, per * ips / 1e9, 100 * per * ips / (b->peaks.gflops * 1e9));
    fflush(stdout);
}

climp_status climp_bench_infer(climp_bench *b) {
    printf("\n%-24s %-7s %4s %5s %10s %10s %9s %7s\n", "preset", "tower", "B", "size", "median s",
           "items/s", "GFLOP/s", "%peak");
    return for_each_run(b, "infer", 0, infer_item, RUN_IMAGES, RUN_TEXTS);
}

/* ------------------------------------------------------------------ scaling */
typedef struct scaling_series {
    int image; /* 1: image size varies, else caption length */
    int train;
    const int *sizes;
    int n;
} scaling_series;

/* One point; returns 0 to go on to the next size, 1 to end the series. */
static int scaling_point(climp_bench *b, const char *preset, const climp_config *cfg,
                         const scaling_series *se, model_run *r, int size, double *last_t,
                         int last_size) {
    const int fixed_img = b->opt.quick ? 32 : 64, fixed_len = 16;
    int S = se->image ? size : se->train ? fixed_img : 0;
    int L = se->image ? (se->train ? fixed_len : 0) : size;
    char item[160];
    snprintf(item, sizeof(item), "scaling %s %s %s %d", se->image ? "image" : "text",
             se->train ? "train" : "infer", preset, size);
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "key", item);
    climp_json_str(o, "preset", preset);
    climp_json_str(o, "series", se->image ? "image" : "text");
    climp_json_str(o, "mode", se->train ? "train" : "infer");
    cJSON_AddNumberToObject(o, "size", size);
    cJSON_AddNumberToObject(o, "batch", 1);
    cJSON_AddNumberToObject(o, "image_size", S);
    cJSON_AddNumberToObject(o, "text_len", L);
    climp_flops f;
    double flops;
    if (se->train) {
        flops = 3 * climp_flops_pair_forward(cfg, S, S, L, 1);
    } else {
        if (se->image) climp_flops_vision(&cfg->vision, S, S, cfg->embed_dim, &f);
        else climp_flops_text(&cfg->text, L, cfg->embed_dim, &f);
        flops = climp_flops_hw(&f);
    }
    climp_json_num(o, "flops", flops);
    if (se->image) {
        climp_vit_cost v;
        climp_flops_vit_b16(size, size, &v);
        double vf = climp_flops_hw(&v.flops) * (se->train ? 3 : 1);
        cJSON *vo = cJSON_CreateObject();
        cJSON_AddNumberToObject(vo, "tokens", v.tokens);
        climp_json_num(vo, "flops", vf);
        climp_json_num(vo, "attn_bytes_layer", v.attn_bytes_layer);
        climp_json_num(vo, "attn_bytes_train", v.attn_bytes_train);
        climp_json_num(vo, "act_bytes_train", v.act_bytes_train);
        climp_json_num(vo, "act_bytes_infer", v.act_bytes_infer);
        climp_json_num(vo, "flops_ratio_vit_over_ours", vf / flops);
        cJSON_AddItemToObject(o, "vit_b16", vo);
    }
    double ratio = last_size ? (double)size / last_size : 0;
    double predicted = *last_t * (se->image ? ratio * ratio : ratio);
    if (*last_t > 0 && predicted > b->opt.scaling_budget_s) {
        climp_json_str(o, "status", "skipped");
        char why[128];
        snprintf(why, sizeof(why), "predicted %.3g s per run > --scaling-budget %g s", predicted,
                 b->opt.scaling_budget_s);
        climp_json_str(o, "reason", why);
        cJSON_AddItemToArray(b->scaling, o);
        printf("%-6s %-6s %6d  skipped: %s\n", se->image ? "image" : "text",
               se->train ? "train" : "infer", size, why);
        return 1;
    }
    climp_status s = make_inputs(r, cfg, 1, S, L);
    climp_bench_stats st;
    int saved_reps = b->opt.reps;
    if (predicted > b->opt.scaling_budget_s / 4 && b->opt.reps > 2) b->opt.reps = 2;
    r->mode = se->train ? RUN_TRAIN : se->image ? RUN_IMAGES : RUN_TEXTS;
    climp_ctx_mem_reset_peak(b->ctx);
    if (!s) s = climp_bench_measure(b, model_call, r, 0, &st);
    b->opt.reps = saved_reps;
    free_inputs(r);
    if (s) {
        int oom = is_oom(s);
        climp_json_str(o, "status", oom ? "out_of_memory" : "skipped");
        char why[256];
        snprintf(why, sizeof(why), "%s%s%s", climp_status_name(s),
                 climp_error_detail()[0] ? ": " : "", climp_error_detail());
        climp_json_str(o, "reason", why);
        cJSON_AddItemToArray(b->scaling, o);
        printf("%-6s %-6s %6d  %s: %s\n", se->image ? "image" : "text",
               se->train ? "train" : "infer", size, oom ? "out of memory" : "failed", why);
        if (!oom) climp_bench_error(b, "scaling", item, s, 0);
        else climp_error_clear();
        return 1;
    }
    *last_t = st.median;
    climp_json_str(o, "status", "ok");
    cJSON_AddItemToObject(o, "time", climp_bench_stats_json(&st));
    climp_json_num(o, "achieved_gflops", flops / st.median / 1e9);
    double act = (double)climp_model_activation_bytes(r->m);
    climp_json_num(o, "device_mem_peak_bytes", (double)climp_ctx_mem_peak(b->ctx));
    climp_json_num(o, "activation_bytes", act);
    climp_json_num(o, "param_bytes", (double)climp_model_params(r->m)->total * 4);
    if (se->image) {
        cJSON *vo = cJSON_GetObjectItem(o, "vit_b16");
        double va = cJSON_GetObjectItem(vo, se->train ? "act_bytes_train" : "act_bytes_infer")
                        ->valuedouble;
        climp_json_num(vo, "activation_ratio_vit_over_ours", va / act);
    }
    cJSON_AddItemToArray(b->scaling, o);
    printf("%-6s %-6s %6d %10.4f %10.2f %10.1f %10.1f\n", se->image ? "image" : "text",
           se->train ? "train" : "infer", size, st.median, flops / 1e9,
           climp_ctx_mem_peak(b->ctx) / 1048576.0, act / 1048576.0);
    fflush(stdout);
    return 0;
}

climp_status climp_bench_scaling(climp_bench *b) {
    const char *preset = b->opt.presets[0];
    for (int p = 0; p < b->opt.npresets; p++)
        if (strcmp(b->opt.presets[p], "tiny")) {
            preset = b->opt.presets[p];
            break;
        }
    climp_config cfg;
    CLIMP_TRY(climp_config_preset(preset, &cfg));
    static const int img_full[] = {224, 448, 896, 1792, 3584}, img_quick[] = {32, 64, 128};
    static const int txt_full[] = {16, 64, 256, 1024, 2048}, txt_quick[] = {16, 64};
    const int q = b->opt.quick;
    scaling_series series[4] = {
        {1, 0, q ? img_quick : img_full, q ? 3 : 5}, {1, 1, q ? img_quick : img_full, q ? 3 : 5},
        {0, 0, q ? txt_quick : txt_full, q ? 2 : 5}, {0, 1, q ? txt_quick : txt_full, q ? 2 : 5}};
    printf("\nscaling: %s, batch 1 (train: images with 16-token captions, captions with %dx%d "
           "images)\n%-6s %-6s %6s %10s %10s %10s %10s\n",
           preset, q ? 32 : 64, q ? 32 : 64, "series", "mode", "size", "median s", "GFLOP",
           "mem MiB", "act MiB");
    for (int i = 0; i < 4; i++) {
        const scaling_series *se = &series[i];
        model_run r;
        memset(&r, 0, sizeof(r));
        climp_status s = make_model(b, &cfg, se->train, &r);
        if (s) {
            climp_bench_error(b, "scaling", preset, s, is_oom(s));
            free_model(&r);
            continue;
        }
        double last_t = 0;
        int last = 0;
        for (int k = 0; k < se->n; k++) {
            int size = se->sizes[k];
            if (size > (se->image ? b->opt.max_image_size : b->opt.max_text_len)) break;
            if (scaling_point(b, preset, &cfg, se, &r, size, &last_t, last)) break;
            last = size;
        }
        free_model(&r);
    }
    return CLIMP_OK;
}
