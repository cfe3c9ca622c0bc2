#!/usr/bin/env bash
# scripts/convert_checkpoint.py end to end: builds tiny upstream-style checkpoints with PyTorch
# (a VMamba {"model": state_dict} .pth, old-name and legacy-format variants, a state-spaces Mamba
# pytorch_model.bin, Hugging Face Mamba-2 safetensors in BF16/F16, sharded), converts them, and
# checks key names, shapes, values, the projection init, metadata and the file layout with an
# independent reader (tests/reference/safetensors_io.py). Skips (77) without torch.
set -u
SRC=${CLIMP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
"$PY" -c "import torch" >/dev/null 2>&1 || { echo "skip: /usr/bin/python3 cannot import torch"; exit 77; }
CONV=("$PY" "$SRC/scripts/convert_checkpoint.py")
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------- upstream-style inputs
"$PY" - "$tmp" <<'EOF' || { echo "FAIL: could not make the inputs"; exit 1; }
import json, os, struct, sys
from collections import OrderedDict
import torch
d = sys.argv[1]
torch.manual_seed(0)
r = lambda *s: torch.randn(*s)

class TrainConfig:  # pickled as __main__.TrainConfig: the converter has no such class
    def __init__(self): self.lr = 1e-3

class Evil:
    def __reduce__(self): return (os.system, ("touch " + os.path.join(d, "pwned"),))

# VMamba (dims 8, 16; d_inner 16; R 1; N 1), Linear2d weights stored 4-D as some releases do.
v = OrderedDict()
v["patch_embed.0.weight"] = r(4, 3, 3, 3); v["patch_embed.0.bias"] = r(4)
v["patch_embed.2.weight"] = r(4); v["patch_embed.2.bias"] = r(4)
v["patch_embed.5.weight"] = r(8, 4, 3, 3); v["patch_embed.5.bias"] = r(8)
v["patch_embed.7.weight"] = r(8); v["patch_embed.7.bias"] = r(8)
b = "layers.0.blocks.0."
v[b + "norm.weight"] = r(8); v[b + "norm.bias"] = r(8)
v[b + "op.x_proj_weight"] = r(4, 3, 16)
v[b + "op.A_logs"] = r(64, 1); v[b + "op.Ds"] = r(64).half()
v[b + "op.dt_projs_weight"] = r(4, 16, 1); v[b + "op.dt_projs_bias"] = r(4, 16).bfloat16()
v[b + "op.out_norm.weight"] = r(16); v[b + "op.out_norm.bias"] = r(16)
v[b + "op.in_proj.weight"] = r(16, 8, 1, 1)
v[b + "op.conv2d.weight"] = r(16, 1, 3, 3)
v[b + "op.out_proj.weight"] = r(8, 16)
v[b + "norm2.weight"] = r(8); v[b + "norm2.bias"] = r(8)
v[b + "mlp.fc1.weight"] = r(32, 8, 1, 1); v[b + "mlp.fc1.bias"] = r(32)
v[b + "mlp.fc2.weight"] = r(8, 32, 1, 1).double(); v[b + "mlp.fc2.bias"] = r(8)
v["layers.0.downsample.1.weight"] = r(16, 8, 3, 3); v["layers.0.downsample.1.bias"] = r(16)
v["layers.0.downsample.3.weight"] = r(16); v["layers.0.downsample.3.bias"] = r(16)
v["layers.1.blocks.0.norm.weight"] = r(16); v["layers.1.blocks.0.norm.bias"] = r(16)
v["classifier.norm.weight"] = r(16); v["classifier.norm.bias"] = r(16)
v["classifier.head.weight"] = r(10, 16); v["classifier.head.bias"] = r(10)
torch.save({"model": v, "model_ema": v, "epoch": 3, "config": TrainConfig()}, f"{d}/vmamba.pth")
torch.save({"model": v}, f"{d}/vmamba_legacy.pth", _use_new_zipfile_serialization=False)
old = OrderedDict([("patch_embed.proj.weight", r(8, 3, 4, 4)), ("patch_embed.proj.bias", r(8)),
                   ("patch_embed.norm.weight", r(8)), ("patch_embed.norm.bias", r(8)),
                   ("layers.0.blocks.0.norm.weight", r(8))])
torch.save({"model": old}, f"{d}/vmamba_old.pth")
torch.save({"model": v, "evil": Evil()}, f"{d}/evil.pth")
torch.save(v, f"{d}/vmamba_ref.pt")

# state-spaces Mamba (V 24, D 8, E 16, R 1, N 4, 2 layers), lm_head tied to the embedding.
m = OrderedDict()
m["backbone.embedding.weight"] = r(24, 8)
for i in range(2):
    p = f"backbone.layers.{i}."
    m[p + "norm.weight"] = r(8)
    m[p + "mixer.in_proj.weight"] = r(32, 8)
    m[p + "mixer.conv1d.weight"] = r(16, 1, 4); m[p + "mixer.conv1d.bias"] = r(16)
    m[p + "mixer.x_proj.weight"] = r(9, 16)
    m[p + "mixer.dt_proj.weight"] = r(16, 1); m[p + "mixer.dt_proj.bias"] = r(16)
    m[p + "mixer.A_log"] = r(16, 4); m[p + "mixer.D"] = r(16)
    m[p + "mixer.out_proj.weight"] = r(8, 16)
m["backbone.norm_f.weight"] = r(8)
m["lm_head.weight"] = m["backbone.embedding.weight"]
os.makedirs(f"{d}/mamba")
torch.save(m, f"{d}/mamba/pytorch_model.bin")
json.dump({"d_model": 8, "n_layer": 2}, open(f"{d}/mamba/config.json", "w"))
torch.save(m, f"{d}/mamba_ref.pt")

# Hugging Face Mamba-2 (D 8, E 16, H 2, N 4, G 1), mixed F32/BF16/F16, written as HF does.
h = OrderedDict()
h["backbone.embeddings.weight"] = r(24, 8).bfloat16()
for i in range(2):
    p = f"backbone.layers.{i}."
    h[p + "norm.weight"] = r(8).half()
    h[p + "mixer.in_proj.weight"] = r(42, 8).bfloat16()
    h[p + "mixer.conv1d.weight"] = r(24, 1, 4); h[p + "mixer.conv1d.bias"] = r(24)
    h[p + "mixer.dt_bias"] = r(2); h[p + "mixer.A_log"] = r(2); h[p + "mixer.D"] = r(2)
    h[p + "mixer.norm.weight"] = r(16).half(); h[p + "mixer.out_proj.weight"] = r(8, 16)
h["backbone.norm_f.weight"] = r(8)
h["lm_head.weight"] = h["backbone.embeddings.weight"]
codes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
def save_st(tensors, path):
    hdr, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for k in sorted(tensors, key=lambda k: (-tensors[k].element_size(), k)):  # HF order
        t = tensors[k].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        hdr[k] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
save_st(h, f"{d}/hf2.safetensors")
os.makedirs(f"{d}/hf_sharded")
keys = list(h); shards = {}
for j, part in enumerate((keys[:9], keys[9:])):
    name = f"model-0000{j + 1}-of-00002.safetensors"
    save_st({k: h[k] for k in part}, f"{d}/hf_sharded/{name}")
    shards.update({k: name for k in part})
json.dump({"metadata": {}, "weight_map": shards}, open(f"{d}/hf_sharded/model.safetensors.index.json", "w"))
torch.save({k: t.float() for k, t in h.items()}, f"{d}/hf2_ref.pt")
EOF

# ---------------------------------------------------------------- conversions
# Most conversions run in one Python process (torch loads once); the CLI itself is run for the
# usage paths and for one whole model, which must be byte-identical to the in-process result.
"$PY" - "$tmp" "$SRC" <<'EOF'
import contextlib, io, os, sys
d, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, src + "/scripts")
import convert_checkpoint as cc
npass = nfail = 0
def conv(args, want_rc=0, want_msg=None, outfile=None):
    global npass, nfail
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cc.main([a.replace("@", d) for a in args])
    good = rc == want_rc and (want_msg is None or want_msg in err.getvalue())
    if outfile is not None:
        good = good and not os.path.exists(outfile.replace("@", d))
    npass += good; nfail += not good
    if not good: print(f"FAIL: convert {args}: rc {rc}, want {want_rc}; stderr: {err.getvalue()}")
