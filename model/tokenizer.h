/* Tokenizers: the built-in `bytes` tokenizer and GPT-NeoX byte-level BPE read from a Hugging Face
 * tokenizer.json (architecture.md §2.3). Implementation: model/tokenizer.c (API, bytes, the
 * encode pipeline), model/tokenizer_json.c (loading and validating tokenizer.json),
 * model/tokenizer_bpe.c (hash maps, added-token trie, BPE merging), model/tokenizer_regex.c
 * (UTF-8 repair and the GPT-2 pre-tokenizer split). Test: tests/test_tokenizer.c against
 * tests/fixtures/tokenizer/ (made by tests/reference/make_tokenizer_fixture.py).
 *
 * `bytes`: UTF-8 byte b -> id b+2; id 0 is end of text, id 1 padding; 258 ids padded to 264.
 *
 * BPE, exactly as HF `tokenizers` (Tokenizer.encode, add_special_tokens irrelevant: the ByteLevel
 * post-processor adds nothing):
 *   1. added tokens with normalized=false are split out of the raw text, leftmost-longest;
 *   2. each remaining piece is NFC-normalised (when the file's normalizer is NFC) and the added
 *      tokens with normalized=true (their content NFC-normalised too) are split out of it;
 *   3. the rest is cut by the GPT-2 regex, each piece's bytes go through the byte-level map and
 *      BPE merges them by rank (index in the merges list; lowest first, leftmost on ties).
 * No BOS/EOS is added unless add_eot asks for the end-of-text id.
 *
 * Input that is not valid UTF-8 (HF cannot receive it: Python str and Rust &str are always valid)
 * is repaired first, each maximal ill-formed subsequence becoming one U+FFFD, exactly as Python's
 * bytes.decode("utf-8", errors="replace"); the fixture checks this against HF. The bytes
 * tokenizer takes the bytes as they are. NUL bytes are ordinary characters (text has a length).
 *
 * Unicode data comes from utf8proc (Unicode 15 in Debian's 2.8). The regex classes agree with
 * HF (Oniguruma) on every code point; HF's NFC tables, however, are Unicode 9.0, so text with one
 * of the 98 combining marks assigned since then (U+07FD, U+0898..089F, U+08CA..08D3, U+09FE,
 * U+0C3C, U+0D3B..0D3C, U+0EBA, U+1ABF..1ACE, ...) can be normalised, and so tokenized,
 * differently from HF. The tokenizer.json fields truncation and decoder are ignored.
 *
 * Encoding is reentrant: a tokenizer is read-only after open, so threads may share one. */
#ifndef CLIMP_TOKENIZER_H
#define CLIMP_TOKENIZER_H

#include "runtime/climp_runtime.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct climp_tokenizer climp_tokenizer;

/* Largest id a tokenizer.json may use (exclusive): 2^24. */
#define CLIMP_TOKENIZER_MAX_ID (1 << 24)
/* Largest tokenizer.json read: 256 MiB. */
#define CLIMP_TOKENIZER_MAX_FILE ((size_t)256 << 20)
/* Pass as `len` to climp_tokenizer_encode for a NUL-terminated string. */
#define CLIMP_TOKENIZER_CSTR ((size_t)-1)

/* spec: "bytes", or the path of a tokenizer.json (a file named bytes: "./bytes"). A file that
 * cannot be read gives CLIMP_ERR_IO; a malformed one CLIMP_ERR_FORMAT; a well-formed one using
 * features climp does not implement (another model or normalizer, dropout, lstrip...)
 * CLIMP_ERR_UNSUPPORTED. Each sets one line naming the file and the problem
 * (climp_error_detail). Opening GPT-NeoX's 2.4 MB tokenizer.json takes ~0.15 s. */
climp_status climp_tokenizer_open(const char *spec, climp_tokenizer **out);
void climp_tokenizer_free(climp_tokenizer *tok); /* accepts NULL */

/* Encodes text[0, len) (len = CLIMP_TOKENIZER_CSTR: up to the NUL) into ids, appending the
 * end-of-text id iff add_eot. Writes the first min(*n, max_ids) ids and sets *n to the number the
 * whole text needs, so a caller can size a buffer or detect truncation; ids may be NULL when
 * max_ids is 0. CLIMP_ERR_INVALID_ARG for NULL arguments, or add_eot on a tokenizer.json without
 * <|endoftext|>. */
climp_status climp_tokenizer_encode(const climp_tokenizer *tok, const char *text, size_t len,
                                    int add_eot, int32_t *ids, size_t max_ids, size_t *n);

/* Embedding rows the ids need: 264 for bytes (258 padded to a multiple of 8); for BPE the
 * largest id in the file + 1 (50277 for GPT-NeoX; the model pads it to 50280 itself). */
int climp_tokenizer_vocab_size(const climp_tokenizer *tok);
/* Padding id: 1 for bytes. BPE: the file's padding.pad_id if set, else the id of <|padding|>,
 * else the end-of-text id. */
int climp_tokenizer_pad_id(const climp_tokenizer *tok);
/* End-of-text id: 0 for bytes; for BPE the id of <|endoftext|>, or -1 when the file lacks it. */
int climp_tokenizer_eot_id(const climp_tokenizer *tok);
const char *climp_tokenizer_kind(const climp_tokenizer *tok); /* "bytes" | "bpe" */

#ifdef __cplusplus
}
#endif
#endif
