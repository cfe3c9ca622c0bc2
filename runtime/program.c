/* Kernel programs: embedded or on-disk sources, the host-written #define prologue, JIT build with
 * an in-memory cache and an on-disk binary cache, the offline-binary (binary-only) mode with
 * kernel bundles (one binary serving many programs, its kernels renamed with a per-program prefix:
 * bundle.map), kernel lookup, and writing binaries for `climp compile-kernels`. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/rt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct climp_embedded_source {
    const char *name;
    const char *text;
    size_t len;
};
extern const struct climp_embedded_source climp_embedded_sources[];

#define CACHE_MAGIC "CLIMPBIN1"

const char *climp_kernel_source_name(int i) {
    for (int j = 0; climp_embedded_sources[j].name; j++)
        if (j == i) return climp_embedded_sources[j].name;
    return NULL;
}

const char *rt_build_options(void) { return "-cl-std=CL1.2"; }

const char *rt_source_text(const char *name, size_t *len, char **owned) {
    *owned = NULL;
    const char *dir = getenv("CLIMP_KERNEL_DIR");
    const size_t nl = strlen(name);
    const int header = nl > 4 && !strcmp(name + nl - 4, ".clh"); /* named with its suffix */
    if (dir && *dir) {
        char path[1024];
        snprintf(path, sizeof(path), header ? "%s/%s" : "%s/%s.cl", dir, name);
        *owned = climp_read_file(path, 0, len);
        if (*owned) return *owned;
    }
    for (int i = 0; climp_embedded_sources[i].name; i++)
        if (!strcmp(climp_embedded_sources[i].name, name)) {
            *len = climp_embedded_sources[i].len;
            return climp_embedded_sources[i].text;
        }
    return NULL;
}

/* Kernel sources share code through headers: a line `#include "NAME.clh"` (at the start of the
 * line) is replaced here by cl_kernels/NAME.clh, with #line directives so that build logs keep
 * the including file's line numbers. OpenCL compilers see one self-contained text (the binary
 * cache key, offline binaries and bundles all hash the expanded text). Headers may include
 * headers, up to 4 levels. Appends to *out (capacity *cap); 0 on success. */