conv(["--vision", "@/vmamba.pth", "--out", "@/v.safetensors"])
conv(["--vision", "@/vmamba_legacy.pth", "--out", "@/v_legacy.safetensors"])
conv(["--vision", "@/vmamba_old.pth", "--out", "@/v_old.safetensors"])
conv(["--text", "@/mamba/pytorch_model.bin", "--out", "@/t1.safetensors"])
conv(["--text", "@/mamba", "--out", "@/t1_dir.safetensors"])
conv(["--text", "@/hf2.safetensors", "--out", "@/t2.safetensors"])
conv(["--text", "@/hf_sharded", "--out", "@/t2_sharded.safetensors"])
conv(["--vision", "@/vmamba.pth", "--text", "@/hf2.safetensors", "--embed-dim", "12", "--seed", "5",
      "--out", "@/full.safetensors"])
conv(["--vision", "@/vmamba.pth", "--text", "@/mamba/pytorch_model.bin", "--out", "@/full768.safetensors"])
conv(["--vision", "@/full.safetensors", "--out", "@/v_from_climp.safetensors"])
conv(["--text", "@/full.safetensors", "--out", "@/t_from_climp.safetensors"])
# Bad inputs: a clear error naming the file, exit 1, nothing written.
conv(["--vision", "@/mamba/pytorch_model.bin", "--out", "@/x.safetensors"], 1, "no VMamba keys", "@/x.safetensors")
conv(["--text", "@/vmamba.pth", "--out", "@/x.safetensors"], 1, "no Mamba backbone", "@/x.safetensors")
with open(f"{d}/vmamba.pth", "rb") as f, open(f"{d}/trunc.pth", "wb") as g:
    g.write(f.read(100))
