/* Loading a Hugging Face tokenizer.json (byte-level BPE, architecture.md §2.3) into the tokenizer
 * tables, treating the file as hostile: every field is type- and range-checked and any problem is
 * one line naming the file. What HF would refuse (bad JSON, merges naming tokens that are not in
 * the vocab) gives CLIMP_ERR_FORMAT; so do files HF merely warns about but whose ids would be
 * ambiguous (an added token whose id differs from the one HF assigns, one id used twice). Valid
 * files that use features climp does not implement give CLIMP_ERR_UNSUPPORTED.
 * Added-token ids follow AddedVocabulary::add_tokens: the vocab id if the content is in the
 * vocab, else the next id after the vocab's entry count. API: model/tokenizer.h. */
#define _POSIX_C_SOURCE 200809L
#include "model/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define BAD(...) do { climp_error_set(__VA_ARGS__); return CLIMP_ERR_FORMAT; } while (0)
#define UNSUP(...) do { climp_error_set(__VA_ARGS__); return CLIMP_ERR_UNSUPPORTED; } while (0)
#define OOM(p)                                                                             \
    do {                                                                                   \
        climp_error_set("%s: out of host memory", p);                                      \
        return CLIMP_ERR_HOST_OOM;                                                         \
    } while (0)

/* A token for a message: control bytes escaped, cut at ~48 bytes, never NULL. */
static const char *printable(const char *s, char buf[80]) {
    if (!s) return "(null)";
    size_t k = 0;
    for (size_t i = 0; s[i] && k < 60; i++) {
        uint8_t c = (uint8_t)s[i];
        if (i >= 48) {
            memcpy(buf + k, "...", 3);
            k += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F) k += (size_t)snprintf(buf + k, 5, "\\x%02X", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    return buf;
}

static const char *type_name(const cJSON *v) {
    if (!v) return "missing";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    return "an object";
}

/* A value for a message: the number itself, else its JSON type. */
static const char *describe(const cJSON *v, char buf[40]) {
    if (!cJSON_IsNumber(v)) return type_name(v);
    snprintf(buf, 40, "%.17g", v->valuedouble);
    return buf;
}

/* 1 if v is an integral number in [lo, hi). */
static int json_int(const cJSON *v, double lo, double hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= lo && d < hi) || d != floor(d)) return 0;
    *out = (int64_t)d;
    return 1;
}

static int is_absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* Optional boolean (absent or null gives def). */
static climp_status opt_bool(const char *p, const cJSON *obj, const char *where, const char *key,
                             int def, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (is_absent(v)) {
        *out = def;
        return CLIMP_OK;
    }
    if (!cJSON_IsBool(v)) BAD("%s: %s.%s is %s, not a boolean", p, where, key, type_name(v));
    *out = cJSON_IsTrue(v);
    return CLIMP_OK;
}

