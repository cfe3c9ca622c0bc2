/* Kernel bundles (trainer/bundle.h): the file-scope scanner of an OpenCL C program text, the
 * wrapping of each program into one bundle text, and `climp compile-kernels --bundle`'s writer of
 * bundle.cl, bundle-<key>.bin and bundle.map. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/bundle.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_str(char ***v, int *n, const char *s, size_t len) {
    for (int i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && !strncmp((*v)[i], s, len)) return 0;
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof(*nv));
    if (!nv) return -1;
    *v = nv;
    if (!(nv[*n] = strndup(s, len))) return -1;
    (*n)++;
    return 0;
}

static int has_str(char *const *v, int n, const char *s, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) == len && !strncmp(v[i], s, len)) return 1;
    return 0;
}

static void free_strs(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void climp_bundle_scan_free(climp_bundle_scan *s) {
    free_strs(s->names, s->n_names);
    free_strs(s->macros, s->n_macros);
    free_strs(s->resets, s->n_resets);
    memset(s, 0, sizeof(*s));
}

/* Keywords, qualifiers, attributes and built-in type names of OpenCL C: never renamed. */
static int is_keyword(const char *s, size_t len) {
    static const char *const kw[] = {
        "__kernel", "kernel", "__global", "global", "__local", "local", "__constant", "constant",
        "__private", "private", "__generic", "generic", "__read_only", "read_only", "__write_only",
        "write_only", "__read_write", "read_write", "const", "restrict", "__restrict", "volatile",
        "static", "inline", "extern", "auto", "register", "typedef", "struct", "union", "enum",
        "unsigned", "signed", "void", "bool", "size_t", "ptrdiff_t", "intptr_t", "uintptr_t",
        "sampler_t", "event_t", "image1d_t", "image2d_t", "image3d_t", "image1d_array_t",
        "image2d_array_t", "image1d_buffer_t", "__attribute__", "_Pragma", "sizeof", "if", "else",
        "for", "while", "do", "return", "switch", "case", "default", "break", "continue", "goto",
        NULL};
    static const char *const vec[] = {"char", "uchar", "short", "ushort", "int", "uint", "long",
                                      "ulong", "float", "double", "half", NULL};
    for (int i = 0; kw[i]; i++)
        if (strlen(kw[i]) == len && !strncmp(kw[i], s, len)) return 1;
    size_t base = len;
    while (base > 0 && isdigit((unsigned char)s[base - 1])) base--;
    const char *digits = s + base;
    size_t nd = len - base;
    int width_ok = nd == 0 || (nd == 1 && strchr("2348", digits[0])) ||
                   (nd == 2 && !strncmp(digits, "16", 2));
    for (int i = 0; vec[i] && width_ok; i++)
        if (strlen(vec[i]) == base && !strncmp(vec[i], s, base)) return 1;
    return 0;
}

/* A vector component or swizzle (.x, .xy, .lo, .s0, .s01): a rename would rewrite member access. */
static int is_component(const char *s, size_t len) {
    if ((len == 2 && (!strncmp(s, "lo", 2) || !strncmp(s, "hi", 2))) ||
        (len == 4 && !strncmp(s, "even", 4)) || (len == 3 && !strncmp(s, "odd", 3)))
        return 1;
    size_t i = 0;
    if (len >= 2 && (s[0] == 's' || s[0] == 'S'))
        for (i = 1; i < len && isxdigit((unsigned char)s[i]); i++) {
        }
    else
        for (i = 0; i < len && len <= 4 && strchr("xyzw", s[i]); i++) {
        }
    return i == len;
}

typedef struct scanner {
    const char *t;
    size_t i;
    climp_bundle_scan *out;
    char **fmac, **pmac; /* function-like macros; macros whose body uses # or ## */
    int n_fmac, n_pmac;
    int b; /* brace depth */
} scanner;

#define OOM()                                                                                      \
    do {                                                                                           \
        climp_error_set("out of host memory");                                                     \
        return CLIMP_ERR_HOST_OOM;                                                                 \
    } while (0)

