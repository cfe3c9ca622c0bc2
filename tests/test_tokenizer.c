/* Tokenizers (model/tokenizer*.c): the bytes tokenizer; byte-level BPE against Hugging Face
 * `tokenizers` on every string of tests/fixtures/tokenizer/expected.jsonl (made by
 * tests/reference/make_tokenizer_fixture.py), with merges as [a, b] pairs and as legacy "a b"
 * strings; hand-made tokenizers for ignore_merges and unk; hostile tokenizer.json files, each
 * refused with its specific status and one line naming the file; and encoding speed. CPU only. */
#define _POSIX_C_SOURCE 200809L
#include "model/tokenizer.h"
#include "tests/testutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

static char g_dir[64];
static char g_fixture[512], g_expected[512];

/* CPU time of this process: the 2-core test machine is shared, so wall time says little. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static char *read_text(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        exit(1);
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, fp) != (size_t)n) exit(1);
    fclose(fp);
    b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

static void write_json(const char *path, const cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    write_bytes(path, s, strlen(s));
    free(s);
}

/* Text for a failure message: printable ASCII kept, everything else as \xNN; at most 120 bytes. */
static const char *show(const uint8_t *s, size_t n, char *buf) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < 480; i++) {
        if (i == 120) { strcpy(buf + k, "..."); k += 3; break; }
        if (s[i] >= 0x20 && s[i] < 0x7F) buf[k++] = (char)s[i];
        else k += (size_t)sprintf(buf + k, "\\x%02X", s[i]);
    }
    buf[k] = 0;
    return buf;
}

/* ---------------------------------------------------------------- bytes */
static void test_bytes(void) {
    climp_tokenizer *t = NULL;
    CLIMP_CHECK(climp_tokenizer_open("bytes", &t));
    tu_check(strcmp(climp_tokenizer_kind(t), "bytes") == 0, "bytes: kind");
    tu_check(climp_tokenizer_vocab_size(t) == 264, "bytes: vocab 264");
    tu_check(climp_tokenizer_pad_id(t) == 1, "bytes: pad 1");
    tu_check(climp_tokenizer_eot_id(t) == 0, "bytes: eot 0");
    const char txt[] = "H\xc3\xa9\0x\xff"; /* embedded NUL and an invalid byte pass through */
    int32_t ids[16];
    size_t n = 0;
    CLIMP_CHECK(climp_tokenizer_encode(t, txt, 6, 1, ids, 16, &n));
    const int32_t want[7] = {'H' + 2, 0xc3 + 2, 0xa9 + 2, 2, 'x' + 2, 0xff + 2, 0};
    tu_check(n == 7 && memcmp(ids, want, sizeof want) == 0, "bytes: ids of H\\xc3\\xa9\\0x\\xff");
    CLIMP_CHECK(climp_tokenizer_encode(t, txt, 6, 0, ids, 16, &n));
    tu_check(n == 6 && memcmp(ids, want, 6 * sizeof *ids) == 0, "bytes: no eot without add_eot");
    CLIMP_CHECK(climp_tokenizer_encode(t, "abc", CLIMP_TOKENIZER_CSTR, 1, ids, 16, &n));
    tu_check(n == 4 && ids[0] == 'a' + 2 && ids[3] == 0, "bytes: CLIMP_TOKENIZER_CSTR");
    for (int i = 0; i < 16; i++) ids[i] = -7;
    CLIMP_CHECK(climp_tokenizer_encode(t, "abcdef", 6, 1, ids, 3, &n));
    tu_check(n == 7 && ids[2] == 'c' + 2 && ids[3] == -7, "bytes: truncation reports 7, writes 3");
    CLIMP_CHECK(climp_tokenizer_encode(t, "abcdef", 6, 0, NULL, 0, &n));
    tu_check(n == 6, "bytes: sizing call with ids NULL");
    CLIMP_CHECK(climp_tokenizer_encode(t, "", 0, 1, ids, 16, &n));
    tu_check(n == 1 && ids[0] == 0, "bytes: empty text is just eot");
    char all[256];
    for (int b = 0; b < 256; b++) all[b] = (char)b;
    int32_t all_ids[256];
    CLIMP_CHECK(climp_tokenizer_encode(t, all, 256, 0, all_ids, 256, &n));
    int ok = n == 256;
    for (int b = 0; b < 256 && ok; b++) ok = all_ids[b] == b + 2 && all_ids[b] < 264;
    tu_check(ok, "bytes: every byte b -> b + 2 < 264");

    tu_check(climp_tokenizer_encode(NULL, "a", 1, 0, ids, 4, &n) == CLIMP_ERR_INVALID_ARG,
             "encode(NULL tokenizer)");
    tu_check(climp_tokenizer_encode(t, "a", 1, 0, ids, 4, NULL) == CLIMP_ERR_INVALID_ARG,
             "encode(NULL n)");
    tu_check(climp_tokenizer_encode(t, NULL, 1, 0, ids, 4, &n) == CLIMP_ERR_INVALID_ARG,
             "encode(NULL text, len 1)");
    tu_check(climp_tokenizer_encode(t, "a", 1, 0, NULL, 4, &n) == CLIMP_ERR_INVALID_ARG,
             "encode(NULL ids, max 4)");
    climp_tokenizer *u = (climp_tokenizer *)1;
    tu_check(climp_tokenizer_open(NULL, &u) == CLIMP_ERR_INVALID_ARG && u == NULL, "open(NULL)");
    tu_check(climp_tokenizer_open("", &u) == CLIMP_ERR_INVALID_ARG, "open(\"\")");
    tu_check(climp_tokenizer_open("bytes", NULL) == CLIMP_ERR_INVALID_ARG, "open(out NULL)");
    climp_tokenizer_free(t);
    climp_tokenizer_free(NULL);
}