static const char *type_of(const cJSON *obj) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static climp_status read_file(const char *p, char **buf, size_t *len) {
    FILE *fp = fopen(p, "rb");
    if (!fp) {
        climp_error_set("%s: cannot open tokenizer (%s)", p, strerror(errno));
        return CLIMP_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        climp_error_set("%s: not a regular file", p);
        return CLIMP_ERR_IO;
    }
    if ((uint64_t)st.st_size > CLIMP_TOKENIZER_MAX_FILE) {
        fclose(fp);
        BAD("%s: %lld bytes, more than the %zu a tokenizer.json may have", p,
            (long long)st.st_size, CLIMP_TOKENIZER_MAX_FILE);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        fclose(fp);
        OOM(p);
    }
    size_t got = fread(b, 1, n, fp);
    int err = ferror(fp);
    fclose(fp);
    if (got != n || err) {
        free(b);
        climp_error_set("%s: read %zu of %zu bytes", p, got, n);
        return CLIMP_ERR_IO;
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- model */
typedef struct {
    climp_tokenizer *t;
    const char *p;   /* the file, for messages */
    uint8_t *seen;   /* bitmap of the ids in use */
    int max_id;      /* largest id so far */
    size_t n_vocab;  /* entries in model.vocab */
    int64_t next_id; /* id HF gives the next added token that is not in the vocab */
    int eot, padtok; /* ids of <|endoftext|> and <|padding|>, or -1 */
} loader;

static int seen_test(const uint8_t *seen, int64_t id) { return seen[id >> 3] & (1u << (id & 7)); }
static void seen_set(uint8_t *seen, int64_t id) { seen[id >> 3] |= (uint8_t)(1u << (id & 7)); }

static climp_status load_vocab(loader *L, const cJSON *vocab) {
    climp_tokenizer *t = L->t;
    const char *p = L->p;
    char b1[80], b2[40];
    for (const cJSON *c = vocab->child; c; c = c->next) {
        int64_t id;
        if (!json_int(c, 0, CLIMP_TOKENIZER_MAX_ID, &id))
            BAD("%s: model.vocab['%s'] is %s, not an integer id in [0, %d)", p,
                printable(c->string, b1), describe(c, b2), CLIMP_TOKENIZER_MAX_ID);
        if (seen_test(L->seen, id))
            BAD("%s: model.vocab uses id %lld twice (again for '%s')", p, (long long)id,
                printable(c->string, b1));
        seen_set(L->seen, id);
        int32_t old = climp_tok_map_put(&t->vocab, c->string, strlen(c->string), (int32_t)id);
        if (old == -2) OOM(p);
        if (old >= 0) BAD("%s: model.vocab lists '%s' twice", p, printable(c->string, b1));
        if (id > L->max_id) L->max_id = (int)id;
    }
    return CLIMP_OK;
}

/* One merge "a b" or [a, b] -> (a, b) pointers/lengths. form: 1 strings, 2 pairs. */
static climp_status merge_parts(const char *p, const cJSON *m, int i, int *form, const char **a,
                                size_t *na, const char **b, size_t *nb) {
    char b1[80];
    if (cJSON_IsString(m)) {
        if (*form == 2) BAD("%s: merges[%d] is a string but earlier merges are pairs", p, i);
        *form = 1;
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            BAD("%s: merges[%d] \"%s\" is not two tokens separated by one space", p, i,
                printable(s, b1));
        *a = s;
        *na = (size_t)(sp - s);
        *b = sp + 1;
        *nb = strlen(sp + 1);
        return CLIMP_OK;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
        cJSON_IsString(m->child->next)) {
        if (*form == 1) BAD("%s: merges[%d] is a pair but earlier merges are strings", p, i);
        *form = 2;
        *a = m->child->valuestring;
        *na = strlen(*a);
        *b = m->child->next->valuestring;
        *nb = strlen(*b);
        return CLIMP_OK;
    }
    BAD("%s: merges[%d] is %s, neither a string \"a b\" nor a pair [\"a\", \"b\"]", p, i,
        type_name(m));
}

static climp_status load_merges(climp_tokenizer *t, const char *p, const cJSON *merges) {
    char b1[80], *cat = NULL;
    size_t cat_cap = 0;
    int form = 0, i = 0;
    uint32_t rank = 0;
    climp_status s = CLIMP_OK;
    for (const cJSON *m = merges->child; m && s == CLIMP_OK; m = m->next, i++) {
        const char *a, *b;
        size_t na, nb;
        if ((s = merge_parts(p, m, i, &form, &a, &na, &b, &nb)) != CLIMP_OK) break;
        if (form == 1 && strncmp(a, "#version", 8) == 0) continue; /* legacy merges.txt header */
        int32_t ia = climp_tok_map_get(&t->vocab, a, na), ib = climp_tok_map_get(&t->vocab, b, nb);
        if (na + nb + 1 > cat_cap) {
            cat_cap = 2 * (na + nb + 1);
            char *c2 = realloc(cat, cat_cap);
            if (!c2) {
                free(cat);
                OOM(p);
            }
            cat = c2;
        }
        memcpy(cat, a, na);
        memcpy(cat + na, b, nb);
        cat[na + nb] = 0;
        int32_t ic = climp_tok_map_get(&t->vocab, cat, na + nb);
        if (ia < 0 || ib < 0 || ic < 0) {
            if (ia < 0 || ib < 0) { /* name the missing part rather than the concatenation */
                memcpy(cat, ia < 0 ? a : b, ia < 0 ? na : nb);
                cat[ia < 0 ? na : nb] = 0;
            }
            climp_error_set("%s: merges[%d] %s '%s', which is not in the vocab", p, i,
                            ia < 0 || ib < 0 ? "names" : "makes", printable(cat, b1));
            s = CLIMP_ERR_FORMAT;
            break;
        }
        climp_tok_merge_put(t, ia, ib, rank++, ic);
    }
    free(cat);
    return s;
}

static climp_status load_model(loader *L, const cJSON *model) {
    climp_tokenizer *t = L->t;
    const char *p = L->p;
    char b1[80];
    if (!cJSON_IsObject(model)) BAD("%s: \"model\" is %s, not an object", p, type_name(model));
    const char *ty = type_of(model);
    if (!ty) BAD("%s: model has no \"type\" string", p);
    if (strcmp(ty, "BPE") != 0)
        UNSUP("%s: model type '%s' is not supported (only BPE)", p, printable(ty, b1));
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab)) BAD("%s: model.vocab is %s, not an object", p, type_name(vocab));
    if (!cJSON_IsArray(merges)) BAD("%s: model.merges is %s, not an array", p, type_name(merges));
    L->n_vocab = (size_t)cJSON_GetArraySize(vocab);
    if (climp_tok_tables_init(t, L->n_vocab, (size_t)cJSON_GetArraySize(merges)) != CLIMP_OK)
        OOM(p);
    CLIMP_TRY(load_vocab(L, vocab));
    CLIMP_TRY(load_merges(t, p, merges));

    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (!is_absent(dr)) {
        if (!cJSON_IsNumber(dr) || !(dr->valuedouble >= 0 && dr->valuedouble <= 1))
            BAD("%s: model.dropout is %s, not null or a number in [0, 1]", p, describe(dr, b1));
        if (dr->valuedouble != 0)
            UNSUP("%s: model.dropout %g (random merges) is not supported", p, dr->valuedouble);
    }
    static const char *const affixes[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affixes[k]);
        if (is_absent(v)) continue;
        if (!cJSON_IsString(v)) BAD("%s: model.%s is %s", p, affixes[k], type_name(v));
        if (v->valuestring[0]) UNSUP("%s: model.%s is not supported", p, affixes[k]);
    }
    int byte_fallback;
    CLIMP_TRY(opt_bool(p, model, "model", "fuse_unk", 0, &t->fuse_unk));
    CLIMP_TRY(opt_bool(p, model, "model", "byte_fallback", 0, &byte_fallback));
    CLIMP_TRY(opt_bool(p, model, "model", "ignore_merges", 0, &t->ignore_merges));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    t->unk_id = -1;
    if (!is_absent(unk)) {
        if (!cJSON_IsString(unk)) BAD("%s: model.unk_token is %s", p, type_name(unk));
        t->unk_id = climp_tok_map_get(&t->vocab, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0)
            BAD("%s: model.unk_token '%s' is not in the vocab", p, printable(unk->valuestring, b1));
    }
    int missing = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t c = climp_tok_byte_char(b);
        char u[2] = {(char)c, 0};
        size_t nu = 1;
        if (c >= 0x80) {
            u[0] = (char)(0xC0 | (c >> 6));
            u[1] = (char)(0x80 | (c & 0x3F));
            nu = 2;
        }
        t->byte_id[b] = climp_tok_map_get(&t->vocab, u, nu);
        /* 0xC0, 0xC1 and 0xF5..0xFF never occur in (repaired) UTF-8; GPT-NeoX lacks them. */
        missing += t->byte_id[b] < 0 && b != 0xC0 && b != 0xC1 && b < 0xF5;
    }
    if (missing && byte_fallback)
        UNSUP("%s: model.byte_fallback with %d byte symbols missing from the vocab is not "
              "supported", p, missing);
    if (missing)
        climp_log(CLIMP_LOG_WARN, "%s: %d byte symbols that UTF-8 text can contain are not in "
                  "the vocab; such bytes become unk_token, or are dropped without one, as in HF",
                  p, missing);
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- pipeline parts */
static climp_status load_normalizer(climp_tokenizer *t, const char *p, const cJSON *nz) {
    char b1[80];
    t->nfc = 0;
    if (is_absent(nz)) return CLIMP_OK;
    if (!cJSON_IsObject(nz)) BAD("%s: \"normalizer\" is %s", p, type_name(nz));
    const char *ty = type_of(nz);
    if (ty && strcmp(ty, "NFC") == 0) {
        t->nfc = 1;
        return CLIMP_OK;
    }
    if (ty && strcmp(ty, "Sequence") == 0) { /* a sequence of NFCs is NFC */
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(nz, "normalizers");
        if (!cJSON_IsArray(list)) BAD("%s: normalizer Sequence has no \"normalizers\" list", p);
        for (const cJSON *e = list->child; e; e = e->next) {
            const char *ety = cJSON_IsObject(e) ? type_of(e) : NULL;
            if (!ety || strcmp(ety, "NFC") != 0)
                UNSUP("%s: normalizer '%s' is not supported (only NFC)", p,
                      ety ? printable(ety, b1) : "?");
            t->nfc = 1;
        }
        return CLIMP_OK;
    }
    UNSUP("%s: normalizer '%s' is not supported (only NFC)", p, ty ? printable(ty, b1) : "?");
}

