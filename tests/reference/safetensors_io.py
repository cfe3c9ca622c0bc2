"""Minimal safetensors reader/writer in pure Python + numpy (no `safetensors` package).

File layout (https://github.com/huggingface/safetensors, "Format"):
  8 bytes   little-endian u64 N = header length
  N bytes   UTF-8 JSON object: {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
            ..., "__metadata__": {str: str}}   (padded with spaces to a multiple of 8)
  rest      raw little-endian tensor data; offsets are relative to the start of this region.

The writer stores tensors sorted by name, contiguous, with no gaps. A 0-dim tensor has shape []
and one element. The reader checks every offset against the file size and the dtype size.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def _code_of(dt):
    dt = np.dtype(dt)
    for code, ref in _DTYPES.items():
        if ref.kind == dt.kind and ref.itemsize == dt.itemsize:
            return code
    raise TypeError(f"safetensors: unsupported dtype {dt}")


def save_file(tensors, path, metadata=None):
    """tensors: {name: np.ndarray}; metadata: {str: str} or None. Writes `path` atomically enough
    for tests (single write)."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("tensor name __metadata__ is reserved")
        arr = np.asarray(tensors[name])
        code = _code_of(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def load_file(path):
    """Returns (tensors {name: np.ndarray}, metadata {str: str})."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file size {len(raw)}")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        code = info["dtype"]
        if code not in _DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {code}")
        dt = _DTYPES[code]
        shape = [int(s) for s in info["shape"]]
        b, e = (int(x) for x in info["data_offsets"])
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= b <= e <= len(data)) or e - b != count * dt.itemsize:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {b}..{e}")
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(shape).copy()
    return out, metadata