/* ---------------------------------------------------------------- HF parity */
typedef struct {
    uint8_t *text;
    size_t len;
    int32_t *ids;
    size_t n;
    int invalid;
} row;

static size_t g_nrows;
static row *g_rows;

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void load_expected(void) {
    char *all = read_text(g_expected, NULL);
    size_t cap = 4096;
    g_rows = malloc(cap * sizeof *g_rows);
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *hx = cJSON_GetObjectItemCaseSensitive(j, "hex");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "ids");
        if (!cJSON_IsString(hx) || !cJSON_IsArray(ids)) {
            fprintf(stderr, "%s: bad line %zu\n", g_expected, g_nrows + 1);
            exit(1);
        }
        if (g_nrows == cap) g_rows = realloc(g_rows, (cap *= 2) * sizeof *g_rows);
        row *r = &g_rows[g_nrows++];
        r->len = strlen(hx->valuestring) / 2;
        r->text = malloc(r->len + 1);
        for (size_t i = 0; i < r->len; i++)
            r->text[i] = (uint8_t)(hexval(hx->valuestring[2 * i]) << 4 |
                                   hexval(hx->valuestring[2 * i + 1]));
        r->n = (size_t)cJSON_GetArraySize(ids);
        r->ids = malloc((r->n + 1) * sizeof *r->ids);
        size_t k = 0;
        for (const cJSON *v = ids->child; v; v = v->next) r->ids[k++] = (int32_t)v->valueint;
        r->invalid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "invalid_utf8"));
        cJSON_Delete(j);
    }
    free(all);
}