conv(["--vision", "@/trunc.pth", "--out", "@/x.safetensors"], 1, "trunc.pth: cannot be read", "@/x.safetensors")
with open(f"{d}/bad.safetensors", "wb") as g:
    g.write(b"\xff" * 8 + b"{}")
conv(["--text", "@/bad.safetensors", "--out", "@/x.safetensors"], 1, "bad.safetensors: header length",
     "@/x.safetensors")
# A pickle that would run a command: the restricted unpickler never calls it.
conv(["--vision", "@/evil.pth", "--out", "@/evil.safetensors"])
if os.path.exists(f"{d}/pwned"):
    nfail += 1; print("FAIL: evil.pth ran a command")
print(f"conversions: {npass} passed, {nfail} failed")
sys.exit(1 if nfail else 0)
EOF
ok test $? -eq 0
ok test ! -e "$tmp/full.safetensors.tmp"
"${CONV[@]}" --vision "$tmp/vmamba.pth" --text "$tmp/hf2.safetensors" --embed-dim 12 --seed 5 \
    --out "$tmp/full2.safetensors" >"$tmp/log" 2>&1; ok test $? -eq 0
ok grep -q "wrote 59 tensors" "$tmp/log"
ok cmp -s "$tmp/full.safetensors" "$tmp/full2.safetensors"
"${CONV[@]}" --help >"$tmp/help" 2>&1; ok test $? -eq 0
ok grep -q -- "--embed-dim" "$tmp/help"
"${CONV[@]}" --out "$tmp/x.safetensors" >/dev/null 2>&1; ok test $? -eq 2
"${CONV[@]}" --vision "$tmp/missing.pth" --out "$tmp/x.safetensors" >"$tmp/err" 2>&1; ok test $? -eq 1
ok grep -q "missing.pth: no such file" "$tmp/err"
ok test "$(wc -l <"$tmp/err")" -eq 1

# ---------------------------------------------------------------- contents
"$PY" - "$tmp" "$SRC" <<'EOF'
import json, math, struct, sys
import numpy as np, torch
d, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, src + "/tests/reference")
from safetensors_io import load_file
npass = nfail = 0
def check(cond, what):
    global npass, nfail
    if cond: npass += 1
    else: nfail += 1; print("FAIL:", what)

