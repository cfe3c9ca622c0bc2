/* Tokenizer data structures and the BPE merge: the vocab and merge hash tables, the added-token
 * trie, and the merging of one pre-tokenized piece, which mirrors HF tokenizers'
 * Word::merge_all (models/bpe/word.rs) step for step so that ties and stale queue entries resolve
 * the same way. Loading: model/tokenizer_json.c. API: model/tokenizer.h. */
#include "model/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

uint32_t climp_tok_byte_char(int b) {
    /* bytes_char() in HF pre_tokenizers/byte_level.rs: '!'..'~', 0xA1..0xAC and 0xAE..0xFF map
     * to themselves; the other 68 bytes, in increasing order, to 256, 257, ...: 0x00..0x20 to
     * 256..288, 0x7F..0xA0 to 289..322 and 0xAD to 323. */
    if (b <= 0x20) return 256 + (uint32_t)b;
    if (b >= 0x7F && b <= 0xA0) return 289 + (uint32_t)(b - 0x7F);
    if (b == 0xAD) return 323;
    return (uint32_t)b;
}

/* ---------------------------------------------------------------- hash tables */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

climp_status climp_tok_map_init(climp_tok_strmap *m, size_t n) {
    size_t c = pow2_at_least(2 * n + 1);
    m->slots = malloc(c * sizeof *m->slots);
    if (!m->slots) return CLIMP_ERR_HOST_OOM;
    for (size_t i = 0; i < c; i++) m->slots[i].id = -1;
    m->mask = c - 1;
    m->count = 0;
    return CLIMP_OK;
}

void climp_tok_map_free(climp_tok_strmap *m) {
    free(m->slots);
    free(m->pool);
    memset(m, 0, sizeof *m);
}

static climp_tok_vslot *map_find(const climp_tok_strmap *m, const char *s, size_t n, uint64_t h) {
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        climp_tok_vslot *v = &m->slots[i];
        if (v->id < 0) return v;
        if (v->hash == h && v->len == n && memcmp(m->pool + v->off, s, n) == 0) return v;
    }
}

int32_t climp_tok_map_put(climp_tok_strmap *m, const char *s, size_t n, int32_t id) {
    uint64_t h = hash_bytes(s, n);
    climp_tok_vslot *v = map_find(m, s, n, h);
    if (v->id >= 0) {
        int32_t old = v->id;
        v->id = id;
        return old;
    }
    if (2 * (m->count + 1) > m->mask + 1 || m->pool_len + n > UINT32_MAX) return -2;
    if (m->pool_len + n > m->pool_cap) {
        size_t cap = m->pool_cap ? m->pool_cap : 4096;
        while (cap < m->pool_len + n) cap *= 2;
        char *p = realloc(m->pool, cap);
        if (!p) return -2;
        m->pool = p;
        m->pool_cap = cap;
    }
    memcpy(m->pool + m->pool_len, s, n);
    *v = (climp_tok_vslot){.hash = h, .off = (uint32_t)m->pool_len, .len = (uint32_t)n, .id = id};
    m->pool_len += n;
    m->count++;
    return -1;
}

int32_t climp_tok_map_get(const climp_tok_strmap *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    return map_find(m, s, n, hash_bytes(s, n))->id;
}

climp_status climp_tok_tables_init(climp_tokenizer *t, size_t n_vocab, size_t n_merges) {
    size_t mc = pow2_at_least(2 * n_merges + 1);
    t->merges = malloc(mc * sizeof *t->merges);
    if (!t->merges || climp_tok_map_init(&t->vocab, n_vocab) != CLIMP_OK)
        return CLIMP_ERR_HOST_OOM;
    for (size_t i = 0; i < mc; i++) t->merges[i].key = CLIMP_TOK_EMPTY;
    t->merge_mask = mc - 1;
    return CLIMP_OK;
}

void climp_tok_merge_put(climp_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = hash_pair(key) & t->merge_mask;
    while (t->merges[i].key != CLIMP_TOK_EMPTY && t->merges[i].key != key)
        i = (i + 1) & t->merge_mask;
    t->merges[i].key = key;
    t->merges[i].rank = rank; /* a repeated pair keeps its last rank, as HF's HashMap collect */
    t->merges[i].id = id;
}

const climp_tok_merge *climp_tok_merge_get(const climp_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = hash_pair(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const climp_tok_merge *m = &t->merges[i];
        if (m->key == key) return m;
        if (m->key == CLIMP_TOK_EMPTY) return NULL;
    }
}