/* Encodes every fixture row; returns the number that match HF exactly (also with add_eot). */
static size_t check_rows(const climp_tokenizer *t, const char *what) {
    size_t match = 0, shown = 0, invalid_match = 0, n_invalid = 0;
    int32_t *buf = malloc(4096 * sizeof *buf);
    for (size_t i = 0; i < g_nrows; i++) {
        row *r = &g_rows[i];
        size_t n = 0, n2 = 0;
        CLIMP_CHECK(climp_tokenizer_encode(t, (const char *)r->text, r->len, 0, buf, 4096, &n));
        int ok = n == r->n && memcmp(buf, r->ids, n * sizeof *buf) == 0;
        CLIMP_CHECK(climp_tokenizer_encode(t, (const char *)r->text, r->len, 1, buf, 4096, &n2));
        ok = ok && n2 == r->n + 1 && memcmp(buf, r->ids, r->n * sizeof *buf) == 0 && buf[r->n] == 0;
        match += ok;
        n_invalid += r->invalid;
        invalid_match += ok && r->invalid;
        if (!ok && shown++ < 8) {
            char sb[512];
            CLIMP_CHECK(climp_tokenizer_encode(t, (const char *)r->text, r->len, 0, buf, 4096, &n));
            fprintf(stderr, "%s: row %zu \"%s\":\n  got ", what, i + 1, show(r->text, r->len, sb));
            for (size_t k = 0; k < n && k < 40; k++) fprintf(stderr, " %d", buf[k]);
            fprintf(stderr, "\n  HF  ");
            for (size_t k = 0; k < r->n && k < 40; k++) fprintf(stderr, " %d", r->ids[k]);
            fprintf(stderr, "\n");
        }
    }
    free(buf);
    printf("%s: %zu / %zu strings match HF tokenizers exactly (%zu / %zu with invalid UTF-8)\n",
           what, match, g_nrows, invalid_match, n_invalid);
    return match;
}

static void test_fixture(void) {
    climp_tokenizer *t = NULL;
    CLIMP_CHECK(climp_tokenizer_open(g_fixture, &t));
    tu_check(strcmp(climp_tokenizer_kind(t), "bpe") == 0, "fixture: kind bpe");
    tu_check(climp_tokenizer_vocab_size(t) == 2014, "fixture: vocab size %d, want 2014",
             climp_tokenizer_vocab_size(t));
    tu_check(climp_tokenizer_pad_id(t) == 1 && climp_tokenizer_eot_id(t) == 0,
             "fixture: pad 1 (<|padding|>) and eot 0 (<|endoftext|>)");
    tu_check(g_nrows >= 3000, "fixture has %zu >= 3000 strings", g_nrows);
    tu_check(check_rows(t, "pairs") == g_nrows, "fixture, merges as pairs: all strings match");
    climp_tokenizer_free(t);

    /* The same tokenizer with legacy "a b" merge strings and a "#version" header line. */
    char *txt = read_text(g_fixture, NULL);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"),
                                                     "merges");
    cJSON *legacy = cJSON_CreateArray();
    cJSON_AddItemToArray(legacy, cJSON_CreateString("#version: 0.2"));
    for (const cJSON *m = merges->child; m; m = m->next) {
        char s[256];
        snprintf(s, sizeof s, "%s %s", m->child->valuestring, m->child->next->valuestring);
        cJSON_AddItemToArray(legacy, cJSON_CreateString(s));
    }
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "merges",
                                           legacy);
    char path[128];
    snprintf(path, sizeof path, "%s/legacy.json", g_dir);
    write_json(path, j);
    cJSON_Delete(j);
    CLIMP_CHECK(climp_tokenizer_open(path, &t));
    tu_check(check_rows(t, "legacy strings") == g_nrows, "fixture, merges as strings: all match");
    climp_tokenizer_free(t);
    unlink(path);
}

/* Text below U+0300 is NFC already (the encoder's fast path): NFC leaves every pair of code
 * points below U+0300 unchanged, so nothing there decomposes, reorders or composes. */