def layout(path):
    """The header layout the C reader and the Python package expect."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    text = raw[8:8 + n].decode("utf-8")
    check(n % 8 == 0 and text == text.rstrip(" ") + " " * (n - len(text.rstrip(" "))), f"{path}: padding")
    keys = list(json.loads(text))
    check(keys[0] == "__metadata__" and keys[1:] == sorted(keys[1:]), f"{path}: key order")
    h = json.loads(text); h.pop("__metadata__")
    off = 0
    for k in keys[1:]:
        check(h[k]["dtype"] == "F32" and h[k]["data_offsets"][0] == off, f"{path}: {k} dtype/offset")
        off = h[k]["data_offsets"][1]
    check(off == len(raw) - 8 - n, f"{path}: data buffer length")

def same(a, b, what):
    check(a.dtype == np.float32 and a.shape == tuple(b.shape) and np.array_equal(a, b.float().numpy()), what)

v = torch.load(f"{d}/vmamba_ref.pt"); m = torch.load(f"{d}/mamba_ref.pt"); h = torch.load(f"{d}/hf2_ref.pt")
vis_keys = {"vision_encoder." + k for k in v if not k.startswith("classifier.head.")}

for name in ("v", "v_legacy"):
    t, meta = load_file(f"{d}/{name}.safetensors")
    layout(f"{d}/{name}.safetensors")
    check(set(t) == vis_keys, f"{name}: keys {sorted(set(t) ^ vis_keys)}")
    check(meta.get("format") == "climp" and "vmamba" in meta.get("source", ""), f"{name}: metadata {meta}")
    for k, x in v.items():
        if k.startswith("classifier.head."): continue
        ref = x.reshape(x.shape[:2]) if x.dim() == 4 and x.shape[2:] == (1, 1) else x
        same(t["vision_encoder." + k], ref, f"{name}: {k}")
    check(t["vision_encoder.layers.0.blocks.0.op.in_proj.weight"].shape == (16, 8), "in_proj squeezed")
    check(t["vision_encoder.layers.0.blocks.0.mlp.fc2.weight"].shape == (8, 32), "fc2 squeezed")
    check(t["vision_encoder.layers.0.blocks.0.op.conv2d.weight"].shape == (16, 1, 3, 3), "conv2d kept 4-D")

t, _ = load_file(f"{d}/v_old.safetensors")
check(sorted(t) == ["vision_encoder.layers.0.blocks.0.norm.weight", "vision_encoder.patch_embed.0.bias",
                    "vision_encoder.patch_embed.0.weight", "vision_encoder.patch_embed.2.bias",
                    "vision_encoder.patch_embed.2.weight"], f"old names: {sorted(t)}")

def text_keys(sd):
    out = {}
    for k, x in sd.items():
        if k.startswith("lm_head."): continue
        k = k[len("backbone."):]
        k = "embeddings." + k[len("embedding."):] if k.startswith("embedding.") else k
        out["text_encoder." + k] = x
    return out
for name, ref in (("t1", m), ("t1_dir", m), ("t2", h), ("t2_sharded", h)):
    t, meta = load_file(f"{d}/{name}.safetensors")
    layout(f"{d}/{name}.safetensors")
    want = text_keys(ref)
    check(set(t) == set(want), f"{name}: keys {sorted(set(t) ^ set(want))}")
    check("text_encoder.embeddings.weight" in t and "text_encoder.layers.1.mixer.A_log" in t, f"{name}: names")
    for k, x in want.items():
        if k in t: same(t[k], x, f"{name}: {k}")

t, meta = load_file(f"{d}/full.safetensors")
layout(f"{d}/full.safetensors")
want = vis_keys | set(text_keys(h)) | {"vision_projection.weight", "vision_projection.bias",
                                       "text_projection.weight", "text_projection.bias", "logit_scale"}
check(set(t) == want, f"full: keys {sorted(set(t) ^ want)}")
check(meta.get("embed_dim") == "12" and meta.get("seed") == "5" and meta.get("format") == "climp", f"full: metadata {meta}")
torch.manual_seed(5)
vp = torch.nn.Linear(16, 12); tp = torch.nn.Linear(8, 12)
same(t["vision_projection.weight"], vp.weight.detach(), "vision_projection.weight")
same(t["vision_projection.bias"], vp.bias.detach(), "vision_projection.bias")
same(t["text_projection.weight"], tp.weight.detach(), "text_projection.weight")
same(t["text_projection.bias"], tp.bias.detach(), "text_projection.bias")
check(np.abs(t["vision_projection.weight"]).max() <= 0.25 and np.abs(t["text_projection.weight"]).max() <= 8 ** -0.5,
      "projection init bound 1/sqrt(fan_in)")
check(t["logit_scale"].shape == () and t["logit_scale"] == np.float32(math.log(1 / 0.07)), "logit_scale")
t768, _ = load_file(f"{d}/full768.safetensors")
check(t768["vision_projection.weight"].shape == (768, 16) and t768["text_projection.weight"].shape == (768, 8)
      and t768["text_projection.bias"].shape == (768,), "default embed dim 768")

tv, _ = load_file(f"{d}/v_from_climp.safetensors"); t0, _ = load_file(f"{d}/v.safetensors")
check(set(tv) == set(t0) and all(np.array_equal(tv[k], t0[k]) for k in t0), "vision keys from a CLIMP file")
tt, _ = load_file(f"{d}/t_from_climp.safetensors"); t0, _ = load_file(f"{d}/t2.safetensors")
check(set(tt) == set(t0) and all(np.array_equal(tt[k], t0[k]) for k in t0), "text keys from a CLIMP file")
print(f"contents: {npass} passed, {nfail} failed")
sys.exit(1 if nfail else 0)
EOF
ok test $? -eq 0

echo "cli_convert: $pass passed, $fail failed"
[ $fail -eq 0 ]
