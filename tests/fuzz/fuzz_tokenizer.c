/* libFuzzer target: the tokenizer loader and encoder (model/tokenizer*.c). The first byte picks
 * the mode:
 *   even: the rest is text, encoded by the committed GPT-NeoX-style fixture tokenizer
 *         (tests/fixtures/tokenizer/tokenizer.json, loaded once) and by the bytes tokenizer;
 *   odd:  the rest up to the first NUL byte is a tokenizer.json (written to a file and opened),
 *         and what follows the NUL is text encoded with it when it loads.
 * Invariants: a refusal sets a one-line message; ids lie in [0, vocab size); there are at most 3
 * per input byte (+1 end of text); the count does not depend on the room given (max_ids) and a
 * short buffer receives exactly the prefix; bytes maps
 * byte b to b + 2. Seeds: tests/fuzz/corpus/tokenizer/. Run: scripts/fuzz.sh tokenizer. */
#include "tests/fuzz/fuzz.h"

#include "model/tokenizer.h"

static climp_tokenizer *ftok_fixture(void) {
    static climp_tokenizer *tok;
    if (tok)
        return tok;
    const char *rel = "tests/fixtures/tokenizer/tokenizer.json";
    char path[1024];
    const char *src = getenv("CLIMP_SOURCE_DIR");
    if (src && *src)
        snprintf(path, sizeof path, "%s/%s", src, rel);
    else
        snprintf(path, sizeof path, "%s", rel);
    if (climp_tokenizer_open(path, &tok) != CLIMP_OK) {
        fprintf(stderr,
                "fuzz: cannot open the fixture tokenizer %s (run from the repository root "
                "or set CLIMP_SOURCE_DIR): %s\n",
                path, climp_error_detail());
        abort();
    }
    return tok;
}

/* Encodes text with room for every id, then with room for half of them: same count, same prefix. */
static void ftok_encode(const climp_tokenizer *tok, const uint8_t *text, size_t len, int add_eot) {
    /* Every id stands for at least one byte of the repaired text (at most 3 per input byte). */
    size_t cap = 3 * len + 1, n = 0, n2 = 0;
    int32_t *ids = malloc(cap * sizeof(int32_t));
    if (!ids)
        return;
    climp_error_clear();
    climp_status s = climp_tokenizer_encode(tok, (const char *)text, len, add_eot, ids, cap, &n);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_HOST_OOM);
    if (s) {
        free(ids);
        return;
    }
    FUZZ_CHECK(n <= cap);
    int32_t *half = malloc((n / 2 + 1) * sizeof(int32_t));
    if (!half) {
        free(ids);
        return;
    }
    s = climp_tokenizer_encode(tok, (const char *)text, len, add_eot, half, n / 2, &n2);
    FUZZ_CHECK(s == CLIMP_OK && n2 == n);
    FUZZ_CHECK(memcmp(ids, half, sizeof(int32_t) * (n / 2)) == 0);
    int vocab = climp_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < vocab);
    if (add_eot)
        FUZZ_CHECK(n >= 1 && ids[n - 1] == climp_tokenizer_eot_id(tok));
    if (!strcmp(climp_tokenizer_kind(tok), "bytes")) {
        FUZZ_CHECK(n == len + (size_t)(add_eot != 0));
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(ids[i] == (int32_t)text[i] + 2);
    }
    free(ids);
    free(half);
}

static void ftok_json(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    static const char sample[] =
        "Hello world! <|endoftext|> caf\xc3\xa9 12345   tabs\tand\nnewlines";
    const uint8_t *text = nul ? nul + 1 : (const uint8_t *)sample;
    size_t tlen = nul ? size - jlen - 1 : sizeof sample - 1;
    char path[320];
    fuzz_write("tokenizer.json", data, jlen, path, sizeof path);
    climp_tokenizer *tok = NULL;
    climp_error_clear();
    climp_status s = climp_tokenizer_open(path, &tok);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT || s == CLIMP_ERR_UNSUPPORTED ||
               s == CLIMP_ERR_HOST_OOM);
    FUZZ_CHECK((s == CLIMP_OK) == (tok != NULL));
    if (s)
        return;
    int vocab = climp_tokenizer_vocab_size(tok);
    FUZZ_CHECK(vocab >= 1 && vocab <= CLIMP_TOKENIZER_MAX_ID);
    FUZZ_CHECK(climp_tokenizer_pad_id(tok) >= 0 && climp_tokenizer_pad_id(tok) < vocab);
    int eot = climp_tokenizer_eot_id(tok);
    FUZZ_CHECK(eot >= -1 && eot < vocab);
    ftok_encode(tok, text, tlen, 0);
    if (eot >= 0) {
        ftok_encode(tok, text, tlen, 1);
    } else {
        size_t n = 0;
        FUZZ_CHECK(climp_tokenizer_encode(tok, "x", 1, 1, NULL, 0, &n) == CLIMP_ERR_INVALID_ARG);
    }
    climp_tokenizer_free(tok);
}

int climp_fuzz_tokenizer(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        ftok_json(data + 1, size - 1);
        return 0;
    }
    static climp_tokenizer *bytes;
    if (!bytes && climp_tokenizer_open("bytes", &bytes) != CLIMP_OK)
        abort();
    ftok_encode(ftok_fixture(), data + 1, size - 1, data[0] & 2);
    ftok_encode(bytes, data + 1, size - 1, data[0] & 2);
    return 0;
}

#ifndef CLIMP_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return climp_fuzz_tokenizer(data, size);
}
#endif