static int expand_includes(const char *text, size_t len, int depth, char **out, size_t *n,
                           size_t *cap) {
    static const char tag[] = "#include \"";
    size_t line = 1;
    for (size_t i = 0; i < len;) {
        const char *eol = memchr(text + i, '\n', len - i);
        size_t end = eol ? (size_t)(eol - text) + 1 : len, ll = end - i;
        const char *add = text + i;
        size_t addn = ll;
        char name[128], mark[160]; /* mark outlives the branch: it may be what `add` points to */
        if (ll > sizeof(tag) && !memcmp(text + i, tag, sizeof(tag) - 1)) {
            const char *q = memchr(text + i + sizeof(tag) - 1, '"', ll - (sizeof(tag) - 1));
            size_t nn = q ? (size_t)(q - (text + i + sizeof(tag) - 1)) : 0;
            if (!q || nn == 0 || nn >= sizeof(name) || depth >= 4) {
                climp_error_set("kernel source: bad or too deeply nested #include at line %zu",
                                line);
                return -1;
            }
            memcpy(name, text + i + sizeof(tag) - 1, nn);
            name[nn] = 0;
            size_t hl = 0;
            char *owned = NULL;
            const char *h = rt_source_text(name, &hl, &owned);
            if (!h) {
                climp_error_set("kernel source: no header '%s' (embedded or in $CLIMP_KERNEL_DIR)",
                                name);
                return -1;
            }
            int m = snprintf(mark, sizeof mark, "#line 1 \"%s\"\n", name);
            size_t need = *n + (size_t)m + 64;
            if (need > *cap) {
                char *t = realloc(*out, need * 2);
                if (!t) { free(owned); return -1; }
                *out = t, *cap = need * 2;
            }
            memcpy(*out + *n, mark, (size_t)m);
            *n += (size_t)m;
            int r = expand_includes(h, hl, depth + 1, out, n, cap);
            free(owned);
            if (r) return r;
            /* then restore the including file's numbering */
            addn = (size_t)snprintf(mark, sizeof mark, "\n#line %zu\n", line + 1);
            add = mark;
        }
        if (*n + addn + 1 > *cap) {
            char *t = realloc(*out, (*n + addn + 1) * 2);
            if (!t) return -1;
            *out = t, *cap = (*n + addn + 1) * 2;
        }
        memcpy(*out + *n, add, addn);
        *n += addn;
        (*out)[*n] = 0;
        i = end;
        line++;
    }
    return 0;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* "A=1 B C=x" -> "#define A 1\n#define B\n#define C x\n" */
static char *make_prologue(const char *defines) {
    size_t n = defines ? strlen(defines) : 0;
    char *out = malloc(n * 3 + 64);
    if (!out) return NULL;
    char *o = out;
    const char *p = defines;
    while (p && *p) {
        while (*p == ' ' || *p == '\n' || *p == '\t') p++;
        if (!*p) break;
        const char *end = p;
        while (*end && *end != ' ' && *end != '\n' && *end != '\t') end++;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        o += sprintf(o, "#define ");
        if (eq) {
            memcpy(o, p, (size_t)(eq - p));
            o += eq - p;
            *o++ = ' ';
            memcpy(o, eq + 1, (size_t)(end - eq - 1));
            o += end - eq - 1;
        } else {
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
        }
        *o++ = '\n';
        p = end;
    }
    o += sprintf(o, "#line 1\n");
    *o = 0;
    return out;
}

/* The program text climp builds: prologue + source with its headers expanded (malloc'd; NULL,
 * error set, on failure). */
static char *full_text(const char *source, const char *defines, climp_status *st) {
    size_t len = 0;
    char *owned = NULL;
    const char *text = rt_source_text(source, &len, &owned);
    if (!text) {
        climp_error_set("no kernel source named '%s' (embedded or in $CLIMP_KERNEL_DIR)", source);
        *st = CLIMP_ERR_NO_KERNEL_SOURCE;
        return NULL;
    }
    char *full = make_prologue(defines);
    size_t n = full ? strlen(full) : 0, cap = n + 1;
    *st = !full ? CLIMP_ERR_HOST_OOM
                : expand_includes(text, len, 0, &full, &n, &cap) ? CLIMP_ERR_NO_KERNEL_SOURCE
                                                                  : CLIMP_OK;
    free(owned);
    if (*st) {
        free(full);
        return NULL;
    }
    return full;
}

/* The identity of a program's binary: source (with prologue), options, and the device. */
static uint64_t program_hash(const climp_ctx *ctx, const char *full, int with_device) {
    uint64_t h = fnv1a(0xcbf29ce484222325ull, full, strlen(full));
    const char *opts = rt_build_options();
    h = fnv1a(h, opts, strlen(opts));
    h = fnv1a(h, CACHE_MAGIC, sizeof(CACHE_MAGIC));
    if (with_device) {
        const climp_device_info *in = &ctx->info;
        h = fnv1a(h, in->platform_name, strlen(in->platform_name));
        h = fnv1a(h, in->platform_version, strlen(in->platform_version));
        h = fnv1a(h, in->name, strlen(in->name));
        h = fnv1a(h, in->device_version, strlen(in->device_version));
        h = fnv1a(h, in->driver_version, strlen(in->driver_version));
        const char *pocl_wg = getenv("POCL_WORK_GROUP_METHOD");
        if (pocl_wg) h = fnv1a(h, pocl_wg, strlen(pocl_wg));
        size_t ptr = sizeof(void *);
        h = fnv1a(h, &ptr, sizeof(ptr));
    }
    return h;
}

static int mkdir_p(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

static climp_status get_binary(climp_ctx *ctx, cl_program prog, unsigned char **bin, size_t *n) {
    size_t sz = 0;
    CLIMP_TRY(rt_cl(clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof(sz), &sz, NULL),
                    "clGetProgramInfo(BINARY_SIZES)"));
    if (!sz) return CLIMP_ERR_UNSUPPORTED;
    unsigned char *b = malloc(sz);
    if (!b) return CLIMP_ERR_HOST_OOM;
    climp_status s = rt_cl(clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof(b), &b, NULL),
                           "clGetProgramInfo(BINARIES)");
    if (s) {
        free(b);
        return s;
    }
    *bin = b;
    *n = sz;
    return CLIMP_OK;
}