/* One logical preprocessor line from sc->i (at its '#'): continuations joined, comments blanked. */
static climp_status directive(scanner *sc) {
    const char *t = sc->t;
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    if (!buf) OOM();
    while (t[sc->i] && t[sc->i] != '\n') {
        char c = t[sc->i];
        if (n + 4 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                OOM();
            }
            buf = nb;
        }
        if (c == '\\' && t[sc->i + 1] == '\n') {
            sc->i += 2;
            buf[n++] = ' ';
        } else if (c == '/' && t[sc->i + 1] == '*') {
            const char *e = strstr(t + sc->i + 2, "*/");
            sc->i = e ? (size_t)(e - t) + 2 : strlen(t);
            buf[n++] = ' ';
        } else if (c == '/' && t[sc->i + 1] == '/') {
            while (t[sc->i] && t[sc->i] != '\n') sc->i++;
        } else {
            buf[n++] = c;
            sc->i++;
        }
    }
    buf[n] = 0;
    climp_status s = CLIMP_OK;
    char *p = buf + 1;
    while (*p == ' ' || *p == '\t') p++;
    if (!strncmp(p, "define", 6) && isspace((unsigned char)p[6])) {
        p += 6;
        while (*p == ' ' || *p == '\t') p++;
        const char *name = p;
        while (isalnum((unsigned char)*p) || *p == '_') p++;
        size_t len = (size_t)(p - name);
        int fn = *p == '(';
        if (fn) p = strchr(p, ')') ? strchr(p, ')') + 1 : p + strlen(p);
        int paste = 0; /* # outside string and character literals */
        for (char q = 0; *p; p++) {
            if (q) {
                if (*p == '\\' && p[1]) p++;
                else if (*p == q) q = 0;
            } else if (*p == '"' || *p == '\'') {
                q = *p;
            } else if (*p == '#') {
                paste = 1;
            }
        }
        if (len && (add_str(&sc->out->macros, &sc->out->n_macros, name, len) ||
                    (fn && add_str(&sc->fmac, &sc->n_fmac, name, len)) ||
                    (paste && add_str(&sc->pmac, &sc->n_pmac, name, len))))
            s = CLIMP_ERR_HOST_OOM;
    } else if (!strncmp(p, "pragma", 6) && sc->b == 0) {
        char w1[64] = "", w2[64] = "", w3[128] = "";
        sscanf(p + 6, "%63s %63s %127s", w1, w2, w3);
        char reset[256] = "";
        if (!strcmp(w1, "OPENCL") && !strcmp(w2, "FP_CONTRACT"))
            snprintf(reset, sizeof(reset), "#pragma OPENCL FP_CONTRACT DEFAULT");
        else if (!strcmp(w1, "OPENCL") && !strcmp(w2, "EXTENSION") && w3[0])
            snprintf(reset, sizeof(reset), "#pragma OPENCL EXTENSION %.*s : disable",
                     (int)strcspn(w3, ":"), w3);
        else if (!strcmp(w1, "clang") && !strcmp(w2, "diagnostic") && !strcmp(w3, "ignored")) {
            /* `#pragma clang diagnostic ignored "-Wx"` only silences a warning: restore it. */
            const char *q = strchr(p, '"'), *e = q ? strchr(q + 1, '"') : NULL;
            if (q && e && e - q < 100)
                snprintf(reset, sizeof(reset),
                         "#ifdef __clang__\n#pragma clang diagnostic warning %.*s\n#endif",
                         (int)(e - q + 1), q);
        }
        if (!reset[0]) {
            climp_error_set("file-scope '%s': the bundle cannot reset this pragma", buf);
            s = CLIMP_ERR_UNSUPPORTED;
        } else if (add_str(&sc->out->resets, &sc->out->n_resets, reset, strlen(reset))) {
            s = CLIMP_ERR_HOST_OOM;
        }
    }
    free(buf);
    return s;
}

static climp_status add_name(scanner *sc, const char *s, size_t len) {
    if (is_component(s, len)) {
        climp_error_set("file-scope name '%.*s' is also a vector component: renaming it would "
                        "rewrite member accesses", (int)len, s);
        return CLIMP_ERR_UNSUPPORTED;
    }
    if (add_str(&sc->out->names, &sc->out->n_names, s, len)) OOM();
    return CLIMP_OK;
}

static int is_macro(const scanner *sc, const char *s, size_t len) {
    return has_str(sc->out->macros, sc->out->n_macros, s, len);
}

/* The declaration walk: at brace depth 0, the identifier before '(' (a function; the rest of its
 * declaration is skipped), the identifiers before ';' ',' '=' '[' (variables, typedef names),
 * struct/union tags, and each argument of a file-scope macro invocation that is one identifier
 * (kernels a macro defines). Keywords, macros and everything inside braces are skipped. */
