#!/usr/bin/python3
"""Convert upstream PyTorch checkpoints into a CLIMP safetensors file (the CLIMP release key names).

Inputs (each a file, or a Hugging Face folder holding model.safetensors, pytorch_model.bin or a
sharded *.index.json):
  --vision  VMamba: a `.pth` with {"model": state_dict} (upstream releases), a bare state dict,
            or a CLIMP file (vision_encoder.* keys). `classifier.head.*` is dropped; old
            `patch_embed.proj/norm` names become `patch_embed.0/2`; 4-D Linear2d weights
            (out, in, 1, 1) are squeezed to (out, in). Keys become `vision_encoder.<key>`.
  --text    Mamba / Mamba-2: state-spaces `pytorch_model.bin` (backbone.embedding.weight,
            backbone.layers.{i}.*, backbone.norm_f.weight), Hugging Face `-hf` safetensors
            (backbone.embeddings.weight, ...), a bare backbone, or a CLIMP file (text_encoder.*).
            `lm_head.weight` is dropped. Keys become text_encoder.{embeddings.weight,
            layers.{i}.*, norm_f.weight}.
With both, a whole CLIMP model is written: vision_projection.{weight,bias} = Linear(C_last,
embed_dim) and text_projection.{weight,bias} = Linear(d_model, embed_dim), both with PyTorch's
default init after torch.manual_seed(--seed), and logit_scale = ln(1/0.07) as a 0-dim tensor.
With one of them, only that tower's keys are written. Every tensor is stored as F32.

Output: safetensors written by the tiny writer below (no `safetensors` package): "__metadata__"
first ({"format": "climp", "source": ...}), then tensors in name order, contiguous, header padded
with spaces to 8 bytes; written to OUT.tmp, fsync'ed and renamed. Runs with /usr/bin/python3 and
Debian's python3-torch. Reader/writer in C: model/safetensors.c. Test: tests/cli_convert.sh.
"""
import argparse
import json
import math
import mmap
import os
import pickle
import struct
import sys
import types

import numpy as np

# ------------------------------------------------------------------ safetensors reading (lazy)
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
              "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_FLOAT_CODES = ("F64", "F32", "F16", "BF16")


class ConvertError(Exception):
    pass


def _is_safetensors(path):
    if path.endswith(".safetensors"):
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and n <= os.path.getsize(path) - 8