/* Binary file: magic, u64 key hash, u64 size, bytes. Written to a temp file and renamed. */
static climp_status write_binary_file(const char *path, uint64_t key, const unsigned char *bin,
                                      size_t n) {
    /* Unique per process and call: several contexts (threads) may write the same entry. */
    static _Atomic long counter;
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%ld", path, (long)getpid(), ++counter);
    FILE *f = fopen(tmp, "wb");
    if (!f) return CLIMP_ERR_IO;
    uint64_t sz = n;
    int ok = fwrite(CACHE_MAGIC, 1, sizeof(CACHE_MAGIC), f) == sizeof(CACHE_MAGIC) &&
             fwrite(&key, sizeof(key), 1, f) == 1 && fwrite(&sz, sizeof(sz), 1, f) == 1 &&
             fwrite(bin, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return CLIMP_ERR_IO;
    }
    return CLIMP_OK;
}

unsigned char *rt_read_binary_file(const char *path, uint64_t key, size_t *n) {
    size_t len = 0;
    char *buf = climp_read_file(path, 0, &len);
    size_t hdr = sizeof(CACHE_MAGIC) + 16;
    if (!buf) return NULL;
    uint64_t k, sz;
    if (len < hdr || memcmp(buf, CACHE_MAGIC, sizeof(CACHE_MAGIC))) goto bad;
    memcpy(&k, buf + sizeof(CACHE_MAGIC), 8);
    memcpy(&sz, buf + sizeof(CACHE_MAGIC) + 8, 8);
    if (k != key || sz != len - hdr || sz == 0) goto bad;
    unsigned char *bin = malloc(sz);
    if (!bin) goto bad;
    memcpy(bin, buf + hdr, sz);
    free(buf);
    *n = sz;
    return bin;
bad:
    free(buf);
    return NULL;
}

static void print_build_log(climp_ctx *ctx, cl_program prog, const char *source,
                            const char *defines) {
    size_t n = 0;
    clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = 0;
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = 0;
    }
    fprintf(stderr,
            "climp: error: kernel build failed\n  kernel source: cl_kernels/%s.cl\n  defines: %s\n"
            "  options: %s\n  device: %s (%s)\n  driver: %s\n  build log:\n%s\n",
            source, defines && *defines ? defines : "(none)", rt_build_options(), ctx->info.name,
            ctx->info.platform_name, ctx->info.driver_version, log ? log : "(unavailable)");
    free(log);
}

climp_status rt_build_from_binary(climp_ctx *ctx, const unsigned char *bin, size_t n,
                                  cl_program *out) {
    cl_int err, bstatus = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &n, &bin, &bstatus,
                                             &err);
    if (err != CL_SUCCESS || bstatus != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return err != CL_SUCCESS ? err : bstatus;
    }
    err = clBuildProgram(p, 1, &ctx->device, rt_build_options(), NULL, NULL);
    if (err != CL_SUCCESS) {
        clReleaseProgram(p);
        return err;
    }
    *out = p;
    return CLIMP_OK;
}

static int disk_cache_enabled(void) {
    const char *e = getenv("CLIMP_NO_BINARY_CACHE");
    return !(e && *e && strcmp(e, "0"));
}