/* ---------------------------------------------------------------- added-token trie */
static int32_t trie_node(climp_tok_trie *tr, uint8_t byte) {
    if (tr->n == tr->cap) {
        int cap = tr->cap ? 2 * tr->cap : 64;
        climp_tok_node *nn = realloc(tr->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        tr->nodes = nn;
        tr->cap = cap;
    }
    tr->nodes[tr->n] = (climp_tok_node){.child = -1, .sibling = -1, .id = -1, .byte = byte};
    return tr->n++;
}

climp_status climp_tok_trie_add(climp_tok_trie *tr, const char *s, size_t n, int32_t id) {
    if (tr->n == 0 && trie_node(tr, 0) < 0) return CLIMP_ERR_HOST_OOM;
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        int32_t k = tr->nodes[cur].child;
        while (k >= 0 && tr->nodes[k].byte != c) k = tr->nodes[k].sibling;
        if (k < 0) {
            if ((k = trie_node(tr, c)) < 0) return CLIMP_ERR_HOST_OOM;
            tr->nodes[k].sibling = tr->nodes[cur].child;
            tr->nodes[cur].child = k;
        }
        cur = k;
    }
    tr->nodes[cur].id = id;
    if (n) tr->starts[(uint8_t)s[0]] = 1;
    return CLIMP_OK;
}

size_t climp_tok_trie_match(const climp_tok_trie *tr, const uint8_t *s, size_t n, int32_t *id) {
    if (!n || !tr->starts[s[0]]) return 0;
    size_t best = 0;
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t k = tr->nodes[cur].child;
        while (k >= 0 && tr->nodes[k].byte != s[i]) k = tr->nodes[k].sibling;
        if (k < 0) break;
        cur = k;
        if (tr->nodes[k].id >= 0) {
            best = i + 1;
            *id = tr->nodes[k].id;
        }
    }
    return best;
}

void climp_tok_trie_free(climp_tok_trie *tr) {
    free(tr->nodes);
    memset(tr, 0, sizeof *tr);
}

/* ---------------------------------------------------------------- BPE merge */
typedef struct {
    int32_t id;         /* -1 once merged into its left neighbour */
    int32_t prev, next; /* -1 at either end */
} sym;

typedef struct {
    uint32_t rank, pos;
    int32_t id;
} qent;