static void test_nfc_fast_path(void) {
    int bad = 0;
    for (int a = 1; a < 0x300; a++) {
        for (int b = 1; b < 0x300; b++) {
            utf8proc_uint8_t s[8], *o = NULL;
            utf8proc_ssize_t n = utf8proc_encode_char(a, s);
            n += utf8proc_encode_char(b, s + n);
            utf8proc_ssize_t m = utf8proc_map(s, n, &o, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (m != n || memcmp(o, s, (size_t)n) != 0) bad++;
            free(o);
        }
    }
    tu_check(bad == 0, "NFC is the identity on text below U+0300 (%d pairs changed)", bad);
}

/* ---------------------------------------------------------------- hand-made tokenizers */
/* A tokenizer whose vocab is the 256 byte symbols (byte b -> id b) minus `drop`, plus extras.
 * The expected ids below were checked once against HF tokenizers with the same files. */
static cJSON *small_tokenizer(const char *extra_vocab, const char *merges, int drop) {
    cJSON *vocab = cJSON_Parse(extra_vocab);
    for (int b = 0; b < 256; b++) {
        if (b == drop) continue;
        int c = b <= 0x20 ? 256 + b : b >= 0x7F && b <= 0xA0 ? 289 + b - 0x7F : b == 0xAD ? 323 : b;
        char u[8] = {0};
        utf8proc_encode_char(c, (utf8proc_uint8_t *)u);
        cJSON_AddNumberToObject(vocab, u, b);
    }
    cJSON *model = cJSON_CreateObject();
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", cJSON_Parse(merges));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "normalizer", cJSON_Parse("{\"type\":\"NFC\"}"));
    cJSON_AddItemToObject(root, "pre_tokenizer",
                          cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":false}"));
    cJSON_AddItemToObject(root, "model", model);
    return root;
}

static void expect_ids(const char *what, cJSON *root, const char *text, const int32_t *want,
                       size_t nwant) {
    char path[128];
    snprintf(path, sizeof path, "%s/small.json", g_dir);
    write_json(path, root);
    climp_tokenizer *t = NULL;
    climp_status s = climp_tokenizer_open(path, &t);
    int32_t ids[32];
    size_t n = 0;
    if (s == CLIMP_OK) s = climp_tokenizer_encode(t, text, strlen(text), 0, ids, 32, &n);
    int ok = s == CLIMP_OK && n == nwant && memcmp(ids, want, n * sizeof *ids) == 0;
    tu_check(ok, "%s: \"%s\" (%s%s%s)", what, text, climp_status_name(s),
             s ? ": " : "", s ? climp_error_detail() : "");
    climp_tokenizer_free(t);
    unlink(path);
}

static void test_small(void) {
    const char *v = "{\"ab\":256,\"bc\":257,\"abc\":258}";
    cJSON *r = small_tokenizer(v, "[[\"b\",\"c\"]]", -1);
    expect_ids("merges", r, "abc abcd", (const int32_t[]){'a', 257, 32, 'a', 257, 'd'}, 6);
    cJSON_AddTrueToObject(cJSON_GetObjectItemCaseSensitive(r, "model"), "ignore_merges");
    expect_ids("ignore_merges", r, "abc abcd", (const int32_t[]){258, 32, 'a', 257, 'd'}, 5);
    cJSON_Delete(r);
    /* Rank order: "a b" (rank 0) beats "b c" (rank 1); equal ranks go leftmost first. */
    r = small_tokenizer(v, "[[\"a\",\"b\"],[\"b\",\"c\"],[\"ab\",\"c\"]]", -1);
    expect_ids("rank order", r, "abc bcbc", (const int32_t[]){258, 32, 257, 257}, 4);
    cJSON_Delete(r);
    /* unk: byte 'z' has no symbol. Without unk_token it is dropped, as HF does. */
    r = small_tokenizer("{\"<unk>\":256}", "[]", 'z');
    expect_ids("no unk_token", r, "azza", (const int32_t[]){'a', 'a'}, 2);
    cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "model");
    cJSON_AddStringToObject(m, "unk_token", "<unk>");
    expect_ids("unk_token", r, "azza", (const int32_t[]){'a', 256, 256, 'a'}, 4);
    cJSON_AddTrueToObject(m, "fuse_unk");
    expect_ids("fuse_unk", r, "azza", (const int32_t[]){'a', 256, 'a'}, 3);
    cJSON_Delete(r);
    /* No <|endoftext|>: eot -1, add_eot refused, pad falls back to 0; padding.pad_id wins. */
    r = small_tokenizer("{}", "[]", -1);
    char path[128];
    snprintf(path, sizeof path, "%s/noeot.json", g_dir);
    write_json(path, r);
    climp_tokenizer *t = NULL;
    CLIMP_CHECK(climp_tokenizer_open(path, &t));
    int32_t ids[4];
    size_t n;
    tu_check(climp_tokenizer_eot_id(t) == -1 && climp_tokenizer_pad_id(t) == 0 &&
                 climp_tokenizer_vocab_size(t) == 256, "no <|endoftext|>: eot -1, pad 0, 256 ids");
    tu_check(climp_tokenizer_encode(t, "a", 1, 1, ids, 4, &n) == CLIMP_ERR_INVALID_ARG,
             "no <|endoftext|>: add_eot refused");
    climp_tokenizer_free(t);
    cJSON_AddItemToObject(r, "padding", cJSON_Parse("{\"pad_id\": 7}"));
    write_json(path, r);
    CLIMP_CHECK(climp_tokenizer_open(path, &t));
    tu_check(climp_tokenizer_pad_id(t) == 7, "padding.pad_id sets the pad id");
    climp_tokenizer_free(t);
    unlink(path);
    cJSON_Delete(r);
}