static climp_status load_program(climp_ctx *ctx, const char *source, const char *defines,
                                 cl_program *out, char **prefix) {
    climp_status s = CLIMP_OK;
    char *full = full_text(source, defines, &s);
    if (!full) return s;
    char path[1024];

    if (ctx->binary_only) {
        uint64_t key = program_hash(ctx, full, 0);
        *out = NULL;
        s = rt_bundle_get(ctx, source, defines, key, out, prefix);
        if (s || *out) {
            free(full);
            return s;
        }
        snprintf(path, sizeof(path), "%s/%s-%016llx.bin", ctx->binary_dir, source,
                 (unsigned long long)key);
        size_t n = 0;
        unsigned char *bin = rt_read_binary_file(path, key, &n);
        if (!bin) {
            climp_error_set("no offline binary for kernel source '%s' (defines '%s') for device "
                            "'%s' in %s (expected %s); make it with 'climp compile-kernels'",
                            source, defines ? defines : "", ctx->info.name, ctx->binary_dir, path);
            s = CLIMP_ERR_NO_BINARY;
        } else {
            s = rt_build_from_binary(ctx, bin, n, out);
            free(bin);
            if (s) {
                climp_error_set("offline binary %s for kernel source '%s' does not load on "
                                "device '%s' (%s): built for another device or driver?",
                                path, source, ctx->info.name, climp_status_name(s));
                s = CLIMP_ERR_NO_BINARY;
            } else {
                ctx->counters.binary_loads++;
                climp_log(CLIMP_LOG_DEBUG, "loaded offline binary %s", path);
            }
        }
        free(full);
        return s;
    }

    uint64_t key = program_hash(ctx, full, 1);
    int use_cache = disk_cache_enabled();
    if (use_cache) {
        snprintf(path, sizeof(path), "%s/%s-%016llx.bin", climp_cache_dir(), source,
                 (unsigned long long)key);
        size_t n = 0;
        unsigned char *bin = rt_read_binary_file(path, key, &n);
        if (bin) {
            s = rt_build_from_binary(ctx, bin, n, out);
            free(bin);
            if (s == CLIMP_OK) {
                ctx->counters.binary_loads++;
                free(full);
                return CLIMP_OK;
            }
            climp_log(CLIMP_LOG_DEBUG, "cached binary %s rejected (%s); rebuilding", path,
                      climp_status_name(s));
        }
    }
    cl_int err;
    const char *src = full;
    cl_program p = clCreateProgramWithSource(ctx->context, 1, &src, NULL, &err);
    if (err != CL_SUCCESS) {
        free(full);
        return rt_cl(err, "clCreateProgramWithSource");
    }
    ctx->counters.source_compiles++;
    double t0 = climp_now_seconds();
    err = clBuildProgram(p, 1, &ctx->device, rt_build_options(), NULL, NULL);
    if (err != CL_SUCCESS) {
        print_build_log(ctx, p, source, defines);
        climp_error_set("kernel source cl_kernels/%s.cl failed to build on %s (%s)", source,
                        ctx->info.name, climp_status_name(err));
        clReleaseProgram(p);
        free(full);
        return CLIMP_ERR_BUILD;
    }
    climp_log(CLIMP_LOG_DEBUG, "compiled %s [%s] in %.2f s", source, defines ? defines : "",
              climp_now_seconds() - t0);
    if (use_cache) {
        unsigned char *bin = NULL;
        size_t n = 0;
        if (get_binary(ctx, p, &bin, &n) == CLIMP_OK) {
            if (mkdir_p(climp_cache_dir()) || write_binary_file(path, key, bin, n))
                climp_log(CLIMP_LOG_WARN, "cannot write kernel cache %s", path);
            free(bin);
        }
    }
    free(full);
    *out = p;
    return CLIMP_OK;
}

static rt_program *find_program(climp_ctx *ctx, const char *source, const char *defines) {
    for (rt_program *p = ctx->programs; p; p = p->next)
        if (!strcmp(p->source_name, source) && !strcmp(p->defines, defines)) return p;
    return NULL;
}

