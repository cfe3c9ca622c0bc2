/* Text scanning for the BPE tokenizer: UTF-8 validation and repair (U+FFFD per maximal
 * ill-formed subsequence, as Python's errors="replace"), and the GPT-2 pre-tokenizer regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * written out as a state machine. HF runs it with Oniguruma, whose \s in UTF-8 is U+0009..U+000D,
 * U+0085 and the categories Zs, Zl, Zp (= Unicode White_Space); \p{L} and \p{N} are the general
 * categories L* and N*. Categories come from utf8proc. API: model/tokenizer_internal.h. */
#include "model/tokenizer_internal.h"

#include <utf8proc.h>

/* ---------------------------------------------------------------- UTF-8 */
/* Length of the well-formed prefix of one character at s[0, n) (Unicode Table 3-7): the full
 * length when the character is complete and valid, otherwise the length of its maximal
 * ill-formed subpart (at least 1). *ok says which. */
static size_t utf8_step(const uint8_t *s, size_t n, int *ok) {
    uint8_t b = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    *ok = 0;
    if (b < 0x80) {
        *ok = 1;
        return 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 1; /* 0x80..0xC1, 0xF5..0xFF never start a character */
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) return i;
        uint8_t c = s[i];
        if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return i;
    }
    *ok = 1;
    return need;
}

size_t climp_tok_utf8_valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int ok;
        size_t l = utf8_step(s + i, n - i, &ok);
        if (!ok) return i;
        i += l;
    }
    return n;
}

size_t climp_tok_utf8_repair(const uint8_t *s, size_t n, uint8_t *out) {
    size_t i = 0, k = 0;
    while (i < n) {
        int ok;
        size_t l = utf8_step(s + i, n - i, &ok);
        if (ok) {
            for (size_t j = 0; j < l; j++) out[k++] = s[i + j];
        } else {
            out[k++] = 0xEF; /* U+FFFD */
            out[k++] = 0xBF;
            out[k++] = 0xBD;
        }
        i += l;
    }
    return k;
}

/* Decodes the (valid) character at s[p]; its byte length in *len. */
static uint32_t decode(const uint8_t *s, size_t p, size_t *len) {
    uint8_t b = s[p];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    if (b < 0xE0) {
        *len = 2;
        return (uint32_t)(b & 0x1F) << 6 | (s[p + 1] & 0x3F);
    }
    if (b < 0xF0) {
        *len = 3;
        return (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[p + 1] & 0x3F) << 6 | (s[p + 2] & 0x3F);
    }
    *len = 4;
    return (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[p + 1] & 0x3F) << 12 |
           (uint32_t)(s[p + 2] & 0x3F) << 6 | (s[p + 3] & 0x3F);
}

/* ---------------------------------------------------------------- classes */
enum { CL_L, CL_N, CL_S, CL_O }; /* \p{L}, \p{N}, \s, everything else */

static int char_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CL_L;
        if (c >= '0' && c <= '9') return CL_N;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CL_S;
        return CL_O;
    }
    if (c == 0x85) return CL_S;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return CL_L;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return CL_N;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: return CL_S;
    default: return CL_O;
    }
}

/* End of the maximal run of class k starting at p. */
static size_t run_end(const uint8_t *s, size_t n, size_t p, int k) {
    while (p < n) {
        size_t l;
        if (char_class(decode(s, p, &l)) != k) break;
        p += l;
    }
    return p;
}

/* ---------------------------------------------------------------- the regex */
size_t climp_tok_piece_end(const uint8_t *s, size_t n, size_t p) {
    size_t l;
    uint32_t c = decode(s, p, &l);
    /* 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive, ASCII apostrophe only) */
    if (c == '\'' && p + 1 < n) {
        uint8_t a = s[p + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return p + 2;
        if (p + 2 < n) {
            uint8_t b = s[p + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return p + 3;
        }
    }
    /*  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+  with the optional space */
    if (c == ' ' && p + 1 < n) {
        size_t l2;
        int k2 = char_class(decode(s, p + 1, &l2));
        if (k2 != CL_S) return run_end(s, n, p + 1, k2);
    }
    int k = char_class(c);
    if (k != CL_S) return run_end(s, n, p, k);
    /* \s+(?!\S): the whitespace run, less its last character when a non-space follows;
     * \s+ : a single whitespace character followed by a non-space. */
    size_t q = p, last = p, count = 0;
    while (q < n) {
        size_t lq;
        if (char_class(decode(s, q, &lq)) != CL_S) break;
        last = q;
        q += lq;
        count++;
    }
    if (q == n || count == 1) return q;
    return last;
}
