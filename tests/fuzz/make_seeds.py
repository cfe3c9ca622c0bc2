#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets, tests/fuzz/corpus/<target>/ (committed; run
again only to change them): small valid inputs of every kind each parser reads, plus the hostile
cases issue 9 lists, so fuzzing starts deep and tests/cli_hostile.sh can reuse the bad files.
Needs Debian's python3 with PIL (python3-pil) for the images.  Usage: /usr/bin/python3
tests/fuzz/make_seeds.py  (from the repository root)."""
import io
import json
import os
import struct
import tarfile
import zlib

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- safetensors
DT = {"F32": ("<f", 4), "F16": ("<e", 2), "F64": ("<d", 8), "I64": ("<q", 8), "U8": ("<B", 1),
      "BF16": (None, 2), "I32": ("<i", 4), "BOOL": ("<B", 1)}


def st_file(tensors, meta=None, raw_header=None, pad=True):
    """tensors: list of (name, dtype, shape); data is a counter pattern."""
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dt, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        nb = n * DT[dt][1]
        blobs.append(bytes((i * 37 + 11) & 0xFF for i in range(nb)))
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nb]}
        off += nb
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    h = h.encode("utf-8") if isinstance(h, str) else h
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def safetensors_seeds():
    put("safetensors", "valid-dtypes.safetensors", st_file(
        [("a", "F32", [2, 3]), ("b", "F16", [4]), ("c", "BF16", [2, 2]), ("d", "F64", [1]),
         ("e", "I64", [2]), ("f", "U8", [3, 1, 1]), ("scalar", "F32", []),
         ("empty", "F32", [0, 5])], meta={"format": "pt", "k": "v"}))
    # Just the tensors climp reads to infer a model configuration (tiny shapes).
    m1 = [("vision_encoder.patch_embed.5.weight", "F32", [2, 1, 1, 1]),
          ("vision_encoder.layers.0.blocks.0.norm.weight", "F32", [2]),
          ("vision_encoder.layers.0.blocks.0.op.A_logs", "F32", [16, 1]),
          ("vision_encoder.layers.0.blocks.0.mlp.fc1.weight", "F32", [8, 2]),
          ("text_encoder.embeddings.weight", "F32", [4, 2]),
          ("text_encoder.layers.0.norm.weight", "F32", [2]),
          ("text_encoder.layers.0.mixer.x_proj.weight", "F32", [3, 4]),
          ("text_encoder.layers.0.mixer.A_log", "F32", [4, 1]),
          ("text_encoder.layers.0.mixer.dt_proj.weight", "F32", [4, 1]),
          ("text_encoder.layers.0.mixer.conv1d.weight", "F32", [4, 1, 4]),
          ("text_projection.weight", "F32", [3, 2])]
    put("safetensors", "infer-mamba1.safetensors", st_file(m1))
    m2 = [t for t in m1 if "mixer" not in t[0]] + [
        ("text_encoder.layers.0.mixer.dt_bias", "F32", [2]),
        ("text_encoder.layers.0.mixer.norm.weight", "F32", [4]),
        ("text_encoder.layers.0.mixer.conv1d.weight", "F32", [6, 1, 4])]
    put("safetensors", "infer-mamba2.safetensors", st_file(m2))
    cfg = {"name": "tiny", "vision": {"dims": 8, "depths": [1, 1], "d_state": 1, "ssm_ratio": 2.0,
           "mlp_ratio": 4.0}, "text": {"arch": "mamba1", "d_model": 16, "n_layer": 2, "d_state": 4,
           "expand": 2, "d_conv": 4, "dt_rank": 1, "vocab": 264, "headdim": 0, "ngroups": 1},
           "embed_dim": 12}
    put("safetensors", "config-meta.safetensors", st_file(
        [("logit_scale", "F32", [])], meta={"config": json.dumps(cfg), "format": "climp"}))
    # The real fixture's header with its data cut off (every offset is past the end).
    fx = os.path.join(os.path.dirname(ROOT), "..", "fixtures", "climp_mamba1_tiny.safetensors")
    with open(fx, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    keep = {k: v for k, v in hdr.items() if k != "__metadata__" and not k.startswith(("final.", "grad.", "fixture."))}
    put("safetensors", "fixture-header-truncated.safetensors",
        struct.pack("<Q", len(json.dumps(keep))) + json.dumps(keep).encode() + b"\0" * 64)
    # Hostile files (also used by tests/cli_hostile.sh).
    put("safetensors", "bad-header-beyond-file.safetensors", struct.pack("<Q", 4096) + b"{}")
    put("safetensors", "bad-header-absurd.safetensors", struct.pack("<Q", 200 * 1000 * 1000) + b"{}      ")
    put("safetensors", "bad-short.safetensors", b"\x08\0\0")
    put("safetensors", "bad-json.safetensors", st_file([], raw_header='{"a": {"dtype": "F32",'))
    put("safetensors", "bad-offsets-past-end.safetensors", st_file(
        [], raw_header='{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}') + b"\0" * 8)
    put("safetensors", "bad-overlap.safetensors", st_file(
        [], raw_header='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                       '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}') + b"\0" * 12)
    put("safetensors", "bad-size-mismatch.safetensors", st_file(
        [], raw_header='{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}') + b"\0" * 8)
    put("safetensors", "bad-dtype.safetensors", st_file(
        [], raw_header='{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}') + b"\0" * 8)
    put("safetensors", "bad-duplicate.safetensors", st_file(
        [], raw_header='{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                       '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}') + b"\0" * 8)
    put("safetensors", "bad-negative-dim.safetensors", st_file(
        [], raw_header='{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'))
    put("safetensors", "bad-utf8.safetensors", st_file([], raw_header=b'{"\xff":1}'))


# ---------------------------------------------------------------- tokenizer
def tokenizer_seeds():
    fx = os.path.join(os.path.dirname(ROOT), "..", "fixtures", "tokenizer", "tokenizer.json")
    with open(fx, encoding="utf-8") as f:
        full = json.load(f)
    vocab, merges = full["model"]["vocab"], full["model"]["merges"]
    keep_m = []
    for m in merges[:48]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            keep_m.append(m)
    keep = set()
    for tok, i in vocab.items():
        if i < 256 + 2 or any(tok == (m.replace(" ", "") if isinstance(m, str) else "".join(m)) for m in keep_m):
            keep.add(tok)
    for m in keep_m:
        for part in (m.split(" ") if isinstance(m, str) else m):
            keep.add(part)
    small = dict(full)
    small["model"] = dict(full["model"])
    small["model"]["vocab"] = {k: v for k, v in vocab.items() if k in keep}
    small["model"]["merges"] = keep_m
    small["added_tokens"] = [t for t in full["added_tokens"] if t["id"] in (0, 1, 2000, 2003)]

    def fix_added(obj):  # HF gives added tokens outside the vocab the ids after its entries
        voc, k = obj["model"]["vocab"], 0
        for t in obj["added_tokens"]:
            if t["content"] in voc:
                t["id"] = voc[t["content"]]
            else:
                t["id"] = len(voc) + k
                k += 1
        return obj
    fix_added(small)
    text = "Hello world! <|endoftext|>  caf\u00e9 e\u0301 12345\t\n\u4e16\u754c \U0001f600"
    def tj(obj, txt=text):
        return b"\x01" + json.dumps(obj, ensure_ascii=False).encode() + b"\0" + txt.encode()
    put("tokenizer", "json-small.bin", tj(small))
    pairs = json.loads(json.dumps(small))
    # the other merge form: "a b" strings if the fixture has pairs, and vice versa
    pairs["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m.split(" ") for m in keep_m]
    pairs["normalizer"] = None
    pairs["padding"] = {"pad_id": 1}
    put("tokenizer", "json-pairs-nonorm.bin", tj(pairs))
    unk = json.loads(json.dumps(small))
    unk["model"]["unk_token"] = "<|padding|>"
    unk["model"]["vocab"] = {k: v for k, v in unk["model"]["vocab"].items() if v < 200 or k == "<|padding|>"}
    unk["model"]["merges"] = []
    fix_added(unk)
    put("tokenizer", "json-unk-nomerges.bin", tj(unk, "\u00ff\u0100 caf\u00e9"))
    bad = json.loads(json.dumps(small))
    bad["model"]["merges"] = bad["model"]["merges"][:3] + [["zzzq", "qqzz"]]
    put("tokenizer", "json-bad-merge.bin", tj(bad))
    bad = json.loads(json.dumps(small))
    bad["model"]["vocab"]["X"] = 1 << 25
    put("tokenizer", "json-bad-id.bin", tj(bad))
    put("tokenizer", "json-malformed.bin", b'\x01{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [')
    put("tokenizer", "json-bad-utf8.bin", b'\x01{"model": {"type": "BPE", "vocab": {"\xc3\x28": 0}, "merges": []}}')
    put("tokenizer", "json-wordpiece.bin", b'\x01{"model": {"type": "WordPiece", "vocab": {}}}')
    put("tokenizer", "text-plain.bin", b"\x00" + text.encode())
    put("tokenizer", "text-eot.bin", b"\x02<|endoftext|><|padding|>a<|endoftext|>            spaces")
    put("tokenizer", "text-bad-utf8.bin", b"\x00ab\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 ok\x00nul")
    put("tokenizer", "text-mixed.bin", b"\x02I'm you'll 's 're 've 'd 'll 123 4567 !!! ???\r\n\t  x" + "\u0915\u094d\u0937 \u00c5\u212b".encode())


# ---------------------------------------------------------------- images
def png(img, **kw):
    b = io.BytesIO()
    img.save(b, "PNG", **kw)
    return b.getvalue()


def jpeg(img, **kw):
    b = io.BytesIO()
    img.save(b, "JPEG", **kw)
    return b.getvalue()


def image_seeds():
    rgb = Image.new("RGB", (5, 4))
    rgb.putdata([(40 * x, 60 * y, 90) for y in range(4) for x in range(5)])
    put("image", "rgb.png", png(rgb))
    put("image", "grey.png", png(rgb.convert("L")))
    put("image", "palette.png", png(rgb.convert("P")))
    put("image", "rgba.png", png(rgb.convert("RGBA")))
    put("image", "grey16.png", png(Image.new("I;16", (3, 3), 40000)))
    put("image", "one.png", png(Image.new("RGB", (1, 1), (9, 8, 7))))
    put("image", "rgb.jpg", jpeg(rgb, quality=90))
    put("image", "progressive.jpg", jpeg(rgb, progressive=True))
    put("image", "grey.jpg", jpeg(rgb.convert("L")))
    put("image", "cmyk.jpg", jpeg(rgb.convert("CMYK")))
    put("image", "subsampled.jpg", jpeg(Image.new("RGB", (17, 9), (200, 10, 30)), subsampling=2))
    b = io.BytesIO(); rgb.save(b, "BMP"); put("image", "rgb.bmp", b.getvalue())
    b = io.BytesIO(); rgb.convert("P").save(b, "BMP"); put("image", "palette.bmp", b.getvalue())
    b = io.BytesIO(); rgb.save(b, "GIF"); put("image", "rgb.gif", b.getvalue())
    # Declared 20000 x 20000 (refused before decoding) and zero-sized.
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    sig = b"\x89PNG\r\n\x1a\n"
    put("image", "huge-declared.png", sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)) +
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    put("image", "zero-size.png", sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 7, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""))
    put("image", "truncated.jpg", jpeg(rgb)[:60])
    put("image", "truncated.png", png(rgb)[:45])


# ---------------------------------------------------------------- TSV / CSV
def tsv_seeds():
    put("tsv", "basic.tsv", "filepath\ttitle\na.bmp\ta red thing\nb.bmp\tone pixel\nmissing.png\tno file\n")
    put("tsv", "quoted.csv", 'title,filepath,extra\n"a ""quoted"", caption",a.bmp,x\n"multi\nline",b.bmp,y\n'
        'short\n,a.bmp,empty caption\n"never closed,b.bmp\n')
    put("tsv", "bom-crlf.tsv", b"\xef\xbb\xbffilepath\ttitle\r\na.bmp\tcrlf row\r\n\r\nb.bmp\tafter a blank\r")
    put("tsv", "bad-utf8.tsv", b"filepath\ttitle\na.bmp\tbad \xff\xfe utf8\nb.bmp\tnul \x00 byte\na.bmp\tok\n")
    put("tsv", "long-caption.tsv", "filepath\ttitle\na.bmp\t" + "\u00e9" * 60 + "\nb.bmp\t" + "x" * 100 + "\n")
    put("tsv", "paths.tsv", "title\tfilepath\nabs\t/etc/hostname\ntraversal\t../../etc/passwd\ndir\tsub/a.bmp\nself\tfuzz.tsv\n\t\n")
    put("tsv", "no-columns.tsv", "path\tcaption\na.bmp\tx\n")


# ---------------------------------------------------------------- tar shards
def tar_bytes(members, fmt=tarfile.USTAR_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    raw = b.getvalue()  # drop the record padding after the two end-of-archive blocks
    last = max(i for i in range(0, len(raw), 512) if any(raw[i:i + 512]))
    return raw[:last + 512 + 1024]


def tar_seeds():
    rgb = Image.new("RGB", (3, 2), (10, 200, 30))
    p, j = png(rgb), jpeg(rgb)
    ok = [("000000.jpg", j), ("000000.txt", b"a green image"), ("000000.json", b"{}"),
          ("000001.png", p), ("000001.txt", b"  padded caption \n")]
    put("tar", "basic.tar", tar_bytes(ok))
    put("tar", "gnu-longname.tar", tar_bytes([("d/" + "k" * 120 + ".png", p), ("d/" + "k" * 120 + ".txt", b"long name")],
                                             tarfile.GNU_FORMAT))
    put("tar", "pax.tar", tar_bytes([("p\u00e9/x.png", p), ("p\u00e9/x.txt", "pax caf\u00e9".encode())],
                                    tarfile.PAX_FORMAT))
    put("tar", "hostile.tar", tar_bytes([("../evil.png", p), ("../evil.txt", b"escape"), ("/abs.png", p),
                                         ("/abs.txt", b"abs"), ("w.webp", b"RIFF"), ("w.txt", b"webp only"),
                                         ("solo.png", p), ("e.png", p), ("e.txt", b"   "),
                                         ("u.png", p), ("u.txt", b"bad \xff utf8"), ("big.png", p),
                                         ("big.txt", ("\u00e9" * 40).encode())]))
    whole = tar_bytes(ok)
    put("tar", "truncated.tar", whole[:1536 + 100])
    big = bytearray(tar_bytes([("x.png", p), ("x.txt", b"caption")]))
    big[124:136] = b"77777777777\0"  # size field larger than the archive (checksum now wrong)
    s = sum(big[:148]) + 8 * 32 + sum(big[156:512])
    big[148:156] = b"%06o\0 " % s
    put("tar", "member-too-large.tar", bytes(big))


safetensors_seeds()
tokenizer_seeds()
image_seeds()
tsv_seeds()
tar_seeds()
total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(ROOT) for f in fs)
print("seeds written to %s: %d bytes" % (ROOT, total))