/* ---------------------------------------------------------------- hostile files */
static void expect_refused(const char *tag, const char *path, climp_status want,
                           const char *frag) {
    climp_tokenizer *t = (climp_tokenizer *)1;
    climp_error_clear();
    climp_status s = climp_tokenizer_open(path, &t);
    const char *d = climp_error_detail();
    int ok = s == want && t == NULL && strstr(d, path) && strstr(d, frag) && !strchr(d, '\n');
    tu_check(ok, "%s: got %s \"%s\", want %s with \"%s\"", tag, climp_status_name(s), d,
             climp_status_name(want), frag);
    if (s == CLIMP_OK) climp_tokenizer_free(t);
}

/* Walks a dotted path ("model.merges.5"); returns the parent and the last component. */
static cJSON *parent_of(cJSON *root, const char *path, char *last) {
    char buf[128];
    strcpy(buf, path);
    char *dot = strrchr(buf, '.');
    strcpy(last, dot ? dot + 1 : buf);
    if (!dot) return root;
    *dot = 0;
    cJSON *cur = root;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok))
                                 : cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cur;
}

/* Sets (value JSON) or deletes (value NULL) the item at path. */
static void edit(cJSON *root, const char *path, const char *value) {
    char last[64];
    cJSON *par = parent_of(root, path, last);
    if (!par) {
        fprintf(stderr, "edit: no parent for %s\n", path);
        exit(1);
    }
    if (cJSON_IsArray(par)) {
        if (value) cJSON_ReplaceItemInArray(par, atoi(last), cJSON_Parse(value));
        else cJSON_DeleteItemFromArray(par, atoi(last));
    } else if (!value) {
        cJSON_DeleteItemFromObjectCaseSensitive(par, last);
    } else if (cJSON_GetObjectItemCaseSensitive(par, last)) {
        cJSON_ReplaceItemInObjectCaseSensitive(par, last, cJSON_Parse(value));
    } else {
        cJSON_AddItemToObject(par, last, cJSON_Parse(value));
    }
}

typedef struct {
    const char *path, *value;
    climp_status want;
    const char *frag;
} mutation;

