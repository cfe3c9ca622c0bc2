/* Tokenizer API (model/tokenizer.h): open/free, the built-in bytes tokenizer and the BPE encode
 * pipeline (UTF-8 repair, added-token splitting, NFC, GPT-2 pre-tokenizer, BPE). The pieces live
 * in model/tokenizer_json.c (loading), model/tokenizer_bpe.c (tables, merging) and
 * model/tokenizer_regex.c (UTF-8, the split regex). Test: tests/test_tokenizer.c. */
#include "model/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { BYTES_VOCAB = 264, BYTES_PAD = 1, BYTES_EOT = 0, BYTES_OFFSET = 2 };

climp_status climp_tokenizer_open(const char *spec, climp_tokenizer **out) {
    if (!out) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    if (!spec || !spec[0]) {
        climp_error_set("tokenizer: empty spec (want \"bytes\" or a tokenizer.json path)");
        return CLIMP_ERR_INVALID_ARG;
    }
    climp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return CLIMP_ERR_HOST_OOM;
    if (strcmp(spec, "bytes") == 0) {
        t->kind = CLIMP_TOK_BYTES;
        t->vocab_size = BYTES_VOCAB;
        t->pad_id = BYTES_PAD;
        t->eot_id = BYTES_EOT;
        *out = t;
        return CLIMP_OK;
    }
    t->kind = CLIMP_TOK_BPE;
    t->path = malloc(strlen(spec) + 1);
    climp_status s = CLIMP_ERR_HOST_OOM;
    if (t->path) {
        strcpy(t->path, spec);
        s = climp_tok_load_json(t, spec);
        if (s == CLIMP_OK && (s = climp_tok_words_init(t)) != CLIMP_OK)
            climp_error_set("%s: out of host memory", spec);
    }
    if (s != CLIMP_OK) {
        climp_tokenizer_free(t);
        return s;
    }
    *out = t;
    return CLIMP_OK;
}

void climp_tokenizer_free(climp_tokenizer *t) {
    if (!t) return;
    free(t->path);
    free(t->merges);
    climp_tok_map_free(&t->vocab);
    climp_tok_map_free(&t->words);
    climp_tok_trie_free(&t->raw_trie);
    climp_tok_trie_free(&t->norm_trie);
    free(t);
}

int climp_tokenizer_vocab_size(const climp_tokenizer *t) { return t ? t->vocab_size : 0; }
int climp_tokenizer_pad_id(const climp_tokenizer *t) { return t ? t->pad_id : 0; }
int climp_tokenizer_eot_id(const climp_tokenizer *t) { return t ? t->eot_id : -1; }
const char *climp_tokenizer_kind(const climp_tokenizer *t) {
    return !t ? "none" : t->kind == CLIMP_TOK_BYTES ? "bytes" : "bpe";
}

/* ---------------------------------------------------------------- BPE pipeline */
/* Stage 3: GPT-2 split and BPE of a piece with no added tokens in it. */
static climp_status encode_pieces(const climp_tokenizer *t, const uint8_t *s, size_t n,
                                  climp_tok_scratch *sc, climp_tok_out *out) {
    for (size_t p = 0; p < n;) {
        size_t e = climp_tok_piece_end(s, n, p);
        CLIMP_TRY(climp_tok_bpe_word(t, s + p, e - p, sc, out));
        p = e;
    }
    return CLIMP_OK;
}

/* Splits s[0, n) on the tokens of trie tr (leftmost-longest, as daachorse's LeftmostLongest),
 * handing the text between them to `rest`. */
typedef climp_status (*rest_fn)(const climp_tokenizer *, const uint8_t *, size_t,
                                climp_tok_scratch *, climp_tok_out *);
static climp_status split_added(const climp_tokenizer *t, const climp_tok_trie *tr,
                                const uint8_t *s, size_t n, rest_fn rest, climp_tok_scratch *sc,
                                climp_tok_out *out) {
    size_t seg = 0;
    if (tr->n) {
        for (size_t i = 0; i < n;) {
            int32_t id;
            size_t m = climp_tok_trie_match(tr, s + i, n - i, &id);
            if (!m) {
                i++;
                continue;
            }
            if (i > seg) CLIMP_TRY(rest(t, s + seg, i - seg, sc, out));
            climp_tok_emit(out, id);
            i += m;
            seg = i;
        }
    }
    if (n > seg) CLIMP_TRY(rest(t, s + seg, n - seg, sc, out));
    return CLIMP_OK;
}

static climp_status after_normalize(const climp_tokenizer *t, const uint8_t *s, size_t n,
                                    climp_tok_scratch *sc, climp_tok_out *out) {
    return split_added(t, &t->norm_trie, s, n, encode_pieces, sc, out);
}

/* Stage 2: NFC, then the normalized added tokens. Text whose code points are all below U+0300
 * (every byte < 0xCC) is already NFC: nothing there decomposes or composes. */
static climp_status normalize_piece(const climp_tokenizer *t, const uint8_t *s, size_t n,
                                    climp_tok_scratch *sc, climp_tok_out *out) {
    size_t i = 0;
    while (t->nfc && i < n && s[i] < 0xCC) i++;
    if (!t->nfc || i == n) return after_normalize(t, s, n, sc, out);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)n, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) { /* s is valid UTF-8, so this is out of memory */
        climp_error_set("tokenizer: NFC failed: %s", utf8proc_errmsg(m));
        return CLIMP_ERR_HOST_OOM;
    }
    climp_status st = after_normalize(t, nfc, (size_t)m, sc, out);
    free(nfc);
    return st;
}

climp_status climp_tokenizer_encode(const climp_tokenizer *t, const char *text, size_t len,
                                    int add_eot, int32_t *ids, size_t max_ids, size_t *n) {
    if (!t || !n || (!text && len) || (!ids && max_ids)) return CLIMP_ERR_INVALID_ARG;
    if (len == CLIMP_TOKENIZER_CSTR) len = text ? strlen(text) : 0;
    climp_tok_out out = {.ids = ids, .max = max_ids, .n = 0};
    const uint8_t *s = (const uint8_t *)text;
    if (t->kind == CLIMP_TOK_BYTES) {
        for (size_t i = 0; i < len; i++) climp_tok_emit(&out, (int32_t)s[i] + BYTES_OFFSET);
        if (add_eot) climp_tok_emit(&out, BYTES_EOT);
        *n = out.n;
        return CLIMP_OK;
    }
    if (add_eot && t->eot_id < 0) {
        climp_error_set("%s: add_eot asked for, but the tokenizer has no <|endoftext|>", t->path);
        return CLIMP_ERR_INVALID_ARG;
    }
    uint8_t *fixed = NULL;
    if (climp_tok_utf8_valid_prefix(s, len) != len) {
        if (len > SIZE_MAX / 3) return CLIMP_ERR_INVALID_ARG;
        if (!(fixed = malloc(3 * len))) return CLIMP_ERR_HOST_OOM;
        len = climp_tok_utf8_repair(s, len, fixed);
        s = fixed;
    }
    climp_tok_scratch sc;
    sc.cap = 0;
    sc.allocated = 0;
    climp_status st = split_added(t, &t->raw_trie, s, len, normalize_piece, &sc, &out);
    climp_tok_scratch_free(&sc);
    free(fixed);
    if (st != CLIMP_OK) return st;
    if (add_eot) climp_tok_emit(&out, t->eot_id);
    *n = out.n;
    return CLIMP_OK;
}