def read_safetensors(path):
    """Returns {name: (shape, getter)} where getter() gives a float32 numpy array, and metadata."""
    size = os.path.getsize(path)
    if size < 8:
        raise ConvertError(f"{path}: shorter than the 8-byte header length")
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    (n,) = struct.unpack("<Q", mm[:8])
    if n > size - 8 or n > 100_000_000:
        raise ConvertError(f"{path}: header length {n} is beyond the file ({size} bytes)")
    try:
        header = json.loads(mm[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    base, data_len = 8 + n, size - 8 - n
    out = {}
    for name, info in header.items():
        try:
            code, shape, (b, e) = info["dtype"], [int(s) for s in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConvertError(f"{path}: tensor '{name}': malformed entry") from None
        if code not in _ST_DTYPES:
            raise ConvertError(f"{path}: tensor '{name}': unknown dtype {code}")
        dt = np.dtype(_ST_DTYPES[code])
        count = int(np.prod(shape)) if shape else 1
        if min(shape, default=0) < 0 or not (0 <= b <= e <= data_len) or e - b != count * dt.itemsize:
            raise ConvertError(f"{path}: tensor '{name}': bad shape or data_offsets")

        def get(code=code, dt=dt, shape=shape, b=b, count=count, name=name):
            if code not in _FLOAT_CODES:
                raise ConvertError(f"{path}: tensor '{name}': dtype {code} is not floating point")
            a = np.frombuffer(mm, dtype=dt, count=count, offset=base + b)
            if code == "BF16":
                a = (a.astype(np.uint32) << 16).view(np.float32)
            return a.astype(np.float32).reshape(shape)

        out[name] = (shape, get, code in _FLOAT_CODES)
    return out, meta


# ------------------------------------------------------------------ torch pickles (restricted)
def _torch_load(path):
    """torch.load with an unpickler that only resolves tensor-rebuilding globals; anything else
    (a training config object, optimizer classes, ...) becomes an inert stub, so upstream `.pth`
    files load without their training code and without running arbitrary callables."""
    import torch

    class Stub:
        def __init__(self, *a, **k):
            pass

        def __setstate__(self, state):
            pass

        def __call__(self, *a, **k):
            return Stub()

    def allowed(module, name):
        if module == "collections" and name == "OrderedDict":
            return True
        if module in ("torch._utils", "torch._tensor") and name.startswith("_rebuild"):
            return True
        if module == "torch.nn.parameter" and name == "Parameter":
            return True
        if module == "torch" and (name.endswith("Storage") or name in ("Size", "device", "Tensor") or
                                  isinstance(getattr(torch, name, None), torch.dtype)):
            return True
        if module == "torch.storage" and name in ("TypedStorage", "UntypedStorage", "_load_from_bytes"):
            return True
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("scalar", "_reconstruct"):
            return True
        if module == "numpy" and name in ("dtype", "ndarray"):
            return True
        if module == "_codecs" and name == "encode":
            return True
        return module == "builtins" and name in ("set", "frozenset", "slice", "complex", "bytearray")

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if allowed(module, name):
                return super().find_class(module, name)
            return type(name, (Stub,), {"__module__": "stub." + module})

    # A copy of the pickle module with the restricted Unpickler. torch.load's pickle_module
    # argument is ignored by some torch versions (1.13 resets it to `pickle`), so the copy is also
    # put in place of torch.serialization's own `pickle` for the duration of the call.
    mod = types.ModuleType("climp_restricted_pickle")
    mod.__dict__.update(pickle.__dict__)
    mod.Unpickler = Unpickler
    mod.load = lambda f, **kw: Unpickler(f, **kw).load()
    import torch.serialization as ts
    saved = ts.pickle
    ts.pickle = mod
    try:
        try:
            return torch.load(path, map_location="cpu", pickle_module=mod, weights_only=False)
        except TypeError:  # torch without weights_only
            return torch.load(path, map_location="cpu", pickle_module=mod)
    finally:
        ts.pickle = saved


def _entries_from_state_dict(sd, path):
    import torch
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        is_float = v.is_floating_point()

        def get(v=v):
            return v.detach().to(torch.float32).contiguous().numpy()

        out[str(k)] = (list(v.shape), get, is_float)
    if not out:
        raise ConvertError(f"{path}: no tensors found")
    return out


def load_any(path):
    """Returns {name: (shape, getter, is_float)} from a file or a Hugging Face folder."""
    if not os.path.exists(path):
        raise ConvertError(f"{path}: no such file or folder")
    if os.path.isdir(path):
        for idx in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
            ip = os.path.join(path, idx)
            if os.path.exists(ip):
                with open(ip) as f:
                    shards = sorted(set(json.load(f)["weight_map"].values()))
                out = {}
                for s in shards:
                    out.update(load_any(os.path.join(path, s)))
                return out
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.exists(os.path.join(path, name)):
                return load_any(os.path.join(path, name))
        raise ConvertError(f"{path}: folder has no model.safetensors or pytorch_model.bin")
    if _is_safetensors(path):
        return read_safetensors(path)[0]
    try:
        obj = _torch_load(path)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad input file
        raise ConvertError(f"{path}: cannot be read as a PyTorch checkpoint: {e}") from None
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: not a state dict or {{'model': state_dict}}")
    return _entries_from_state_dict(obj, path)


# ------------------------------------------------------------------ key mapping
def _strip(k, prefixes):
    for p in prefixes:
        if k.startswith(p):
            return k[len(p):]
    return k


def map_vision(src, path):
    out = {}
    for k, (shape, get, is_float) in src.items():
        k = _strip(k, ("module.",))
        if k.startswith("vision_encoder."):
            k = k[len("vision_encoder."):]
        elif any(k.startswith(p) for p in ("text_encoder.", "vision_projection.",
                                          "text_projection.", "logit_scale")):
            continue
        if k.startswith("classifier.head."):
            continue
        if k.startswith("patch_embed.proj."):
            k = "patch_embed.0." + k[len("patch_embed.proj."):]
        elif k.startswith("patch_embed.norm."):
            k = "patch_embed.2." + k[len("patch_embed.norm."):]
        if not is_float:
            print(f"convert_checkpoint: {path}: skipping non-float tensor {k}", file=sys.stderr)
            continue
        if len(shape) == 4 and shape[2:] == [1, 1]:  # Linear2d stored as a 1x1 conv
            shape = shape[:2]
            get = (lambda g, s: (lambda: g().reshape(s)))(get, shape)
        out["vision_encoder." + k] = (shape, get)
    if not any(k.startswith("vision_encoder.layers.") for k in out):
        raise ConvertError(f"{path}: no VMamba keys (layers.*) found")
    return out


def map_text(src, path):
    out = {}
    for k, (shape, get, is_float) in src.items():
        k = _strip(k, ("module.",))
        if k.startswith("text_encoder."):
            k = k[len("text_encoder."):]
        elif k.startswith("backbone."):
            k = k[len("backbone."):]
        elif k.startswith("lm_head.") or not k.startswith(("embedding", "layers.", "norm_f.")):
            if not k.startswith(("lm_head.", "vision_encoder.", "vision_projection.",
                                 "text_projection.", "logit_scale")):
                print(f"convert_checkpoint: {path}: dropping {k}", file=sys.stderr)
            continue
        if k.startswith("embedding."):
            k = "embeddings." + k[len("embedding."):]
        if not is_float:
            print(f"convert_checkpoint: {path}: skipping non-float tensor {k}", file=sys.stderr)
            continue
        out["text_encoder." + k] = (shape, get)
    for need in ("text_encoder.embeddings.weight", "text_encoder.norm_f.weight"):
        if need not in out:
            raise ConvertError(f"{path}: no Mamba backbone: missing {need[len('text_encoder.'):]}")
    return out


def vision_width(vis, path):
    """C_last: the channel count the vision tower's pooled feature has."""
    if "vision_encoder.classifier.norm.weight" in vis:
        return vis["vision_encoder.classifier.norm.weight"][0][0]
    stages = {}
    for k, (shape, _) in vis.items():
        parts = k.split(".")
        if len(parts) > 4 and parts[1] == "layers" and parts[3] == "blocks" and k.endswith(".norm.weight"):
            stages[int(parts[2])] = shape[0]
    if not stages:
        raise ConvertError(f"{path}: cannot infer the last stage width (no classifier.norm.weight)")
    return stages[max(stages)]


# ------------------------------------------------------------------ safetensors writing
def write_safetensors(path, entries, metadata):
    """entries: {name: (shape, getter)}; every tensor is written as F32."""
    header = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    off = 0
    names = sorted(entries)
    for name in names:
        shape = [int(s) for s in entries[name][0]]
        nbytes = 4 * (int(np.prod(shape)) if shape else 1)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + nbytes]}
        off += nbytes
    hj = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hj)))
            f.write(hj)
            for name in names:
                shape, get = entries[name]
                a = np.asarray(get(), dtype="<f4", order="C")  # keeps 0-dim (ascontiguousarray would not)
                if list(a.shape) != [int(s) for s in shape]:
                    raise ConvertError(f"tensor {name}: shape {list(a.shape)} != header {shape}")
                f.write(a.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _const(a):
    return lambda: a


def convert(args):
    entries, sources = {}, []
    vis = txt = None
    if args.vision:
        vis = map_vision(load_any(args.vision), args.vision)
        entries.update(vis)
        sources.append("vision=" + os.path.basename(os.path.normpath(args.vision)))
    if args.text:
        txt = map_text(load_any(args.text), args.text)
        entries.update(txt)
        sources.append("text=" + os.path.basename(os.path.normpath(args.text)))
    meta = {"format": "climp", "source": ";".join(sources)}
    if vis is not None and txt is not None:
        import torch
        c_last = int(vision_width(vis, args.vision))
        d_model = int(txt["text_encoder.norm_f.weight"][0][0])
        torch.manual_seed(args.seed)
        vp = torch.nn.Linear(c_last, args.embed_dim)
        tp = torch.nn.Linear(d_model, args.embed_dim)
        for prefix, lin in (("vision_projection", vp), ("text_projection", tp)):
            for p in ("weight", "bias"):
                t = getattr(lin, p).detach().to(torch.float32).numpy().copy()
                entries[f"{prefix}.{p}"] = (list(t.shape), _const(t))
        entries["logit_scale"] = ([], _const(np.array(math.log(1 / 0.07), dtype=np.float32)))
        meta.update({"embed_dim": str(args.embed_dim), "seed": str(args.seed)})
    write_safetensors(args.out, entries, meta)
    return len(entries)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Convert VMamba (.pth) and Mamba / Mamba-2 (pytorch_model.bin, HF "
                    "safetensors) checkpoints into a CLIMP safetensors file.",
        epilog="examples:\n"
               "  convert_checkpoint.py --vision vssm_base.pth --text mamba-1.4b-hf --out model.safetensors\n"
               "  convert_checkpoint.py --text state-spaces/mamba-130m/pytorch_model.bin --out text.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vision", metavar="FILE", help="VMamba checkpoint (.pth, safetensors, CLIMP file)")
    ap.add_argument("--text", metavar="FILE", help="Mamba/Mamba-2 checkpoint (file or HF folder)")
    ap.add_argument("--out", metavar="FILE", required=True, help="output .safetensors")
    ap.add_argument("--embed-dim", type=int, default=768, help="projection width (default 768)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the projection init (default 0)")
    args = ap.parse_args(argv)
    if not args.vision and not args.text:
        ap.error("give --vision, --text or both")
    if args.embed_dim <= 0:
        ap.error("--embed-dim must be positive")
    try:
        n = convert(args)
    except (ConvertError, OSError) as e:
        print(f"convert_checkpoint: error: {e}", file=sys.stderr)
        return 1
    print(f"convert_checkpoint: wrote {n} tensors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