static void test_hostile(void) {
    enum { F = CLIMP_ERR_FORMAT, U = CLIMP_ERR_UNSUPPORTED };
    static const mutation cases[] = {
        {"model", NULL, F, "no \"model\""},
        {"model", "[]", F, "\"model\" is an array"},
        {"model.type", "\"WordPiece\"", U, "model type 'WordPiece' is not supported"},
        {"model.type", NULL, F, "model has no \"type\""},
        {"model.vocab", NULL, F, "model.vocab is missing"},
        {"model.vocab", "[1]", F, "model.vocab is an array"},
        {"model.merges", NULL, F, "model.merges is missing"},
        {"model.vocab.a", "-1", F, "model.vocab['a'] is -1, not an integer id"},
        {"model.vocab.a", "66.5", F, "model.vocab['a'] is 66.5, not an integer id"},
        {"model.vocab.a", "1e12", F, "is 1000000000000, not an integer id in [0, 16777216)"},
        {"model.vocab.a", "16777216", F, "not an integer id in [0, 16777216)"},
        {"model.vocab.a", "\"66\"", F, "model.vocab['a'] is a string"},
        {"model.vocab", "{}", F, "merges[0] names"},
        {"model.merges.5", "[\"zzq_unknown\",\"a\"]", F, "merges[5] names 'zzq_unknown', which"},
        {"model.merges.5", "[\"a\",\"zzq_unknown\"]", F, "merges[5] names 'zzq_unknown', which"},
        {"model.merges.5", "[\"<|endoftext|>\",\"<|padding|>\"]", F,
         "merges[5] makes '<|endoftext|><|padding|>', which is not in the vocab"},
        {"model.merges.5", "[\"a\"]", F, "merges[5] is an array, neither"},
        {"model.merges.5", "[1, 2]", F, "merges[5] is an array, neither"},
        {"model.merges.5", "7", F, "merges[5] is a number, neither"},
        {"model.merges.5", "\"a b\"", F, "merges[5] is a string but earlier merges are pairs"},
        {"model.dropout", "0.1", U, "dropout 0.1"},
        {"model.dropout", "5", F, "model.dropout is 5, not null or a number in [0, 1]"},
        {"model.unk_token", "\"<unk>\"", F, "model.unk_token '<unk>' is not in the vocab"},
        {"model.fuse_unk", "\"yes\"", F, "model.fuse_unk is a string, not a boolean"},
        {"model.continuing_subword_prefix", "\"##\"", U, "continuing_subword_prefix"},
        {"added_tokens", "{}", F, "\"added_tokens\" is an object, not an array"},
        {"added_tokens.1.normalized", NULL, F,
         "added_tokens[1] ('<|padding|>'): \"normalized\" is missing"},
        {"added_tokens.1.special", "0", F, "\"special\" is a number, not a boolean"},
        {"added_tokens.1.id", "5", F, "('<|padding|>') has id 5 but HF tokenizers assigns it id 1"},
        {"added_tokens.2.id", "1999", F, "has id 1999 but HF tokenizers assigns it id 2000"},
        {"added_tokens.1.id", "-1", F, "added_tokens[1] ('<|padding|>'): id is -1, not an integer"},
        {"added_tokens.1.id", "16777216", F, "id is 16777216, not an integer in [0, 16777216)"},
        {"added_tokens.1.id", NULL, F, "id is missing, not an integer"},
        {"added_tokens.1.content", "3", F, "added_tokens[1].content is a number"},
        {"added_tokens.1.content", "\"<|endoftext|>\"", F, "lists '<|endoftext|>' twice"},
        {"added_tokens.1.lstrip", "true", U, "('<|padding|>') sets lstrip"},
        {"added_tokens.1.rstrip", "true", U, "('<|padding|>') sets rstrip"},
        {"added_tokens.1.single_word", "true", U, "('<|padding|>') sets single_word"},
        {"added_tokens.1", "\"<|padding|>\"", F, "added_tokens[1] is a string, not an object"},
        {"normalizer", "{\"type\":\"Lowercase\"}", U, "normalizer 'Lowercase' is not supported"},
        {"normalizer", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"}]}", U,
         "normalizer 'NFKC'"},
        {"normalizer", "7", F, "\"normalizer\" is a number"},
        {"pre_tokenizer", NULL, U, "no pre_tokenizer"},
        {"pre_tokenizer", "{\"type\":\"Whitespace\"}", U, "pre_tokenizer 'Whitespace'"},
        {"pre_tokenizer.add_prefix_space", "true", U, "add_prefix_space true is not supported"},
        {"pre_tokenizer.add_prefix_space", NULL, F, "add_prefix_space is missing"},
        {"pre_tokenizer.use_regex", "false", U, "use_regex false is not supported"},
        {"pre_tokenizer.use_regex", "1", F, "use_regex is a number, not a boolean"},
        {"post_processor", "{\"type\":\"TemplateProcessing\"}", U,
         "post_processor 'TemplateProcessing' is not supported"},
        {"version", "\"2.0\"", F, "version is '2.0', not \"1.0\""},
        {"version", "1", F, "version is a number"},
        {"padding", "{\"pad_id\": 99999}", F, "padding.pad_id is 99999, not an id in [0, 2014)"},
        {"padding", "[]", F, "\"padding\" is an array, not an object"},
    };
    char *txt = read_text(g_fixture, NULL);
    cJSON *base = cJSON_Parse(txt);
    char path[128], tag[160];
    snprintf(path, sizeof path, "%s/bad.json", g_dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *j = cJSON_Duplicate(base, 1);
        edit(j, cases[i].path, cases[i].value);
        write_json(path, j);
        cJSON_Delete(j);
        snprintf(tag, sizeof tag, "%s = %s", cases[i].path,
                 cases[i].value ? cases[i].value : "(deleted)");
        expect_refused(tag, path, cases[i].want, cases[i].frag);
    }
    /* The vocab gives one id to two tokens. */
    cJSON *j = cJSON_Duplicate(base, 1);
    cJSON *vocab = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"),
                                                    "vocab");
    int id_b = cJSON_GetObjectItemCaseSensitive(vocab, "b")->valueint;
    char v[16];
    snprintf(v, sizeof v, "%d", id_b);
    edit(j, "model.vocab.a", v);
    write_json(path, j);
    expect_refused("duplicate vocab id", path, CLIMP_ERR_FORMAT, "model.vocab uses id");
    cJSON_Delete(j);
    /* Legacy merge strings that are not two tokens; pairs mixed into strings. */
    static const char *const legacy_bad[3] = {"\"a b c\"", "\"ab\"", "[\"a\",\"b\"]"};
    static const char *const legacy_frag[3] = {
        "merges[3] \"a b c\" is not two tokens", "merges[3] \"ab\" is not two tokens",
        "merges[3] is a pair but earlier merges are strings"};
    for (int k = 0; k < 3; k++) {
        j = cJSON_Duplicate(base, 1);
        cJSON *mg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"),
                                                     "merges");
        for (int i = 0; i < 6; i++) {
            cJSON *pair = cJSON_GetArrayItem(mg, i);
            char s[128];
            snprintf(s, sizeof s, "%s %s", pair->child->valuestring,
                     pair->child->next->valuestring);
            cJSON_ReplaceItemInArray(mg, i, cJSON_CreateString(s));
        }
        while (cJSON_GetArraySize(mg) > 6) cJSON_DeleteItemFromArray(mg, 6);
        cJSON_ReplaceItemInArray(mg, 3, cJSON_Parse(legacy_bad[k]));
        write_json(path, j);
        expect_refused(legacy_bad[k], path, CLIMP_ERR_FORMAT, legacy_frag[k]);
        cJSON_Delete(j);
    }
    cJSON_Delete(base);

    /* Files that are not JSON, or not an object. */