static climp_status check_pre_tokenizer(const char *p, const cJSON *pt) {
    char b1[80];
    if (is_absent(pt)) UNSUP("%s: no pre_tokenizer; climp needs ByteLevel", p);
    if (!cJSON_IsObject(pt)) BAD("%s: \"pre_tokenizer\" is %s", p, type_name(pt));
    const char *ty = type_of(pt);
    if (!ty || strcmp(ty, "ByteLevel") != 0)
        UNSUP("%s: pre_tokenizer '%s' is not supported (only ByteLevel)", p,
              ty ? printable(ty, b1) : "?");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pt, "add_prefix_space");
    if (!cJSON_IsBool(aps))
        BAD("%s: pre_tokenizer.add_prefix_space is %s, not a boolean", p, type_name(aps));
    if (cJSON_IsTrue(aps)) UNSUP("%s: pre_tokenizer.add_prefix_space true is not supported", p);
    int use_regex;
    CLIMP_TRY(opt_bool(p, pt, "pre_tokenizer", "use_regex", 1, &use_regex));
    if (!use_regex) UNSUP("%s: pre_tokenizer.use_regex false is not supported", p);
    return CLIMP_OK;
}

static climp_status check_post_processor(const char *p, const cJSON *pp) {
    char b1[80];
    if (is_absent(pp)) return CLIMP_OK;
    if (!cJSON_IsObject(pp)) BAD("%s: \"post_processor\" is %s", p, type_name(pp));
    const char *ty = type_of(pp);
    if (!ty || strcmp(ty, "ByteLevel") != 0)
        UNSUP("%s: post_processor '%s' is not supported (only ByteLevel, which adds no tokens)",
              p, ty ? printable(ty, b1) : "?");
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- added tokens */
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rejects a content listed twice (HF would silently let the later entry win). */
static climp_status check_unique(const char *p, const cJSON *added, int count) {
    const char **v = malloc(((size_t)count + 1) * sizeof *v);
    if (!v) OOM(p);
    int k = 0;
    for (const cJSON *e = added->child; e; e = e->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (cJSON_IsString(c) && c->valuestring[0]) v[k++] = c->valuestring;
    }
    qsort(v, (size_t)k, sizeof *v, cmp_str);
    for (int i = 1; i < k; i++) {
        if (strcmp(v[i - 1], v[i]) == 0) {
            char b1[80];
            climp_error_set("%s: added_tokens lists '%s' twice", p, printable(v[i], b1));
            free(v);
            return CLIMP_ERR_FORMAT;
        }
    }
    free(v);
    return CLIMP_OK;
}

/* Trie insertion of one added token; normalized tokens are matched in NFC when the
 * normalizer is NFC (AddedVocabulary keeps their normalised form). */
static climp_status add_to_trie(climp_tokenizer *t, const char *c, size_t n, int normalized,
                                int32_t id) {
    if (!normalized) return climp_tok_trie_add(&t->raw_trie, c, n, id);
    if (!t->nfc) return climp_tok_trie_add(&t->norm_trie, c, n, id);
    utf8proc_uint8_t *nc = NULL;
    utf8proc_ssize_t nn = utf8proc_map((const utf8proc_uint8_t *)c, (utf8proc_ssize_t)n, &nc,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (nn < 0) return CLIMP_ERR_HOST_OOM; /* the file is valid UTF-8: only OOM is left */
    climp_status s = climp_tok_trie_add(&t->norm_trie, (const char *)nc, (size_t)nn, id);
    free(nc);
    return s;
}

static climp_status add_one(loader *L, const cJSON *e, int i) {
    climp_tokenizer *t = L->t;
    const char *p = L->p;
    char b1[80], b2[40];
    if (!cJSON_IsObject(e)) BAD("%s: added_tokens[%d] is %s, not an object", p, i, type_name(e));
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(e, "content");
    if (!cJSON_IsString(cj)) BAD("%s: added_tokens[%d].content is %s", p, i, type_name(cj));
    const char *c = cj->valuestring, *pc = printable(c, b1);
    int64_t id;
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(e, "id");
    if (!json_int(jid, 0, CLIMP_TOKENIZER_MAX_ID, &id))
        BAD("%s: added_tokens[%d] ('%s'): id is %s, not an integer in [0, %d)", p, i, pc,
            describe(jid, b2), CLIMP_TOKENIZER_MAX_ID);
    static const char *const flags[5] = {"special", "normalized", "single_word", "lstrip",
                                         "rstrip"};
    int f[5];
    for (int k = 0; k < 5; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, flags[k]);
        if (!cJSON_IsBool(v))
            BAD("%s: added_tokens[%d] ('%s'): \"%s\" is %s, not a boolean", p, i, pc, flags[k],
                type_name(v));
        f[k] = cJSON_IsTrue(v);
        if (k >= 2 && f[k])
            UNSUP("%s: added_tokens[%d] ('%s') sets %s, which climp does not support", p, i, pc,
                  flags[k]);
    }
    size_t n = strlen(c);
    if (n == 0) return CLIMP_OK; /* HF ignores empty added tokens */
    int32_t hf_id = climp_tok_map_get(&t->vocab, c, n);
    if (hf_id < 0) {
        if (L->next_id >= CLIMP_TOKENIZER_MAX_ID) BAD("%s: too many added tokens", p);
        hf_id = (int32_t)L->next_id++;
        if (seen_test(L->seen, hf_id))
            BAD("%s: added_tokens[%d] ('%s') would get id %d from HF tokenizers, which the vocab "
                "already uses for another token", p, i, pc, hf_id);
        seen_set(L->seen, hf_id);
    }
    if (id != hf_id)
        BAD("%s: added_tokens[%d] ('%s') has id %lld but HF tokenizers assigns it id %d (its "
            "vocab id, or the next one after the vocab's entries)", p, i, pc, (long long)id, hf_id);
    if (hf_id > L->max_id) L->max_id = hf_id;
    if (strcmp(c, "<|endoftext|>") == 0) L->eot = hf_id;
    if (strcmp(c, "<|padding|>") == 0) L->padtok = hf_id;
    if (add_to_trie(t, c, n, f[1], hf_id) != CLIMP_OK) OOM(p);
    return CLIMP_OK;
}

static climp_status load_added(loader *L, const cJSON *added) {
    const char *p = L->p;
    if (is_absent(added)) return CLIMP_OK;
    if (!cJSON_IsArray(added)) BAD("%s: \"added_tokens\" is %s, not an array", p, type_name(added));
    CLIMP_TRY(check_unique(p, added, cJSON_GetArraySize(added)));
    L->next_id = (int64_t)L->n_vocab;
    int i = 0;
    for (const cJSON *e = added->child; e; e = e->next, i++) CLIMP_TRY(add_one(L, e, i));
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- top level */
static climp_status load_root(loader *L, const cJSON *root) {
    climp_tokenizer *t = L->t;
    const char *p = L->p;
    char b1[80];
    if (!cJSON_IsObject(root)) BAD("%s: top level is %s, not a JSON object", p, type_name(root));
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!is_absent(ver) && !(cJSON_IsString(ver) && strcmp(ver->valuestring, "1.0") == 0))
        BAD("%s: version is %s%s%s, not \"1.0\"", p, cJSON_IsString(ver) ? "'" : "",
            cJSON_IsString(ver) ? printable(ver->valuestring, b1) : type_name(ver),
            cJSON_IsString(ver) ? "'" : "");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model) BAD("%s: no \"model\"", p);
    CLIMP_TRY(load_model(L, model));
    CLIMP_TRY(load_normalizer(t, p, cJSON_GetObjectItemCaseSensitive(root, "normalizer")));
    CLIMP_TRY(check_pre_tokenizer(p, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")));
    CLIMP_TRY(check_post_processor(p, cJSON_GetObjectItemCaseSensitive(root, "post_processor")));
    CLIMP_TRY(load_added(L, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")));
    if (L->max_id < 0) BAD("%s: model.vocab is empty", p);
    if (L->eot < 0) L->eot = climp_tok_map_get(&t->vocab, "<|endoftext|>", 13);
    if (L->padtok < 0) L->padtok = climp_tok_map_get(&t->vocab, "<|padding|>", 11);
    t->vocab_size = L->max_id + 1;
    t->eot_id = L->eot;
    t->pad_id = L->padtok >= 0 ? L->padtok : L->eot >= 0 ? L->eot : 0;
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
    if (!is_absent(pad)) {
        int64_t pid;
        const cJSON *jp = cJSON_GetObjectItemCaseSensitive(pad, "pad_id");
        if (!cJSON_IsObject(pad)) BAD("%s: \"padding\" is %s, not an object", p, type_name(pad));
        if (!json_int(jp, 0, t->vocab_size, &pid))
            BAD("%s: padding.pad_id is %s, not an id in [0, %d)", p, describe(jp, b1),
                t->vocab_size);
        t->pad_id = (int)pid;
    }
    return CLIMP_OK;
}

climp_status climp_tok_load_json(climp_tokenizer *t, const char *p) {
    char *buf;
    size_t len;
    CLIMP_TRY(read_file(p, &buf, &len));
    const char *nul = memchr(buf, 0, len); /* cJSON would skip a NUL as white space */
    if (nul) {
        size_t at = (size_t)(nul - buf);
        free(buf);
        BAD("%s: NUL byte at offset %zu; JSON allows none", p, at);
    }
    size_t valid = climp_tok_utf8_valid_prefix((const uint8_t *)buf, len);
    if (valid != len) {
        free(buf);
        BAD("%s: not valid UTF-8 at byte %zu", p, valid);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
    if (!root || end != buf + len) {
        size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
        size_t line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') line++, col = 1;
            else col++;
        }
        cJSON_Delete(root);
        free(buf);
        BAD("%s: malformed JSON at line %zu, column %zu%s", p, line, col,
            len == 0 ? " (the file is empty)" : "");
    }
    free(buf);
    loader L = {.t = t, .p = p, .max_id = -1, .eot = -1, .padtok = -1};
    L.seen = calloc(CLIMP_TOKENIZER_MAX_ID / 8, 1);
    climp_status s = CLIMP_ERR_HOST_OOM;
    if (L.seen) s = load_root(&L, root);
    else climp_error_set("%s: out of host memory", p);
    free(L.seen);
    cJSON_Delete(root);
    return s;
}