static climp_status scan(scanner *sc) {
    const char *t = sc->t;
    int p = 0, bol = 1, in_func = 0, in_init = 0, tag = 0, fmac = 0, paste = 0;
    int inv = 0, arg_tokens = 0; /* inv: paren depth of a file-scope macro invocation's args */
    const char *pend = NULL, *arg = NULL, *mname = NULL;
    size_t pend_len = 0, arg_len = 0, mlen = 0;
    climp_status s = CLIMP_OK;
    while (!s && t[sc->i]) {
        const char c = t[sc->i];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            bol |= c == '\n';
            sc->i++;
            continue;
        }
        if (c == '#' && bol) {
            s = directive(sc);
            continue;
        }
        bol = 0;
        if (c == '/' && t[sc->i + 1] == '*') {
            const char *e = strstr(t + sc->i + 2, "*/");
            sc->i = e ? (size_t)(e - t) + 2 : strlen(t);
            continue;
        }
        if (c == '/' && t[sc->i + 1] == '/') {
            while (t[sc->i] && t[sc->i] != '\n') sc->i++;
            continue;
        }
        const char *tok = t + sc->i;
        size_t len = 1;
        int ident = isalpha((unsigned char)c) || c == '_';
        if (ident) {
            while (isalnum((unsigned char)tok[len]) || tok[len] == '_') len++;
        } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)tok[1]))) {
            while (isalnum((unsigned char)tok[len]) || tok[len] == '_' || tok[len] == '.' ||
                   ((tok[len] == '+' || tok[len] == '-') && strchr("eEpP", tok[len - 1])))
                len++;
        } else if (c == '"' || c == '\'') {
            while (tok[len] && tok[len] != c) len += tok[len] == '\\' && tok[len + 1] ? 2 : 1;
            if (tok[len]) len++;
        }
        sc->i += len;
        if (inv) { /* inside the arguments of a file-scope macro invocation */
            if ((c == ',' || c == ')') && p == inv) {
                if (arg_tokens == 1 && arg && !is_keyword(arg, arg_len) &&
                    !is_macro(sc, arg, arg_len)) {
                    if (paste) {
                        climp_error_set("file-scope invocation of macro '%.*s', which pastes or "
                                        "stringizes its arguments: cannot rename '%.*s'",
                                        (int)mlen, mname, (int)arg_len, arg);
                        return CLIMP_ERR_UNSUPPORTED;
                    }
                    s = add_name(sc, arg, arg_len);
                }
                arg = NULL;
                arg_tokens = 0;
                if (c == ')') inv = 0, p--;
                continue;
            }
            if (ident && p == inv && arg_tokens == 0) arg = tok, arg_len = len;
            arg_tokens++;
            p += c == '(' ? 1 : c == ')' ? -1 : 0;
            continue;
        }
        if (ident) {
            if (sc->b || p) continue;
            if (tag) {
                tag = 0;
                s = add_name(sc, tok, len);
            } else if (is_keyword(tok, len)) {
                tag = (len == 6 && !strncmp(tok, "struct", 6)) ||
                      (len == 5 && !strncmp(tok, "union", 5));
                if (len == 4 && !strncmp(tok, "enum", 4)) {
                    climp_error_set("file-scope enum: its constants cannot be renamed");
                    return CLIMP_ERR_UNSUPPORTED;
                }
            } else if (is_macro(sc, tok, len)) {
                fmac = has_str(sc->fmac, sc->n_fmac, tok, len);
                paste = has_str(sc->pmac, sc->n_pmac, tok, len);
                mname = tok, mlen = len;
                continue;
            } else if (!in_func && !in_init) {
                pend = tok, pend_len = len;
            }
            fmac = 0;
            continue;
        }
        const int top = sc->b == 0 && p == 0;
        const int named = top && pend && !in_func && !in_init;
        switch (c) {
        case '(':
            if (top && fmac) {
                inv = p + 1;
                arg_tokens = 0;
                arg = NULL;
            } else if (named) {
                s = add_name(sc, pend, pend_len);
                in_func = 1;
            }
            p++;
            break;
        case '[':
            if (named) s = add_name(sc, pend, pend_len);
            p++;
            break;
        case ')':
        case ']':
            p--;
            break;
        case ',':
        case ';':
        case '=':
            if (named) s = add_name(sc, pend, pend_len);
            if (top && c == '=') in_init = 1;
            if (top && c == ',') in_init = 0;
            if (top && c == ';') in_func = in_init = 0;
            break;
        case '{':
            sc->b++;
            break;
        case '}':
            if (--sc->b == 0 && in_func && p == 0) in_func = in_init = 0;
            break;
        default:
            break;
        }
        if (top && c != '*') pend = NULL;
        fmac = tag = 0;
        if (p < 0 || sc->b < 0) break;
    }
    if (!s && (p || sc->b || inv)) {
        climp_error_set("unbalanced %s at file scope (an #if with different braces per branch?)",
                        sc->b ? "braces" : "parentheses");
        return CLIMP_ERR_UNSUPPORTED;
    }
    return s;
}