#define RAW(tag, lit, frag) {tag, lit, sizeof(lit) - 1, frag}
    static const struct { const char *tag, *bytes; size_t n; const char *frag; } raw[] = {
        RAW("empty file", "", "malformed JSON at line 1, column 1 (the file is empty)"),
        RAW("open brace", "{", "malformed JSON at line 1"),
        RAW("second line", "{\n  \"model\": }", "malformed JSON at line 2, column 12"),
        RAW("trailing garbage", "{} x", "malformed JSON at line 1"),
        RAW("NUL inside", "{}\0{}", "NUL byte at offset 2"),
        RAW("NUL as space", "{\0}", "NUL byte at offset 1"),
        RAW("array", "[]", "top level is an array, not a JSON object"),
        RAW("null", "null", "top level is null"),
        RAW("invalid UTF-8", "{\"version\": \"1.0\xff\"}", "not valid UTF-8 at byte 16"),
        RAW("overlong UTF-8", "{\"a\xc0\xaf\": 1}", "not valid UTF-8 at byte 3"),
    };
#undef RAW
    for (size_t i = 0; i < sizeof raw / sizeof *raw; i++) {
        write_bytes(path, raw[i].bytes, raw[i].n);
        expect_refused(raw[i].tag, path, CLIMP_ERR_FORMAT, raw[i].frag);
    }
    size_t len;
    char *full = read_text(g_fixture, &len);
    write_bytes(path, full, len / 2);
    expect_refused("truncated tokenizer.json", path, CLIMP_ERR_FORMAT, "malformed JSON at line");
    free(full);
    char *deep = malloc(20001);
    for (int i = 0; i < 10000; i++) deep[i] = '[', deep[10000 + i] = ']';
    write_bytes(path, deep, 20000);
    free(deep);
    expect_refused("10000 nested arrays", path, CLIMP_ERR_FORMAT, "malformed JSON");
    unlink(path);
    snprintf(path, sizeof path, "%s/does_not_exist.json", g_dir);
    expect_refused("missing file", path, CLIMP_ERR_IO, "cannot open tokenizer");
    expect_refused("a directory", g_dir, CLIMP_ERR_IO, "not a regular file");
    free(txt);
}