static climp_status get_program(climp_ctx *ctx, const char *source, const char *defines,
                                rt_program **out) {
    rt_program *p = find_program(ctx, source, defines);
    if (p) {
        *out = p;
        return CLIMP_OK;
    }
    cl_program prog;
    char *prefix = NULL;
    CLIMP_TRY(load_program(ctx, source, defines, &prog, &prefix));
    p = calloc(1, sizeof(*p));
    if (!p || !(p->source_name = strdup(source)) || !(p->defines = strdup(defines))) {
        if (p) free(p->source_name);
        free(p);
        free(prefix);
        clReleaseProgram(prog);
        return CLIMP_ERR_HOST_OOM;
    }
    p->prog = prog;
    p->prefix = prefix;
    p->next = ctx->programs;
    ctx->programs = p;
    *out = p;
    return CLIMP_OK;
}

int rt_prof_row_for(climp_ctx *ctx, const char *kernel);

climp_status climp_kernel_get(climp_ctx *ctx, const char *source, const char *defines,
                              const char *kernel_name, climp_kernel **out) {
    if (!ctx || !source || !kernel_name || !out) return CLIMP_ERR_INVALID_ARG;
    if (!defines) defines = "";
    pthread_mutex_lock(&ctx->lock);
    climp_status s = CLIMP_OK;
    climp_kernel *k;
    for (k = ctx->kernels; k; k = k->next)
        if (!strcmp(k->name, kernel_name) && !strcmp(k->program->source_name, source) &&
            !strcmp(k->program->defines, defines))
            break;
    if (!k) {
        rt_program *p = NULL;
        s = get_program(ctx, source, defines, &p);
        if (s == CLIMP_OK) {
            cl_int err;
            char full[256];
            snprintf(full, sizeof(full), "%s%s", p->prefix ? p->prefix : "", kernel_name);
            cl_kernel ck = clCreateKernel(p->prog, full, &err);
            if (err != CL_SUCCESS) {
                climp_error_set("kernel '%s' not found in cl_kernels/%s.cl%s%s%s (%s)", kernel_name,
                                source, p->prefix ? " (kernel bundle, as '" : "",
                                p->prefix ? full : "", p->prefix ? "')" : "",
                                climp_status_name(err));
                s = err;
            } else if (!(k = calloc(1, sizeof(*k))) || !(k->name = strdup(kernel_name))) {
                free(k);
                k = NULL;
                clReleaseKernel(ck);
                s = CLIMP_ERR_HOST_OOM;
            } else {
                k->program = p;
                k->k = ck;
                k->prof_index = -1;
                k->next = ctx->kernels;
                ctx->kernels = k;
            }
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    *out = k;
    return s;
}

const char *climp_kernel_name(const climp_kernel *k) { return k->name; }

void rt_programs_release(climp_ctx *ctx);
void rt_programs_release(climp_ctx *ctx) {
    for (climp_kernel *k = ctx->kernels, *nk; k; k = nk) {
        nk = k->next;
        clReleaseKernel(k->k);
        free(k->name);
        free(k);
    }
    for (rt_program *p = ctx->programs, *np; p; p = np) {
        np = p->next;
        clReleaseProgram(p->prog);
        free(p->source_name);
        free(p->defines);
        free(p->prefix);
        free(p);
    }
    ctx->kernels = NULL;
    ctx->programs = NULL;
    rt_bundle_free(ctx);
}

climp_status climp_write_kernel_binaries(climp_ctx *ctx, const char *dir) {
    if (mkdir_p(dir)) {
        climp_error_set("cannot create folder %s", dir);
        return CLIMP_ERR_IO;
    }
    /* Every embedded source with its default tunables, plus every program built so far. */
    for (int i = 0; climp_embedded_sources[i].name; i++) {
        rt_program *p;
        const char *nm = climp_embedded_sources[i].name;
        if (strlen(nm) > 4 && !strcmp(nm + strlen(nm) - 4, ".clh")) continue; /* a header */
        CLIMP_TRY(get_program(ctx, climp_embedded_sources[i].name, "", &p));
    }
    char mpath[1100];
    snprintf(mpath, sizeof(mpath), "%s/manifest.txt", dir);
    FILE *m = fopen(mpath, "w");
    if (!m) return CLIMP_ERR_IO;
    fprintf(m, "# climp offline kernel binaries\n# device: %s\n# platform: %s\n# driver: %s\n",
            ctx->info.name, ctx->info.platform_name, ctx->info.driver_version);
    int n = 0;
    for (rt_program *p = ctx->programs; p; p = p->next) {
        climp_status fs = CLIMP_OK;
        char *full = p->prefix ? NULL : full_text(p->source_name, p->defines, &fs);
        if (!full) {
            fclose(m);
            if (p->prefix) climp_error_set("program %s comes from a kernel bundle", p->source_name);
            return p->prefix ? CLIMP_ERR_UNSUPPORTED : fs;
        }
        uint64_t key = program_hash(ctx, full, 0);
        free(full);
        unsigned char *bin = NULL;
        size_t nb = 0;
        climp_status s = get_binary(ctx, p->prog, &bin, &nb);
        char path[1100];
        snprintf(path, sizeof(path), "%s/%s-%016llx.bin", dir, p->source_name,
                 (unsigned long long)key);
        if (s == CLIMP_OK) s = write_binary_file(path, key, bin, nb);
        free(bin);
        if (s) {
            fclose(m);
            climp_error_set("cannot write %s", path);
            return s;
        }
        fprintf(m, "%s-%016llx.bin %s [%s]\n", p->source_name, (unsigned long long)key,
                p->source_name, p->defines);
        n++;
    }
    fclose(m);
    climp_log(CLIMP_LOG_INFO, "wrote %d program binaries to %s", n, dir);
    return CLIMP_OK;
}

char *climp_program_text(const char *source, const char *defines, uint64_t *key) {
    climp_status s;
    char *full = source ? full_text(source, defines ? defines : "", &s) : NULL;
    if (full && key) *key = program_hash(NULL, full, 0);
    return full;
}

climp_status climp_build_binary(climp_ctx *ctx, const char *text, const char *dir,
                                const char *stem, char *file, size_t cap) {
    if (!ctx || !text || !dir || !stem || !file || !cap) return CLIMP_ERR_INVALID_ARG;
    if (mkdir_p(dir)) {
        climp_error_set("cannot create folder %s", dir);
        return CLIMP_ERR_IO;
    }
    cl_int err;
    cl_program p = clCreateProgramWithSource(ctx->context, 1, &text, NULL, &err);
    if (err != CL_SUCCESS) return rt_cl(err, "clCreateProgramWithSource");
    ctx->counters.source_compiles++;
    double t0 = climp_now_seconds();
    err = clBuildProgram(p, 1, &ctx->device, rt_build_options(), NULL, NULL);
    if (err != CL_SUCCESS) {
        print_build_log(ctx, p, stem, "");
        climp_error_set("program %s failed to build on %s (%s)", stem, ctx->info.name,
                        climp_status_name(err));
        clReleaseProgram(p);
        return CLIMP_ERR_BUILD;
    }
    climp_log(CLIMP_LOG_DEBUG, "compiled %s in %.2f s", stem, climp_now_seconds() - t0);
    uint64_t key = program_hash(ctx, text, 0);
    unsigned char *bin = NULL;
    size_t n = 0;
    climp_status s = get_binary(ctx, p, &bin, &n);
    clReleaseProgram(p);
    char path[1400];
    snprintf(file, cap, "%s-%016llx.bin", stem, (unsigned long long)key);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (!s) s = write_binary_file(path, key, bin, n);
    free(bin);
    if (s) climp_error_set("cannot write %s", path);
    return s;
}
