/* Model checkpoints as safetensors with exactly the CLIMP release key names: load (strict: every
 * parameter present with the right shape, no unexpected tensors), save (config JSON and caller
 * metadata in __metadata__), and reading a checkpoint's configuration (metadata, else inferred
 * from names and shapes, which is how the released model.safetensors loads). */
#define _POSIX_C_SOURCE 200809L
#include "model/model_internal.h"
#include "model/safetensors.h"

#include <stdlib.h>
#include <string.h>

static int st_shape(void *user, const char *name, int64_t *shape) {
    const climp_st_tensor *t = climp_st_find(user, name);
    if (!t) return 0;
    for (int i = 0; i < t->ndim && i < 8; i++) shape[i] = t->shape[i];
    return t->ndim ? t->ndim : 1;
}

climp_status climp_checkpoint_config(const char *path, climp_config *out) {
    climp_st_file *f = NULL;
    CLIMP_TRY(climp_st_open(path, &f));
    const char *meta = climp_st_metadata(f, "config");
    climp_status s;
    if (meta) {
        s = climp_config_from_json(meta, out);
        if (s) climp_error_set("%s: bad config in metadata: %s", path, climp_error_detail());
    } else {
        s = climp_config_infer(st_shape, f, out);
        if (s) climp_error_set("%s: cannot infer the model configuration: %s", path,
                               climp_error_detail());
        /* The released files have no projection-size metadata beyond the tensors themselves. */
    }
    climp_st_close(f);
    return s;
}

static int is_ignored(const char *name, int allow_extra) {
    return allow_extra && (!strncmp(name, "fixture.", 8) || !strncmp(name, "grad.", 5) ||
                           !strncmp(name, "final.", 6));
}

climp_status climp_model_load_opts(climp_model *m, const char *path, int allow_extra) {
    climp_st_file *f = NULL;
    CLIMP_TRY(climp_st_open(path, &f));
    climp_status s = CLIMP_OK;
    float *host = calloc(m->table.total ? m->table.total : 1, sizeof(float));
    if (!host) s = CLIMP_ERR_HOST_OOM;
    for (int i = 0; !s && i < m->table.n; i++) {
        const climp_param *p = &m->table.p[i];
        const climp_st_tensor *t = climp_st_find(f, p->name);
        if (!t) {
            climp_error_set("%s: missing tensor %s", path, p->name);
            s = CLIMP_ERR_FORMAT;
            break;
        }
        /* logit_scale may be stored as a scalar () or as (1). */
        int64_t one = 1;
        int ndim = p->ndim;
        const int64_t *shape = p->shape;
        if (p->ndim == 0 && t->ndim == 1) {
            ndim = 1;
            shape = &one;
        }
        s = climp_st_read_f32(f, p->name, shape, ndim, host + p->offset);
    }
    for (int i = 0; !s && i < climp_st_count(f); i++) {
        const char *name = climp_st_get(f, i)->name;
        if (!climp_params_find(&m->table, name) && !is_ignored(name, allow_extra)) {
            climp_error_set("%s: unexpected tensor %s (not part of this model configuration)",
                            path, name);
            s = CLIMP_ERR_FORMAT;
        }
    }
    if (!s) s = climp_model_set_params(m, host);
    free(host);
    climp_st_close(f);
    return s;
}

climp_status climp_model_load(climp_model *m, const char *path) {
    return climp_model_load_opts(m, path, 0);
}

climp_status climp_model_save(climp_model *m, const char *path, const char *const *meta_kv,
                              uint32_t *crc) {
    float *host = malloc(m->table.total * sizeof(float));
    if (!host) return CLIMP_ERR_HOST_OOM;
    climp_status s = climp_model_get_params(m, host);
    climp_st_writer *w = NULL;
    if (!s) s = climp_st_writer_create(&w);
    for (int i = 0; !s && i < m->table.n; i++) {
        const climp_param *p = &m->table.p[i];
        s = climp_st_writer_add(w, p->name, CLIMP_ST_F32, p->shape, p->ndim, host + p->offset);
    }
    char *cfg = climp_config_to_json(&m->cfg);
    if (!s && cfg) s = climp_st_writer_set_metadata(w, "config", cfg);
    if (!s) s = climp_st_writer_set_metadata(w, "format", "climp");
    for (int i = 0; !s && meta_kv && meta_kv[i] && meta_kv[i + 1]; i += 2)
        s = climp_st_writer_set_metadata(w, meta_kv[i], meta_kv[i + 1]);
    if (!s) s = climp_st_writer_write(w, path, crc);
    free(cfg);
    climp_st_writer_free(w);
    free(host);
    return s;
}