/* ---------------------------------------------------------------- speed */
static void test_speed(void) {
    climp_tokenizer *t = NULL;
    CLIMP_CHECK(climp_tokenizer_open(g_fixture, &t));
    int32_t *buf = malloc(8192 * sizeof *buf);
    size_t bytes = 0, tokens = 0, calls = 0;
    double t0 = now_s();
    while (bytes < ((size_t)4 << 20)) { /* ~4 MB of caption-sized strings, one call each */
        for (size_t i = 0; i < g_nrows; i++) {
            size_t n;
            CLIMP_CHECK(climp_tokenizer_encode(t, (const char *)g_rows[i].text, g_rows[i].len, 1,
                                               buf, 8192, &n));
            bytes += g_rows[i].len;
            tokens += n;
            calls++;
        }
    }
    double dt = now_s() - t0;
    printf("speed: %.1f MB in %zu calls: %.2f s CPU, %.2f M tokens/s, %.1f MB/s, %.1f us/call\n",
           (double)bytes / 1e6, calls, dt, (double)tokens / dt / 1e6, (double)bytes / dt / 1e6,
           dt / (double)calls * 1e6);
    tu_check(tokens > 0, "speed run produced tokens");
    free(buf);
    climp_tokenizer_free(t);
}

int main(void) {
    const char *src = getenv("CLIMP_SOURCE_DIR");
    if (!src) src = ".";
    snprintf(g_fixture, sizeof g_fixture, "%s/tests/fixtures/tokenizer/tokenizer.json", src);
    snprintf(g_expected, sizeof g_expected, "%s/tests/fixtures/tokenizer/expected.jsonl", src);
    strcpy(g_dir, "/tmp/climp_tok_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    load_expected();
    test_bytes();
    test_fixture();
    test_small();
    test_hostile();
    test_nfc_fast_path();
    test_speed();
    rmdir(g_dir);
    for (size_t i = 0; i < g_nrows; i++) free(g_rows[i].text), free(g_rows[i].ids);
    free(g_rows);
    return tu_finish("test_tokenizer");
}