climp_status climp_bundle_scan_text(const char *text, climp_bundle_scan *out) {
    memset(out, 0, sizeof(*out));
    if (!text) return CLIMP_ERR_INVALID_ARG;
    scanner sc = {.t = text, .out = out};
    climp_status s = scan(&sc);
    free_strs(sc.fmac, sc.n_fmac);
    free_strs(sc.pmac, sc.n_pmac);
    if (s) climp_bundle_scan_free(out);
    return s;
}

/* ---------------------------------------------------------------- the bundle text */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->oom || need < 0) return;
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->n + (size_t)need + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

climp_status climp_bundle_text(int n, const char *const *sources, const char *const *defines,
                               char **text, uint64_t *keys) {
    if (n < 1 || !sources || !text || !keys) return CLIMP_ERR_INVALID_ARG;
    sbuf b = {0};
    sb_printf(&b, "/* climp kernel bundle: %d programs in one OpenCL C program (climp "
                  "compile-kernels --bundle,\n * docs/fpga.md). Program i's file-scope names "
                  "carry the prefix p<i>_. Generated: do not edit. */\n", n);
    climp_status s = CLIMP_OK;
    for (int i = 0; i < n && !s; i++) {
        const char *defs = defines && defines[i] ? defines[i] : "";
        char *full = climp_program_text(sources[i], defs, &keys[i]);
        if (!full) {
            s = CLIMP_ERR_NO_KERNEL_SOURCE;
            break;
        }
        climp_bundle_scan sc;
        s = climp_bundle_scan_text(full, &sc);
        if (s) {
            char d[512];
            snprintf(d, sizeof(d), "%s", climp_error_detail());
            climp_error_set("kernel bundle: cl_kernels/%s.cl [%s]: %s", sources[i], defs, d);
            free(full);
            break;
        }
        sb_printf(&b, "\n/* ---- program %d: %s [%s], key %016llx */\n", i, sources[i], defs,
                  (unsigned long long)keys[i]);
        for (int j = 0; j < sc.n_names; j++)
            sb_printf(&b, "#define %s p%d_%s\n", sc.names[j], i, sc.names[j]);
        sb_printf(&b, "%s\n", full);
        for (int j = 0; j < sc.n_names; j++) sb_printf(&b, "#undef %s\n", sc.names[j]);
        for (int j = 0; j < sc.n_macros; j++) sb_printf(&b, "#undef %s\n", sc.macros[j]);
        for (int j = 0; j < sc.n_resets; j++) sb_printf(&b, "%s\n", sc.resets[j]);
        climp_bundle_scan_free(&sc);
        free(full);
    }
    if (!s && b.oom) s = CLIMP_ERR_HOST_OOM;
    if (s) {
        free(b.s);
        return s;
    }
    *text = b.s;
    return CLIMP_OK;
}

climp_status climp_bundle_write(climp_ctx *ctx, const char *dir, int n,
                                const char *const *sources, const char *const *defines,
                                char *file, size_t cap) {
    char *text = NULL;
    uint64_t *keys = calloc((size_t)(n > 0 ? n : 1), sizeof(*keys));
    if (!keys) return CLIMP_ERR_HOST_OOM;
    climp_status s = climp_bundle_text(n, sources, defines, &text, keys);
    if (!s) s = climp_build_binary(ctx, text, dir, "bundle", file, cap);
    char path[1100];
    FILE *f = NULL;
    if (text) { /* bundle.cl also when the build failed: the build log refers to it */
        snprintf(path, sizeof(path), "%s/bundle.cl", dir);
        if ((f = fopen(path, "w"))) {
            int ok = fputs(text, f) >= 0;
            if ((fclose(f) || !ok) && !s) s = CLIMP_ERR_IO;
        } else if (!s) {
            s = CLIMP_ERR_IO;
        }
        if (s == CLIMP_ERR_IO) climp_error_set("cannot write %s", path);
    }
    if (!s) {
        snprintf(path, sizeof(path), "%s/bundle.map", dir);
        if ((f = fopen(path, "w"))) {
            const climp_device_info *in = climp_ctx_info(ctx);
            fprintf(f, "# climp kernel bundle (climp compile-kernels --bundle; docs/fpga.md)\n"
                       "# built on: %s (%s)\n# <source>\\t<defines>\\t<program key>\\t<kernel "
                       "prefix>, served by the binary below\nbinary\t%s\n",
                    in->name, in->platform_name, file);
            for (int i = 0; i < n; i++)
                fprintf(f, "%s\t%s\t%016llx\tp%d_\n", sources[i],
                        defines && defines[i] ? defines[i] : "", (unsigned long long)keys[i], i);
            if (fclose(f)) s = CLIMP_ERR_IO;
        } else {
            s = CLIMP_ERR_IO;
        }
        if (s) climp_error_set("cannot write %s", path);
    }
    free(text);
    free(keys);
    return s;
}
