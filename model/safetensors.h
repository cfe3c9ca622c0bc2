/* safetensors reading (mmap, whole header validated up front) and writing (atomic, CRC32).
 * Format: u64 little-endian header length N, N bytes of UTF-8 JSON
 *   {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * padded with spaces to a multiple of 8, then the data buffer; offsets are relative to byte 8+N.
 * Every file is hostile: a bad one is refused with CLIMP_ERR_FORMAT (CLIMP_ERR_IO when it cannot
 * be read) and one line in climp_error_detail() naming the file, the tensor and the problem.
 * Implementation: model/safetensors.c. Test: tests/test_safetensors.c. Python side:
 * scripts/convert_checkpoint.py. */
#ifndef CLIMP_SAFETENSORS_H
#define CLIMP_SAFETENSORS_H

#include "runtime/climp_runtime.h"

#include <stddef.h>
#include <stdint.h>

/* Element types, named as in the header ("F32", "BF16", ...). */
enum {
    CLIMP_ST_BOOL = 0,
    CLIMP_ST_U8,
    CLIMP_ST_I8,
    CLIMP_ST_F8_E5M2,
    CLIMP_ST_F8_E4M3,
    CLIMP_ST_I16,
    CLIMP_ST_U16,
    CLIMP_ST_F16,
    CLIMP_ST_BF16,
    CLIMP_ST_I32,
    CLIMP_ST_U32,
    CLIMP_ST_F32,
    CLIMP_ST_F64,
    CLIMP_ST_I64,
    CLIMP_ST_U64,
    CLIMP_ST_DTYPE_COUNT
};
#define CLIMP_ST_MAX_DIMS 8
#define CLIMP_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* larger headers are refused */

const char *climp_st_dtype_name(int dtype); /* "F32"...; "?" for an unknown value */
size_t climp_st_dtype_size(int dtype);      /* bytes per element; 0 for an unknown value */
int climp_st_dtype_from_name(const char *name); /* -1 when unknown */

/* ---------------------------------------------------------------- reader */
typedef struct climp_st_tensor {
    const char *name; /* owned by the file handle */
    int dtype;        /* CLIMP_ST_* */
    int ndim;         /* 0 for a scalar */
    int64_t shape[CLIMP_ST_MAX_DIMS];
    size_t offset; /* from the start of the data buffer */
    size_t nbytes; /* = dtype size * product(shape), checked on open */
} climp_st_tensor;
typedef struct climp_st_file climp_st_file;

/* Maps `path` read-only and validates the whole header (see the banner). */
climp_status climp_st_open(const char *path, climp_st_file **out);
void climp_st_close(climp_st_file *f); /* accepts NULL */
const char *climp_st_path(const climp_st_file *f);
/* Tensors in name order (strcmp); i in [0, count). */
int climp_st_count(const climp_st_file *f);
const climp_st_tensor *climp_st_get(const climp_st_file *f, int i);
const climp_st_tensor *climp_st_find(const climp_st_file *f, const char *name); /* NULL if absent */
/* Pointer into the mapping: t->nbytes bytes. Not necessarily aligned for files that other writers
 * made (ours keep F32 data 4-aligned when every tensor is F32); memcpy to be safe. */
const void *climp_st_data(const climp_st_file *f, const climp_st_tensor *t);
const char *climp_st_metadata(const climp_st_file *f, const char *key); /* NULL if absent */
int climp_st_metadata_count(const climp_st_file *f); /* entries in key order */
void climp_st_metadata_at(const climp_st_file *f, int i, const char **key, const char **value);

/* Copies tensor `name` into dst as float32 (F32 copied, F16/BF16/F64 converted). `shape`/`ndim`
 * is the expected shape (ndim 0 for a scalar) and must match exactly.
 * Missing tensor: CLIMP_ERR_FORMAT; other shape: CLIMP_ERR_SHAPE; other dtype:
 * CLIMP_ERR_UNSUPPORTED; each with a line naming the file and the tensor. */
climp_status climp_st_read_f32(const climp_st_file *f, const char *name, const int64_t *shape,
                               int ndim, float *dst);

/* Element conversions used by climp_st_read_f32 (exposed for tests and the optimizer state). */
float climp_f16_to_f32(uint16_t h);
float climp_bf16_to_f32(uint16_t h);

/* ---------------------------------------------------------------- writer */
typedef struct climp_st_writer climp_st_writer;

climp_status climp_st_writer_create(climp_st_writer **out);
/* Registers a tensor; `data` (nbytes = dtype size * product(shape)) is not copied and must live
 * until climp_st_writer_write. ndim 0 is a scalar. Duplicate names, "__metadata__", empty names,
 * bad dtypes, negative dims: CLIMP_ERR_INVALID_ARG. */
climp_status climp_st_writer_add(climp_st_writer *w, const char *name, int dtype,
                                 const int64_t *shape, int ndim, const void *data);
/* Sets (or replaces) one `__metadata__` string entry. */
climp_status climp_st_writer_set_metadata(climp_st_writer *w, const char *key, const char *value);
/* Atomic write: path.tmp, fwrite, fflush, fsync, rename over path, fsync the folder. Header keys
 * are "__metadata__" then tensor names in strcmp order, padded with spaces to 8 bytes; data is
 * in the same order, contiguous. If crc is non-NULL it receives the zlib CRC32 of the whole
 * file as written. Failure: CLIMP_ERR_IO, the temporary file removed, `path` untouched. */
climp_status climp_st_writer_write(climp_st_writer *w, const char *path, uint32_t *crc);
void climp_st_writer_free(climp_st_writer *w); /* accepts NULL */

/* zlib CRC32 of a whole file (CLIMP_ERR_IO if it cannot be read). */
climp_status climp_file_crc32(const char *path, uint32_t *crc);

#endif
