/* Private to model/tokenizer*.c: the tokenizer object and the helpers its files share. The public
 * API is model/tokenizer.h. */
#ifndef CLIMP_TOKENIZER_INTERNAL_H
#define CLIMP_TOKENIZER_INTERNAL_H

#include "model/tokenizer.h"

enum { CLIMP_TOK_BYTES = 1, CLIMP_TOK_BPE = 2 };

/* Merge table slot: key = a << 32 | b (ids < 2^24), CLIMP_TOK_EMPTY when free. */
#define CLIMP_TOK_EMPTY UINT64_MAX
typedef struct {
    uint64_t key;
    uint32_t rank;  /* index in the merges list; lower merges first */
    int32_t id;     /* id of the merged token */
} climp_tok_merge;

/* String -> id hash map (open addressing); a slot's string is pool[off, off + len), id < 0 when
 * the slot is free. */
typedef struct {
    uint64_t hash;
    uint32_t off, len;
    int32_t id;
} climp_tok_vslot;
typedef struct {
    climp_tok_vslot *slots;
    size_t mask, count;
    char *pool;
    size_t pool_len, pool_cap;
} climp_tok_strmap;

/* Byte trie over added-token contents for leftmost-longest matching. Node 0 is the root. */
typedef struct {
    int32_t child, sibling, id; /* id >= 0: a token ends here */
    uint8_t byte;
} climp_tok_node;
typedef struct {
    climp_tok_node *nodes;
    int n, cap;
    uint8_t starts[256]; /* 1 where some token begins with that byte */
} climp_tok_trie;

struct climp_tokenizer {
    int kind, vocab_size, pad_id, eot_id;
    /* BPE only */
    char *path;
    int nfc;            /* normalizer is NFC */
    int ignore_merges;  /* a word that is itself in the vocab is one token */
    int unk_id, fuse_unk;
    int32_t byte_id[256]; /* id of the byte-level symbol of byte b; -1 if the vocab lacks it */
    climp_tok_merge *merges;
    size_t merge_mask;
    climp_tok_strmap vocab; /* byte-level token string -> id (model.vocab) */
    climp_tok_strmap words; /* raw bytes of a piece -> its id, for pieces BPE makes one token */
    climp_tok_trie raw_trie;  /* added tokens with normalized=false, matched on the raw text */
    climp_tok_trie norm_trie; /* normalized=true, matched on the normalized text */
};

/* Where encode writes: ids[0, max) and the count needed. */
typedef struct {
    int32_t *ids;
    size_t max, n;
} climp_tok_out;

static inline void climp_tok_emit(climp_tok_out *o, int32_t id) {
    if (o->n < o->max) o->ids[o->n] = id;
    o->n++;
}

/* Per-call work space for BPE merging (encode owns one, on its stack): pieces up to
 * CLIMP_TOK_SMALL bytes use the inline buffer, longer ones a malloc'ed one. */
#define CLIMP_TOK_SMALL 64
typedef struct {
    void *syms, *heap;
    char *str;
    size_t cap;    /* symbols the arrays hold */
    int allocated; /* the arrays are malloc'ed */
    uint64_t small[(CLIMP_TOK_SMALL * (12 + 3 * 12 + 2) + 7) / 8];
} climp_tok_scratch;

/* ---- tokenizer_bpe.c */
/* GPT-2 bytes_to_unicode: the code point byte b is shown as (printable bytes map to themselves,
 * the rest to 256 + n). */
uint32_t climp_tok_byte_char(int b);
climp_status climp_tok_tables_init(climp_tokenizer *t, size_t n_vocab, size_t n_merges);
/* Sized for n keys; put beyond that fails. put returns the previous id of that string (and
 * overwrites it), -1 if there was none, -2 when out of memory or full. */
climp_status climp_tok_map_init(climp_tok_strmap *m, size_t n);
int32_t climp_tok_map_put(climp_tok_strmap *m, const char *s, size_t n, int32_t id);
int32_t climp_tok_map_get(const climp_tok_strmap *m, const char *s, size_t n);
void climp_tok_map_free(climp_tok_strmap *m);
/* After loading: remembers every vocab token whose bytes BPE turns into that one token, so the
 * common word costs one lookup instead of a merge loop. */
climp_status climp_tok_words_init(climp_tokenizer *t);
void climp_tok_merge_put(climp_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id);
const climp_tok_merge *climp_tok_merge_get(const climp_tokenizer *t, int32_t a, int32_t b);
climp_status climp_tok_trie_add(climp_tok_trie *tr, const char *s, size_t n, int32_t id);
/* Length of the longest token that s[0, n) starts with (0 if none); its id in *id. */
size_t climp_tok_trie_match(const climp_tok_trie *tr, const uint8_t *s, size_t n, int32_t *id);
void climp_tok_trie_free(climp_tok_trie *tr);
/* BPE of one pre-tokenized piece w[0, n) (raw bytes; the byte-level map is applied here). */
climp_status climp_tok_bpe_word(const climp_tokenizer *t, const uint8_t *w, size_t n,
                                climp_tok_scratch *sc, climp_tok_out *out);
void climp_tok_scratch_free(climp_tok_scratch *sc);

/* ---- tokenizer_json.c */
/* Fills t (kind BPE) from a tokenizer.json; every failure sets one line naming the file. */
climp_status climp_tok_load_json(climp_tokenizer *t, const char *path);

/* ---- tokenizer_regex.c */
/* Length of the longest well-formed UTF-8 prefix of s[0, n) (n when all of it is). */
size_t climp_tok_utf8_valid_prefix(const uint8_t *s, size_t n);
/* Copies s into out (room for 3n bytes) replacing each maximal ill-formed subsequence by U+FFFD,
 * as Python's errors="replace"; returns the new length. */
size_t climp_tok_utf8_repair(const uint8_t *s, size_t n, uint8_t *out);
/* End of the GPT-2 regex piece that starts at p in the valid UTF-8 text s[0, n). */
size_t climp_tok_piece_end(const uint8_t *s, size_t n, size_t p);

#endif
