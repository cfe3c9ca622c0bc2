/* Parameter tables of the full-size presets (built without allocating) against the counts in
 * reference/architecture.md, key names, no-decay set, layout, and configuration inference from
 * tensor names and shapes alone. */
#include "tests/testutil.h"
#include "model/config.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t count(const climp_param_table *t, const char *prefix) {
    size_t n = 0;
    for (int i = 0; i < t->n; i++)
        if (!prefix || !strncmp(t->p[i].name, prefix, strlen(prefix))) n += t->p[i].numel;
    return n;
}

static int shape_from_table(void *user, const char *name, int64_t *shape) {
    const climp_param *p = climp_params_find(user, name);
    if (!p) return 0;
    memcpy(shape, p->shape, sizeof(p->shape));
    return p->ndim ? p->ndim : 1;
}

static void check_preset(const char *name, size_t total, size_t vision, size_t text) {
    climp_config c;
    climp_param_table t;
    tu_check(climp_config_preset(name, &c) == CLIMP_OK, "preset %s", name);
    tu_check(climp_params_build(&c, &t) == CLIMP_OK, "params %s", name);
    size_t all = count(&t, NULL);
    tu_check(!total || all == total, "%s total %zu, want %zu", name, all, total);
    tu_check(!vision || count(&t, "vision_encoder.") == vision, "%s vision %zu want %zu", name,
             count(&t, "vision_encoder."), vision);
    tu_check(!text || count(&t, "text_encoder.") == text, "%s text %zu want %zu", name,
             count(&t, "text_encoder."), text);
    /* Offsets: disjoint, inside total. */
    int overlap = 0;
    for (int i = 0; i < t.n; i++) {
        tu_check(t.p[i].offset + t.p[i].numel <= t.total, "%s inside buffer", t.p[i].name);
        for (int j = i + 1; j < t.n && j < i + 64; j++)
            if (t.p[i].offset < t.p[j].offset + t.p[j].numel &&
                t.p[j].offset < t.p[i].offset + t.p[i].numel)
                overlap++;
    }
    tu_check(overlap == 0, "%s: %d overlapping tensors", name, overlap);
    /* Inference from names and shapes gives the same configuration. */
    climp_config inf;
    tu_check(climp_config_infer(shape_from_table, &t, &inf) == CLIMP_OK, "infer %s: %s", name,
             climp_error_detail());
    climp_param_table t2;
    if (climp_params_build(&inf, &t2) == CLIMP_OK) {
        tu_check(t2.n == t.n && t2.total == t.total, "%s: inferred config rebuilds the table",
                 name);
        climp_params_free(&t2);
    }
    climp_params_free(&t);
}

int main(void) {
    check_preset("climp-b-mamba1", 1462072065u, 87532800u, 1372178432u);
    check_preset("climp-b-mamba2", 1433650945u, 87532800u, 1343757312u);
    check_preset("vmamba-b+mamba-130m", 0, 87532800u, 129135360u);
    check_preset("vmamba-t+mamba-370m", 0, 0, 371516416u);
    check_preset("vmamba-s+mamba-790m", 0, 0, 793204224u);
    check_preset("vmamba-t+mamba-2.8b", 0, 0, 2768345600u);
    check_preset("vmamba-t+mamba2-130m", 0, 0, 128989632u);
    check_preset("vmamba-t+mamba2-370m", 0, 0, 368346624u);
    check_preset("vmamba-t+mamba2-780m", 0, 0, 780161280u);
    check_preset("vmamba-t+mamba2-2.7b", 0, 0, 2702599680u);
    check_preset("tiny", 0, 0, 0);
    /* VMamba-T and -S with the 1000-class head (1024/768*1000+1000) give the published 30.71M /
     * 50.15M: check without the head. */
    climp_config c;
    climp_param_table t;
    climp_config_preset("vmamba-t+tiny-text", &c);
    climp_params_build(&c, &t);
    size_t vt = count(&t, "vision_encoder.") + 768 * 1000 + 1000;
    tu_check(vt > 30705000 && vt < 30715000, "VMamba-T with head %zu ~ 30.71M", vt);
    /* Key names and the no-decay set. */
    const climp_param *p = climp_params_find(&t, "vision_encoder.layers.0.blocks.0.op.A_logs");
    tu_check(p && !p->decay && p->shape[0] == 4 * 192 && p->shape[1] == 1, "A_logs (4E, N)");
    p = climp_params_find(&t, "vision_encoder.layers.0.blocks.0.op.x_proj_weight");
    tu_check(p && p->decay && p->ndim == 3 && p->shape[1] == 6 + 2, "x_proj_weight (4, R+2N, E)");
    p = climp_params_find(&t, "text_encoder.embeddings.weight");
    tu_check(p && !p->decay, "embeddings not decayed");
    p = climp_params_find(&t, "logit_scale");
    tu_check(p && !p->decay && p->ndim == 0 && p->numel == 1, "logit_scale scalar");
    p = climp_params_find(&t, "vision_encoder.layers.3.downsample.1.weight");
    tu_check(p == NULL, "no downsample after the last stage");
    tu_check(climp_params_find(&t, "vision_encoder.classifier.head.weight") == NULL, "no head");
    /* Init: A_logs = ln(n+1) = 0 for N=1, Ds = 1, logit_scale = ln(1/0.07). */
    float *host = malloc(t.total * sizeof(float));
    climp_params_init(&t, 1, host);
    p = climp_params_find(&t, "logit_scale");
    tu_check(host[p->offset] > 2.659f && host[p->offset] < 2.660f, "logit_scale init");
    p = climp_params_find(&t, "vision_encoder.layers.0.blocks.0.op.dt_projs_bias");
    float sp = log1pf(expf(host[p->offset]));
    tu_check(sp >= 1e-4f && sp <= 0.1001f, "dt bias is inverse softplus of dt in [1e-3, 0.1]");
    free(host);
    climp_params_free(&t);
    /* Bad presets. */
    tu_check(climp_config_preset("vmamba-q+mamba-130m", &c) == CLIMP_ERR_INVALID_ARG,
             "unknown preset refused");
    tu_check(climp_config_from_json("{\"vision\": {}}", &c) == CLIMP_ERR_FORMAT, "bad json");
    return tu_finish("test_params");
}