static int qless(qent a, qent b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void qpush(qent *h, size_t *n, qent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!qless(e, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static qent qpop(qent *h, size_t *n) {
    qent top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && qless(h[c + 1], h[c])) c++;
        if (!qless(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

static climp_status scratch_reserve(climp_tok_scratch *sc, size_t n) {
    if (n <= sc->cap) return CLIMP_OK;
    _Static_assert(sizeof(sym) == 12 && sizeof(qent) == 12, "climp_tok_scratch.small layout");
    if (n <= CLIMP_TOK_SMALL) {
        char *b = (char *)sc->small; /* syms, then a heap of 3n entries, then 2n chars */
        sc->syms = b;
        sc->heap = b + CLIMP_TOK_SMALL * sizeof(sym);
        sc->str = b + CLIMP_TOK_SMALL * (sizeof(sym) + 3 * sizeof(qent));
        sc->cap = CLIMP_TOK_SMALL;
        return CLIMP_OK;
    }
    size_t cap = 2 * CLIMP_TOK_SMALL;
    while (cap < n) cap *= 2;
    climp_tok_scratch_free(sc);
    /* Each merge pushes at most two entries, so the heap never exceeds 3n. */
    sc->syms = malloc(cap * sizeof(sym));
    sc->heap = malloc(3 * cap * sizeof(qent));
    sc->str = malloc(2 * cap);
    sc->allocated = 1;
    if (!sc->syms || !sc->heap || !sc->str) {
        climp_tok_scratch_free(sc);
        return CLIMP_ERR_HOST_OOM;
    }
    sc->cap = cap;
    return CLIMP_OK;
}

void climp_tok_scratch_free(climp_tok_scratch *sc) {
    if (sc->allocated) {
        free(sc->syms);
        free(sc->heap);
        free(sc->str);
    }
    sc->syms = sc->heap = NULL;
    sc->str = NULL;
    sc->cap = 0;
    sc->allocated = 0;
}

/* ignore_merges: the piece's byte-level string looked up whole. */
static int32_t whole_word(const climp_tokenizer *t, const uint8_t *w, size_t n, char *str) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = climp_tok_byte_char(w[i]);
        if (c < 0x80) {
            str[k++] = (char)c;
        } else {
            str[k++] = (char)(0xC0 | (c >> 6));
            str[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return climp_tok_map_get(&t->vocab, str, k);
}

climp_status climp_tok_bpe_word(const climp_tokenizer *t, const uint8_t *w, size_t n,
                                climp_tok_scratch *sc, climp_tok_out *out) {
    if (n == 0) return CLIMP_OK;
    if (n == 1 && t->byte_id[w[0]] >= 0) {
        climp_tok_emit(out, t->byte_id[w[0]]);
        return CLIMP_OK;
    }
    int32_t known = climp_tok_map_get(&t->words, (const char *)w, n);
    if (known >= 0) {
        climp_tok_emit(out, known);
        return CLIMP_OK;
    }
    CLIMP_TRY(scratch_reserve(sc, n));
    if (t->ignore_merges) {
        int32_t id = whole_word(t, w, n, sc->str);
        if (id >= 0) {
            climp_tok_emit(out, id);
            return CLIMP_OK;
        }
    }
    /* Initial symbols: one per byte (BPE::merge_word). A byte whose symbol is not in the vocab
     * becomes unk (fused with a preceding unk when fuse_unk), or is dropped without unk. */
    sym *s = sc->syms;
    int32_t m = 0, unk_open = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id < 0) {
            if (t->unk_id < 0) continue;
            if (unk_open && t->fuse_unk) continue;
            id = t->unk_id;
            unk_open = 1;
        } else {
            unk_open = 0;
        }
        s[m] = (sym){.id = id, .prev = m - 1, .next = m + 1};
        m++;
    }
    if (m == 0) return CLIMP_OK;
    s[m - 1].next = -1;

    qent *h = sc->heap;
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < m; i++) {
        const climp_tok_merge *mg = climp_tok_merge_get(t, s[i].id, s[i + 1].id);
        if (mg) qpush(h, &hn, (qent){mg->rank, (uint32_t)i, mg->id});
    }
    while (hn) {
        qent top = qpop(h, &hn);
        sym *cur = &s[top.pos];
        if (cur->id < 0 || cur->next < 0) continue;
        sym *right = &s[cur->next];
        /* An entry is stale unless the pair there still merges into the same token. */
        const climp_tok_merge *mg = climp_tok_merge_get(t, cur->id, right->id);
        if (!mg || mg->id != top.id) continue;
        cur->id = top.id;
        right->id = -1;
        cur->next = right->next;
        if (cur->next >= 0) s[cur->next].prev = (int32_t)top.pos;
        if (cur->prev >= 0) {
            mg = climp_tok_merge_get(t, s[cur->prev].id, cur->id);
            if (mg) qpush(h, &hn, (qent){mg->rank, (uint32_t)cur->prev, mg->id});
        }
        if (cur->next >= 0) {
            mg = climp_tok_merge_get(t, cur->id, s[cur->next].id);
            if (mg) qpush(h, &hn, (qent){mg->rank, top.pos, mg->id});
        }
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) climp_tok_emit(out, s[i].id);
    return CLIMP_OK;
}

climp_status climp_tok_words_init(climp_tokenizer *t) {
    int16_t byte_of[324]; /* inverse of climp_tok_byte_char */
    for (int c = 0; c < 324; c++) byte_of[c] = -1;
    for (int b = 0; b < 256; b++) byte_of[climp_tok_byte_char(b)] = (int16_t)b;
    CLIMP_TRY(climp_tok_map_init(&t->words, t->vocab.count));
    climp_tok_scratch sc = {0};
    uint8_t *bytes = NULL;
    size_t cap = 0;
    climp_status st = CLIMP_OK;
    for (size_t i = 0; i <= t->vocab.mask && st == CLIMP_OK; i++) {
        const climp_tok_vslot *v = &t->vocab.slots[i];
        if (v->id < 0 || v->len < 2) continue;
        if (v->len > cap) {
            uint8_t *nb = realloc(bytes, cap = 2 * v->len);
            if (!nb) {
                st = CLIMP_ERR_HOST_OOM;
                break;
            }
            bytes = nb;
        }
        /* Decode the byte-level string; tokens with other characters are no piece's bytes. */
        const uint8_t *s = (const uint8_t *)t->vocab.pool + v->off;
        size_t n = 0, k = 0;
        while (k < v->len) {
            uint32_t c = s[k];
            if (c >= 0xC0 && c < 0xE0 && k + 1 < v->len) {
                c = (c & 0x1F) << 6 | (s[k + 1] & 0x3F);
                k += 2;
            } else if (c < 0x80) {
                k += 1;
            } else {
                break;
            }
            if (c >= 324 || byte_of[c] < 0) break;
            bytes[n++] = (uint8_t)byte_of[c];
        }
        if (k < v->len || n < 2) continue;
        int32_t id;
        climp_tok_out out = {.ids = &id, .max = 1, .n = 0};
        st = climp_tok_bpe_word(t, bytes, n, &sc, &out);
        if (st == CLIMP_OK && out.n == 1 &&
            climp_tok_map_put(&t->words, (const char *)bytes, n, id) == -2)
            st = CLIMP_ERR_HOST_OOM;
    }
    free(bytes);
    climp_tok_scratch_free(&sc);
    return st;
}
