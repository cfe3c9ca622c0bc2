#!/usr/bin/python3
"""Write the CLIMP parity fixtures tests/fixtures/*.safetensors, after self-checking the reference.

    /usr/bin/python3 tests/reference/make_fixtures.py            # self-checks, then fixtures
    /usr/bin/python3 tests/reference/make_fixtures.py --check-only
    /usr/bin/python3 tests/reference/make_fixtures.py --skip-checks --out-dir /tmp/fx
    /usr/bin/python3 tests/reference/make_fixtures.py --skip-checks --cli   # only tests/fixtures/cli/

Each fixture holds the initial weights under their CLIMP key names, inputs/outputs under
`fixture.*`, one gradient per parameter under `grad.<name>`, the weights after the optimizer steps
under `final.<name>`, and __metadata__ (config JSON, captions, optimizer settings). Everything is
computed in float64 from float32-representable weights and inputs, then stored as float32.
With --cli it writes only tests/fixtures/cli/: a checkpoint, PNG images and a TSV that `climp embed`
and `climp train` read, with the embeddings and losses they must reproduce (tests/cli_parity.sh).
See tests/reference/README.md.
"""
import argparse
import copy
import json
import math
import os
import random
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climp_ref as R  # noqa: E402
import safetensors_io as st  # noqa: E402

SEED = 1234
TRAIN = {"optimizer": "adamw", "steps": 5, "lr": 1e-3, "betas": [0.9, 0.98], "eps": 1e-6,
         "weight_decay": 0.1, "logit_scale_clamp": [0.0, R.LOGIT_SCALE_MAX]}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# ---------------------------------------------------------------------------------------------
# Self-checks of the reference itself
# ---------------------------------------------------------------------------------------------

FAILS = []


def check(name, got, ref, tol=1e-9):
    got, ref = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(ref, dtype=torch.float64)
    err = (got - ref).abs().max().item() if got.numel() else 0.0
    scale = max(ref.abs().max().item() if ref.numel() else 0.0, 1.0)
    ok = got.shape == ref.shape and err <= tol * scale and math.isfinite(err)
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: max|diff| {err:.3e} (tol {tol:.0e} x {scale:.3g})")
    if not ok:
        FAILS.append(name)


def check_eq(name, got, ref):
    ok = got == ref
    if isinstance(got, dict):  # shape tables: report a summary and the first differences
        diff = sorted(set(got.items()) ^ set(ref.items()))[:6]
        msg = f"{len(got)} entries" + ("" if ok else f"; differences {diff}")
    else:
        msg = f"{got}" + ("" if ok else f" != {ref}")
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {msg}")
    if not ok:
        FAILS.append(name)


def chunked_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                           delta_softplus=True, chunk=8):
    """Alternative formulation: closed form inside chunks of `chunk` steps,
    s_t = exp(cum_t) s_in + sum_{tau<=t} exp(cum_t - cum_tau) delta_tau B_tau u_tau,
    cum = cumsum(delta A) within the chunk, state carried between chunks."""
    Bt, Dc, L = u.shape
    G = B.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    Bx = B.repeat_interleave(Dc // G, dim=1).transpose(2, 3)  # (Bt, Dc, L, N)
    Cx = C.repeat_interleave(Dc // G, dim=1).transpose(2, 3)
    s = u.new_zeros(Bt, Dc, A.shape[1])
    ys = []
    for c0 in range(0, L, chunk):
        c1 = min(c0 + chunk, L)
        Q = c1 - c0
        a = delta[:, :, c0:c1, None] * A[None, :, None, :]  # (Bt, Dc, Q, N)
        cum = a.cumsum(2)
        seg = cum[:, :, :, None, :] - cum[:, :, None, :, :]  # [t, tau] = cum_t - cum_tau
        mask = torch.tril(torch.ones(Q, Q, dtype=torch.bool))[None, None, :, :, None]
        W = torch.exp(seg.masked_fill(~mask, -math.inf))
        dBu = (delta[:, :, c0:c1] * u[:, :, c0:c1])[..., None] * Bx[:, :, c0:c1]  # (Bt,Dc,Q,N)
        st_ = torch.exp(cum) * s[:, :, None, :] + (W * dBu[:, :, None, :, :]).sum(3)
        ys.append((st_ * Cx[:, :, c0:c1]).sum(-1))
        s = st_[:, :, -1]
    y = torch.cat(ys, dim=-1)
    if D is not None:
        y = y + u * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def _segsum(x):
    """Stable segment sum from ssd_minimal.py: out[..., i, j] = sum_{k=j+1..i} x_k, -inf above."""
    T = x.size(-1)
    x = x[..., None].expand(*x.shape, T)
    x = x.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1), 0)
    xs = torch.cumsum(x, dim=-2)
    return xs.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=0), -math.inf)


def ssd_minimal(x, dt, A, B, C, D, block_len):
    """Chunked SSD (§3.3, ssd_minimal_discrete), padded with dt = 0 to a multiple of block_len.
    x (b, L, h, p), dt (b, L, h), A (h,), B, C (b, L, g, n). Returns (b, L, h, p) incl. D x."""
    b, L, h, p = x.shape
    Lp = -(-L // block_len) * block_len
    pad = Lp - L
    X = F.pad(x * dt[..., None], (0, 0, 0, 0, 0, pad))
    Ad = F.pad(dt * A, (0, 0, 0, pad))
    Bh = F.pad(B.repeat_interleave(h // B.shape[2], dim=2), (0, 0, 0, 0, 0, pad))
    Ch = F.pad(C.repeat_interleave(h // C.shape[2], dim=2), (0, 0, 0, 0, 0, pad))
    c = Lp // block_len
    X, Bh, Ch = (t.reshape(b, c, block_len, *t.shape[2:]) for t in (X, Bh, Ch))
    Ad = Ad.reshape(b, c, block_len, h).permute(0, 3, 1, 2)  # (b, h, c, l)
    Acum = torch.cumsum(Ad, dim=-1)
    Lm = torch.exp(_segsum(Ad))
    Y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", Ch, Bh, Lm, X)
    decay_states = torch.exp(Acum[:, :, :, -1:] - Acum)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", Bh, decay_states, X)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(_segsum(F.pad(Acum[:, :, :, -1], (1, 0))))
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Ch, new_states, torch.exp(Acum))
    Y = (Y_diag + Y_off).reshape(b, Lp, h, p)[:, :L]
    return Y + x * D[None, None, :, None]


def _grads(out, inputs, seed=7):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out.shape, generator=g)
    return torch.autograd.grad((out * w).sum(), inputs)


def selfcheck_scan():
    print("selective scan: sequential loop vs chunked closed form (values and all gradients)")
    g = torch.Generator().manual_seed(11)
    Bt, Dc, L, N, G = 2, 6, 37, 3, 2
    rn = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    u, delta, z = rn(Bt, Dc, L), rn(Bt, Dc, L), rn(Bt, Dc, L)
    A = -torch.exp(rn(Dc, N) * 0.5)
    B, C, D, bias = rn(Bt, G, N, L), rn(Bt, G, N, L), rn(Dc), rn(Dc) * 0.5
    ins = [t.requires_grad_() for t in (u, delta, A, B, C, D, z, bias)]
    for zz in (None, z):
        y1 = R.selective_scan(u, delta, A, B, C, D, zz, bias, True)
        y2 = chunked_selective_scan(u, delta, A, B, C, D, zz, bias, True, chunk=8)
        tag = "with z" if zz is not None else "no z"
        check(f"scan forward ({tag})", y1, y2, 1e-12)
        used = [t for t in ins if zz is not None or t is not z]
        for n_, a, b in zip("u delta A B C D z bias".split(), _grads(y1, used), _grads(y2, used)):
            check(f"scan d{n_} ({tag})", a, b, 1e-11)
    # a long sequence with large delta: chunk boundaries and decays to ~0
    y1 = R.selective_scan(u.detach(), delta.detach() * 4, A.detach(), B.detach(), C.detach())
    y2 = chunked_selective_scan(u.detach(), delta.detach() * 4, A.detach(), B.detach(),
                                C.detach(), chunk=5)
    check("scan forward, large delta, chunk 5", y1, y2, 1e-12)
    # explicit per-element recurrence for one (b, e): the literal formula of §1.3
    b, e = 1, 4
    dl = F.softplus(delta.detach()[b, e] + bias.detach()[e])
    grp = e // (Dc // G)
    s = torch.zeros(N)
    yref = []
    for t in range(L):
        s = torch.exp(dl[t] * A.detach()[e]) * s + dl[t] * B.detach()[b, grp, :, t] * u.detach()[b, e, t]
        yt = (C.detach()[b, grp, :, t] * s).sum() + D.detach()[e] * u.detach()[b, e, t]
        yref.append(yt * F.silu(z.detach()[b, e, t]))
    y1 = R.selective_scan(u.detach(), delta.detach(), A.detach(), B.detach(), C.detach(),
                          D.detach(), z.detach(), bias.detach(), True)
    check("scan vs literal per-element recurrence", y1[b, e], torch.stack(yref), 1e-12)


def selfcheck_conv_crossscan():
    print("causal conv1d and CrossScan/CrossMerge vs the index formulas")
    g = torch.Generator().manual_seed(12)
    x, w, bb = torch.randn(2, 5, 9, generator=g), torch.randn(5, 1, 4, generator=g), torch.randn(5, generator=g)
    ref = torch.zeros_like(x) + bb[None, :, None]
    for t in range(9):
        for k in range(4):
            if t + k - 3 >= 0:
                ref[:, :, t] += w[None, :, 0, k] * x[:, :, t + k - 3]
    check("causal_conv1d", R.causal_conv1d(x, w, bb), ref, 1e-13)
    B, E, H, W = 2, 3, 5, 7
    x = torch.randn(B, E, H, W, generator=g)
    L = H * W
    xs = torch.zeros(B, 4, E, L)
    for l in range(L):
        xs[:, 0, :, l] = x[:, :, l // W, l % W]
        xs[:, 1, :, l] = x[:, :, l % H, l // H]
    xs[:, 2] = xs[:, 0].flip(-1)
    xs[:, 3] = xs[:, 1].flip(-1)
    check("cross_scan", R.cross_scan(x), xs, 0)
    ys = torch.randn(B, 4, E, L, generator=g)
    y = torch.zeros(B, E, H, W)
    for h in range(H):
        for w_ in range(W):
            y[:, :, h, w_] = (ys[:, 0, :, h * W + w_] + ys[:, 1, :, w_ * H + h]
                              + ys[:, 2, :, L - 1 - (h * W + w_)] + ys[:, 3, :, L - 1 - (w_ * H + h)])
    check("cross_merge", R.cross_merge(ys, H, W), y, 1e-15)
    check("cross_merge is the adjoint of cross_scan",
          (R.cross_scan(x) * ys).sum(), (x * R.cross_merge(ys, H, W)).sum(), 1e-13)


def selfcheck_mamba2():
    print("Mamba-2: per-head recurrence vs Mamba-1 scan equivalence (§3.2) vs chunked SSD (§3.3)")
    t = {"arch": "mamba2", "d_model": 16, "n_layer": 2, "d_state": 5, "expand": 2, "d_conv": 4,
         "dt_rank": 0, "vocab": 264, "headdim": 8, "ngroups": 2}
    torch.manual_seed(21)
    mix = R.Mamba2Mixer(t)
    mix.init_weights(2)
    with torch.no_grad():  # make D, norm weight non-trivial
        mix.D.normal_()
        mix.norm.weight.normal_(1.0, 0.2)
    u = torch.randn(2, 29, 16)
    Bt, L = 2, 29
    E, H, P, G, N = mix.E, mix.H, mix.P, mix.G, mix.N
    z, x, dt, A, B, C = mix.split_inputs(u)
    y_dir = R.mamba2_ssm(x, dt, A, B, C, mix.D)
    # §3.2: dim = H*P, delta[hP+p] = dt_raw[h] (bias and softplus inside), A[hP+p, n] = A[h]
    zxbcdt = mix.in_proj(u)
    dt_raw = zxbcdt[..., 2 * E + 2 * G * N:]  # (Bt, L, H)
    y_m1 = R.selective_scan(
        x.reshape(Bt, L, H * P).transpose(1, 2),
        dt_raw.repeat_interleave(P, dim=2).transpose(1, 2),
        A.repeat_interleave(P)[:, None].expand(H * P, N),
        B.permute(0, 2, 3, 1), C.permute(0, 2, 3, 1),
        D=mix.D.repeat_interleave(P), delta_bias=mix.dt_bias.repeat_interleave(P),
        delta_softplus=True)
    check("mamba2 direct vs mamba1-scan form", y_dir.reshape(Bt, L, E),
          y_m1.transpose(1, 2), 1e-12)
    for Q in (8, 29, 32):
        check(f"mamba2 direct vs chunked SSD (chunk {Q})", y_dir, ssd_minimal(x, dt, A, B, C, mix.D, Q), 1e-11)
    # gated RMSNorm over groups of E/G vs a literal per-group loop
    y = y_dir.reshape(Bt, L, E)
    v = y * F.silu(z)
    ref = torch.empty_like(v)
    gs = E // G
    for gi in range(G):
        vg = v[..., gi * gs:(gi + 1) * gs]
        ref[..., gi * gs:(gi + 1) * gs] = vg / torch.sqrt((vg * vg).mean(-1, keepdim=True) + 1e-5)
    check("gated RMSNorm", mix.norm(y, z), ref * mix.norm.weight, 1e-13)
    check("mixer output", mix(u), mix.out_proj(ref * mix.norm.weight), 1e-13)


def selfcheck_loss():
    print("InfoNCE gradient vs the closed forms of §5.2")
    g = torch.Generator().manual_seed(13)
    n, em = 4, 6
    ii = F.normalize(torch.randn(n, em, generator=g), dim=-1).requires_grad_()
    tt = F.normalize(torch.randn(n, em, generator=g), dim=-1).requires_grad_()
    ls = torch.tensor(R.LOGIT_SCALE_INIT).requires_grad_()
    loss = R.clip_loss(ii, tt, ls)
    gi, gt, gl = torch.autograd.grad(loss, (ii, tt, ls))
    s = math.exp(R.LOGIT_SCALE_INIT)
    with torch.no_grad():
        M = s * ii @ tt.t()
        P, Q, I = M.softmax(1), M.t().softmax(1), torch.eye(n)
        dM = (P - I) / (2 * n) + ((Q - I) / (2 * n)).t()
        lref = 0.5 * (-(P.diagonal().log().mean()) - Q.diagonal().log().mean())
    check("loss value", loss, lref, 1e-14)
    check("dI", gi, s * dM @ tt, 1e-14)
    check("dT", gt, s * dM.t() @ ii, 1e-14)
    check("dlogit_scale", gl, (dM * M).sum(), 1e-14)


def selfcheck_params():
    print("parameter tables: shape arithmetic vs built modules vs the spec totals")
    cfgs = [fixture_configs()[k][0] for k in sorted(fixture_configs())]
    cfgs.append({"vision": {"dims": 16, "depths": [2, 1, 3], "d_state": 3, "ssm_ratio": 1.5,
                            "mlp_ratio": 2.0},
                 "text": {"arch": "mamba2", "d_model": 40, "n_layer": 3, "d_state": 6,
                          "expand": 2, "d_conv": 3, "dt_rank": 0, "vocab": 100, "headdim": 10,
                          "ngroups": 2}, "embed_dim": 7})
    for cfg in cfgs:
        m = R.build(cfg, seed=0)
        got = {n: tuple(p.shape) for n, p in m.named_parameters()}
        want = dict(R.climp_param_shapes(cfg))
        check_eq(f"named_parameters == shape table ({cfg['text']['arch']}, dims {cfg['vision']['dims']},"
                 f" depths {cfg['vision']['depths']})", got, want)
        check_eq("  state_dict keys == parameter names", sorted(m.state_dict()) == sorted(got), True)
    for name, want in (("climp-b-mamba1", 1462072065), ("climp-b-mamba2", 1433650945)):
        cfg = R.PRESETS[name]
        check_eq(f"{name} by arithmetic", R.count(R.climp_param_shapes(cfg)), want)
        meta = R.build(cfg, device="meta")
        check_eq(f"{name} on meta device", sum(p.numel() for p in meta.parameters()), want)
        check_eq(f"{name} meta shapes == table",
                 {n: tuple(p.shape) for n, p in meta.named_parameters()},
                 dict(R.climp_param_shapes(cfg)))
    check_eq("vmamba-b without head", R.count(R.vision_param_shapes(R.PRESETS["vmamba-b"])), 87532800)
    check_eq("mamba-130m", R.count(R.text_param_shapes(R.PRESETS["mamba-130m"])), 129135360)
    with R.on_device("meta"):
        tb = R.MambaBackbone(R.PRESETS["mamba-130m"])
    check_eq("mamba-130m on meta device", sum(p.numel() for p in tb.parameters()), 129135360)


def selfcheck_model():
    print("whole model: padding independence, directional finite difference of the loss")
    cfg, images, captions = fixture_configs()["climp_mamba1_tiny"]
    m = R.build(cfg, seed=3)
    ids, lengths = R.bytes_tokenize(captions)
    pooled = m.encode_text(ids, lengths)
    for i, c in enumerate(captions):
        ii, ll = R.bytes_tokenize([c])
        check(f"caption {i} pooled: padded batch vs alone at true length",
              pooled[i], m.encode_text(ii, ll)[0], 1e-13)
    for key in ("climp_mamba1_tiny", "climp_mamba2_tiny"):
        cfg, images, captions = fixture_configs()[key]
        m = R.build(cfg, seed=5)
        ids, lengths = R.bytes_tokenize(captions)
        imgs = images(torch.Generator().manual_seed(1))
        params = [p for p in m.parameters()]
        loss = m(imgs, ids, lengths)["loss"]
        grads = torch.autograd.grad(loss, params)
        g = torch.Generator().manual_seed(2)
        dirs = [torch.randn(p.shape, generator=g) for p in params]
        norm = math.sqrt(sum(float((d * d).sum()) for d in dirs))
        dirs = [d / norm for d in dirs]  # unit-norm direction over all parameters
        eps = 1e-6
        with torch.no_grad():
            for p, d in zip(params, dirs):
                p.add_(eps * d)
            lp = m(imgs, ids, lengths)["loss"]
            for p, d in zip(params, dirs):
                p.sub_(2 * eps * d)
            lm = m(imgs, ids, lengths)["loss"]
            for p, d in zip(params, dirs):
                p.add_(eps * d)
        fd = (lp - lm) / (2 * eps)
        an = sum((gg * d).sum() for gg, d in zip(grads, dirs))
        check(f"{key}: d loss along a random direction, autograd vs central FD", an, fd, 1e-7)


def selfcheck_init():
    print("initialisation follows §1.6 / §3.1 / §4.9 (ranges and constants)")
    cfg = {"vision": {"dims": 32, "depths": [1, 1], "d_state": 3, "ssm_ratio": 2.0, "mlp_ratio": 4.0},
           "text": {"arch": "mamba1", "d_model": 64, "n_layer": 4, "d_state": 5, "expand": 2,
                    "d_conv": 4, "dt_rank": 4, "vocab": 264, "headdim": 0, "ngroups": 1},
           "embed_dim": 12}
    cfg2 = dict(cfg, text={"arch": "mamba2", "d_model": 64, "n_layer": 4, "d_state": 5,
                           "expand": 2, "d_conv": 4, "dt_rank": 0, "vocab": 264, "headdim": 16,
                           "ngroups": 1})
    m, m2 = R.build(cfg, seed=9), R.build(cfg2, seed=9)
    sd, sd2 = dict(m.named_parameters()), dict(m2.named_parameters())
    v, t, t2 = "vision_encoder.layers.0.blocks.0.op.", "text_encoder.layers.0.mixer.", "text_encoder.layers.0.mixer."
    inrange = lambda x, lo, hi: bool((x >= lo).all() and (x <= hi).all())  # noqa: E731
    dt = F.softplus(sd[v + "dt_projs_bias"])
    check_eq("VMamba softplus(dt_projs_bias) in [1e-4, 0.1]", inrange(dt, 1e-4 - 1e-12, 0.1 + 1e-12), True)
    check("VMamba A_logs = ln(n+1)", sd[v + "A_logs"], torch.log(torch.arange(1., 4.)).repeat(256, 1), 0)
    check("VMamba Ds = 1", sd[v + "Ds"], torch.ones(256), 0)
    check_eq("VMamba dt_projs_weight in +-R^-1/2 (R=2)",
             inrange(sd[v + "dt_projs_weight"], -2 ** -0.5, 2 ** -0.5), True)
    check_eq("VMamba x_proj_weight in +-E^-1/2", inrange(sd[v + "x_proj_weight"], -64 ** -0.5, 64 ** -0.5), True)
    w = sd[v + "in_proj.weight"]
    check_eq("VMamba in_proj trunc_normal std 0.02 (sample std in [0.017, 0.023])",
             0.017 < float(w.std()) < 0.023, True)
    check("VMamba fc1.bias = 0", sd["vision_encoder.layers.0.blocks.0.mlp.fc1.bias"], torch.zeros(128), 0)
    check("VMamba norm weight = 1", sd["vision_encoder.layers.0.blocks.0.norm.weight"], torch.ones(32), 0)
    check_eq("Mamba-1 out_proj in +-E^-1/2 / sqrt(n_layer)",
             inrange(sd[t + "out_proj.weight"], -(128 ** -0.5) / 2, (128 ** -0.5) / 2), True)
    check_eq("Mamba-1 softplus(dt_proj.bias) in [1e-4, 0.1]",
             inrange(F.softplus(sd[t + "dt_proj.bias"]), 1e-4 - 1e-12, 0.1 + 1e-12), True)
    check("Mamba-1 A_log = ln(n+1)", sd[t + "A_log"], torch.log(torch.arange(1., 6.)).repeat(128, 1), 0)
    check_eq("embedding std 0.02 (sample std in [0.018, 0.022])",
             0.018 < float(sd["text_encoder.embeddings.weight"].std()) < 0.022, True)
    check_eq("Mamba-2 -exp(A_log) in [-16, -1]", inrange(torch.exp(sd2[t2 + "A_log"]), 1, 16), True)
    check_eq("Mamba-2 softplus(dt_bias) in [1e-4, 0.1]",
             inrange(F.softplus(sd2[t2 + "dt_bias"]), 1e-4 - 1e-12, 0.1 + 1e-12), True)
    check("logit_scale = ln(1/0.07)", sd["logit_scale"], torch.tensor(math.log(1 / 0.07)), 1e-15)


def selfcheck_io(tmpdir):
    print("safetensors writer/reader round trip")
    t = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array(2.5, dtype=np.float32),
         "i": np.array([1, -2], dtype=np.int32), "e": np.zeros((0, 3), dtype=np.float32)}
    path = os.path.join(tmpdir, "roundtrip.safetensors")
    st.save_file(t, path, {"k": "v"})
    back, meta = st.load_file(path)
    ok = meta == {"k": "v"} and set(back) == set(t) and all(
        back[k].dtype == t[k].dtype and back[k].shape == t[k].shape and np.array_equal(back[k], t[k])
        for k in t)
    check_eq("round trip (F32, I32, 0-dim, empty)", ok, True)
    os.remove(path)


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

def _printable(rng, nbytes):
    return "".join(chr(rng.randrange(32, 127)) for _ in range(nbytes))


def _images(B, H, W):
    def make(gen):
        pix = torch.rand(B, 3, H, W, generator=gen)  # "pixels" in [0, 1], then ImageNet-normalised
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (pix - mean) / std
    return make


def fixture_configs():
    """{name: (config, images(generator) -> (B,3,H,W), captions)}"""
    vis = {"dims": 8, "depths": [1, 1], "d_state": 1, "ssm_ratio": 2.0, "mlp_ratio": 4.0}
    m1 = {"arch": "mamba1", "d_model": 16, "n_layer": 2, "d_state": 4, "expand": 2, "d_conv": 4,
          "dt_rank": 1, "vocab": 264, "headdim": 0, "ngroups": 1}
    m2 = {"arch": "mamba2", "d_model": 16, "n_layer": 2, "d_state": 8, "expand": 2, "d_conv": 4,
          "dt_rank": 0, "vocab": 264, "headdim": 8, "ngroups": 1}
    caps = ["a red circle", "a small blue square at the top left", "x"]
    rng = random.Random(SEED)
    long1 = _printable(rng, 310)
    tail = " caf\u00e9 na\u00efve \u6f22\u5b57 \u2014 "  # multi-byte UTF-8 (2- and 3-byte)
    long2 = _printable(rng, 150 - len(tail.encode("utf-8"))) + tail
    assert len(long1.encode()) == 310 and len(long2.encode()) == 150
    vis_odd = {"dims": 8, "depths": [1, 2, 1], "d_state": 2, "ssm_ratio": 2.0, "mlp_ratio": 4.0}
    return {
        "climp_mamba1_tiny": ({"vision": vis, "text": m1, "embed_dim": 12}, _images(3, 32, 32), caps),
        "climp_mamba2_tiny": ({"vision": vis, "text": m2, "embed_dim": 12}, _images(3, 32, 32), caps),
        "vmamba_odd": ({"vision": vis_odd, "text": m1, "embed_dim": 12}, _images(2, 45, 71),
                       [long1, long2]),
    }


def perturb_constant_inits(model, gen):
    """Spec init sets many tensors to constants (norm weights 1, biases 0, D/Ds 1, A_log(s) equal
    across channels). A parity test would not notice e.g. a dropped LayerNorm bias, so the
    fixtures add N(0, 0.1^2) to every such tensor (all parameters whose values are all equal, plus
    A_log/A_logs); logit_scale is kept at ln(1/0.07). Returns the names perturbed."""
    names = []
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n == "logit_scale":
                continue
            if n.endswith("A_log") or n.endswith("A_logs") or bool((p == p.flatten()[0]).all()):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
                names.append(n)
    return names


def run_trajectory(model, images, ids, lengths, grad_clip=None, grad_norms=None):
    """Forward/backward at the initial weights, then TRAIN["steps"] AdamW steps on the same batch.
    Returns float32 numpy arrays: fixture.{image,text}_{embeds,pooled}, fixture.loss, grad.<name>
    (step 0), final.<name>, fixture.train_losses, fixture.final_logit_scale. With grad_clip, the
    global gradient norm is clipped to it before each step (torch.nn.utils.clip_grad_norm_:
    g *= min(1, clip / (norm + 1e-6))); grad_norms, a list, receives the norms before clipping."""
    out_t = {}
    named = list(model.named_parameters())
    decay = [p for n, p in named if R.weight_decay_applies(n, tuple(p.shape))]
    no_decay = [p for n, p in named if not R.weight_decay_applies(n, tuple(p.shape))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=TRAIN["lr"], betas=tuple(TRAIN["betas"]), eps=TRAIN["eps"])
    losses = []
    for step in range(TRAIN["steps"]):
        opt.zero_grad(set_to_none=True)
        out = model(images, ids, lengths)
        out["loss"].backward()
        if step == 0:
            for k in ("image_embeds", "text_embeds", "image_pooled", "text_pooled"):
                out_t["fixture." + k] = out[k].detach().float().numpy()
            out_t["fixture.loss"] = out["loss"].detach().float().reshape(1).numpy()
            for n, p in named:
                assert p.grad is not None and torch.isfinite(p.grad).all(), n
                out_t["grad." + n] = p.grad.float().numpy().copy()
        losses.append(out["loss"].item())
        if grad_clip is not None or grad_norms is not None:
            norm = torch.nn.utils.clip_grad_norm_(
                [p for _, p in named], grad_clip if grad_clip is not None else math.inf)
            if grad_norms is not None:
                grad_norms.append(float(norm))
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(*TRAIN["logit_scale_clamp"])
    for n, p in named:
        out_t["final." + n] = p.detach().float().numpy().copy()
    out_t["fixture.train_losses"] = np.array(losses, dtype=np.float32)
    out_t["fixture.final_logit_scale"] = np.array([model.logit_scale.item()], dtype=np.float32)
    return out_t


def make_fixture(name, cfg, images_fn, captions, out_dir):
    t0 = time.time()
    torch.set_default_dtype(torch.float64)
    model = R.build(cfg, seed=SEED)
    perturbed = perturb_constant_inits(model, torch.Generator().manual_seed(SEED + 1))
    with torch.no_grad():  # make every weight exactly float32-representable
        for p in model.parameters():
            p.copy_(p.float().double())
    images = images_fn(torch.Generator().manual_seed(SEED + 2)).float().double()
    ids, lengths = R.bytes_tokenize(captions)
    assert int(ids.max()) < cfg["text"]["vocab"]

    model32 = copy.deepcopy(model).float()  # for the float32 replay below (not stored)
    tensors = {n: p.detach().float().numpy().copy() for n, p in model.named_parameters()}
    tensors.update(run_trajectory(model, images, ids, lengths))
    # Replay the same computation in float32 PyTorch: its distance to the float64 fixture is what
    # a correct float32 implementation can be expected to reach (a guide for test tolerances).
    rep = run_trajectory(model32, images.float(), ids, lengths)
    replay = {}
    for k, v in rep.items():
        ref = tensors[k].astype(np.float64)
        scale = max(float(np.abs(ref).max()), 1e-30)
        replay[k] = float(np.abs(v.astype(np.float64) - ref).max()) / scale
    worst = lambda pre: max(v for k, v in replay.items() if k.startswith(pre))  # noqa: E731
    replay_summary = {k: replay[k] for k in replay if k.startswith("fixture.")}
    replay_summary.update({"grad.* (worst)": worst("grad."), "final.* (worst)": worst("final.")})
    print("  float32 replay, max|fp32-fp64| / max|fp64| per tensor: " + ", ".join(
        f"{k} {v:.1e}" for k, v in replay_summary.items()))
    tensors["fixture.images"] = images.float().numpy()
    tensors["fixture.token_ids"] = ids.numpy().astype(np.int32)
    tensors["fixture.lengths"] = lengths.numpy().astype(np.int32)

    meta = {
        "config": json.dumps(cfg),
        "format": "climp-fixture-1",
        "captions": json.dumps(captions, ensure_ascii=False),
        "tokenizer": "bytes",
        "train": json.dumps(dict(TRAIN, decay_rule="ndim>=2 and name !~ /bias$/ and leaf not in "
                                 "{A_log,A_logs} and not embeddings",
                                 loss_of_step="loss of the batch before that step's update")),
        "precision": "float64 compute from float32-representable weights and inputs; stored F32",
        "seed": str(SEED),
        "init": "spec init (architecture.md 1.6, 3.1, 4.9 ssm_init v0), then N(0,0.1^2) added to "
                "constant-initialised tensors and A_log/A_logs: " + json.dumps(perturbed),
        "generator": "tests/reference/make_fixtures.py",
        "torch": torch.__version__,
        "fp32_replay_rel_maxdiff": json.dumps(replay_summary),
    }
    path = os.path.join(out_dir, name + ".safetensors")
    st.save_file(tensors, path, meta)
    torch.set_default_dtype(torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"  wrote {path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors, {n_params} "
          f"params, losses {np.round(tensors['fixture.train_losses'], 6).tolist()}, {time.time() - t0:.1f} s")
    return path


def verify_fixture(path, cfg):
    """Re-load the file and recompute the forward from its stored F32 weights."""
    tensors, meta = st.load_file(path)
    assert json.loads(meta["config"]) == cfg
    torch.set_default_dtype(torch.float64)
    m = R.build(cfg, seed=0)
    sd = {n: torch.from_numpy(tensors[n]).double() for n, _ in m.named_parameters()}
    m.load_state_dict(sd, strict=True)
    out = m(torch.from_numpy(tensors["fixture.images"]).double(),
            torch.from_numpy(tensors["fixture.token_ids"]).long(),
            torch.from_numpy(tensors["fixture.lengths"]).long())
    check(f"{os.path.basename(path)}: reload + forward, loss", out["loss"].reshape(1),
          torch.from_numpy(tensors["fixture.loss"]), 1e-6)
    check(f"{os.path.basename(path)}: reload + forward, image_embeds", out["image_embeds"],
          torch.from_numpy(tensors["fixture.image_embeds"]), 1e-6)
    check(f"{os.path.basename(path)}: reload + forward, text_embeds", out["text_embeds"],
          torch.from_numpy(tensors["fixture.text_embeds"]), 1e-6)
    names = {n for n, _ in m.named_parameters()}
    check_eq(f"{os.path.basename(path)}: grad.* and final.* for every parameter",
             {k[5:] for k in tensors if k.startswith("grad.")} == names
             and {k[6:] for k in tensors if k.startswith("final.")} == names, True)
    torch.set_default_dtype(torch.float32)


# ---------------------------------------------------------------------------------------------
# The CLI fixture (tests/fixtures/cli/): a checkpoint, PNG files and a TSV for `climp embed` and
# `climp train`, with the embeddings and losses they must reproduce (tests/cli_parity.sh)
# ---------------------------------------------------------------------------------------------

CLI_N, CLI_S = 8, 32  # pairs (= the training batch) and image size (the model's input, no resize)
CLI_GRAD_CLIP = 20.0  # tests/cli_parity.sh passes the same --grad-clip (clips some steps, not all)
CLI_CAPTIONS = [
    "a red circle",
    "two small blue squares at the top left",
    "x",
    "a green triangle on a grey background, seen from far away",
    "caf\u00e9 na\u00efve \u6f22\u5b57 \u2014 unicode caption",
    "0123456789",
    "A YELLOW STAR",
    "an orange disc; a purple line (diagonal) & a dot",
]


def cli_config():
    vis = {"dims": 8, "depths": [1, 1], "d_state": 2, "ssm_ratio": 2.0, "mlp_ratio": 4.0}
    txt = {"arch": "mamba1", "d_model": 16, "n_layer": 2, "d_state": 4, "expand": 2, "d_conv": 4,
           "dt_rank": 1, "vocab": 264, "headdim": 0, "ngroups": 1}
    return {"vision": vis, "text": txt, "embed_dim": 12}


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(path, rgb):
    """8-bit RGB PNG (colour type 2, no interlace, filter 0 on every row) of rgb (H, W, 3) uint8."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(raw, 9)) + _png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def read_png(path):
    """Reads back what write_png writes (RGB8, filter 0 rows only): (H, W, 3) uint8."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(b):
        n, kind = struct.unpack(">I", b[pos:pos + 4])[0], b[pos + 4:pos + 8]
        data = b[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + data)
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", data[:10])
            assert (depth, ctype) == (8, 2)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def cli_normalise(rgb):
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 exactly as trainer/image.c does it for an image
    already at the input size (no resampling): x * (1 / (255 std)) + (-mean / std), in float32."""
    f32 = np.float32
    mean, std = np.array(IMAGENET_MEAN, dtype=f32), np.array(IMAGENET_STD, dtype=f32)
    mul = f32(1) / (f32(255) * std)
    add = -mean / std
    x = rgb.astype(f32) * mul + add
    assert x.dtype == np.float32
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def make_cli_fixture(out_dir):
    """Writes out_dir/{model.safetensors, pairs.tsv, img/*.png, expected.safetensors,
    final.safetensors, final_clip.safetensors}."""
    t0 = time.time()
    cfg = cli_config()
    os.makedirs(os.path.join(out_dir, "img"), exist_ok=True)
    gen = np.random.RandomState(SEED + 10)
    # Pixels: a smooth colour gradient per image plus noise, so the images differ in their mean
    # colour as well as in fine detail; every value 0..255 is possible.
    yy, xx = np.meshgrid(np.arange(CLI_S), np.arange(CLI_S), indexing="ij")
    rgb = np.empty((CLI_N, CLI_S, CLI_S, 3), dtype=np.uint8)
    for i in range(CLI_N):
        a = gen.uniform(0, 255, size=3)
        gy, gx = gen.uniform(-4, 4, size=3), gen.uniform(-4, 4, size=3)
        base = a + gy * yy[..., None] + gx * xx[..., None] + gen.normal(0, 40, (CLI_S, CLI_S, 3))
        rgb[i] = np.clip(np.rint(base), 0, 255).astype(np.uint8)
    rows = ["filepath\ttitle"]
    for i in range(CLI_N):
        name = f"img/{i:03d}.png"
        write_png(os.path.join(out_dir, name), rgb[i])
        check_eq(f"cli: {name} reads back", bool((read_png(os.path.join(out_dir, name)) == rgb[i]).all()), True)
        cap = CLI_CAPTIONS[i]
        assert "\t" not in cap and '"' not in cap and cap == cap.strip()
        rows.append(f"{name}\t{cap}")
    with open(os.path.join(out_dir, "pairs.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")

    torch.set_default_dtype(torch.float64)
    model = R.build(cfg, seed=SEED + 11)
    perturbed = perturb_constant_inits(model, torch.Generator().manual_seed(SEED + 12))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())
    weights = {n: p.detach().float().numpy().copy() for n, p in model.named_parameters()}
    st.save_file(weights, os.path.join(out_dir, "model.safetensors"), {
        "config": json.dumps(cfg), "format": "climp", "tokenizer": "bytes", "step": "0",
        "generator": "tests/reference/make_fixtures.py --cli", "seed": str(SEED + 11),
        "init": "spec init, then N(0,0.1^2) added to constant-initialised tensors and "
                "A_log/A_logs: " + json.dumps(perturbed)})

    images = torch.from_numpy(cli_normalise(rgb)).double()
    ids, lengths = R.bytes_tokenize(CLI_CAPTIONS)
    model_clip, model32 = copy.deepcopy(model), copy.deepcopy(model).float()
    norms, norms_clip = [], []
    plain = run_trajectory(model, images, ids, lengths, grad_norms=norms)
    clip = run_trajectory(model_clip, images, ids, lengths, grad_clip=CLI_GRAD_CLIP,
                          grad_norms=norms_clip)
    print(f"  cli: gradient norms {np.round(norms, 5).tolist()} (plain), "
          f"{np.round(norms_clip, 5).tolist()} (clipped to {CLI_GRAD_CLIP})")
    # Both branches of the clip, and no norm so near the threshold that rounding could flip one.
    check_eq("cli: the clipped run has clipped and unclipped steps, none within 2% of the clip",
             min(norms_clip) < CLI_GRAD_CLIP < max(norms_clip)
             and min(abs(n / CLI_GRAD_CLIP - 1) for n in norms_clip) > 0.02, True)
    expected = {
        "image_embeds": plain["fixture.image_embeds"],
        "text_embeds": plain["fixture.text_embeds"],
        "train_losses": plain["fixture.train_losses"],
        "train_losses_clip": clip["fixture.train_losses"],
    }
    meta = {
        "config": json.dumps(cfg), "format": "climp-cli-fixture-1",
        "captions": json.dumps(CLI_CAPTIONS, ensure_ascii=False),
        "train": json.dumps(dict(TRAIN, batch=CLI_N, image_size=CLI_S,
                                 grad_clip_of_train_losses_clip=CLI_GRAD_CLIP,
                                 grad_norms=norms, grad_norms_clip=norms_clip)),
        "precision": "float64 compute from float32 weights and float32 normalised pixels; "
                     "stored F32", "generator": "tests/reference/make_fixtures.py --cli",
        "torch": torch.__version__,
    }
    # How far float32 PyTorch lands from these values: the scale a correct C run should reach.
    rep = run_trajectory(model32, images.float(), ids, lengths)
    replay = {}
    for k, ref in (("image_embeds", "fixture.image_embeds"), ("text_embeds", "fixture.text_embeds"),
                   ("train_losses", "fixture.train_losses")):
        r = plain[ref].astype(np.float64)
        replay[k] = float(np.abs(rep[ref].astype(np.float64) - r).max() / np.abs(r).max())
    meta["fp32_replay_rel_maxdiff"] = json.dumps(replay)
    print("  cli: float32 replay, max|fp32-fp64| / max|fp64|: " +
          ", ".join(f"{k} {v:.1e}" for k, v in replay.items()))
    st.save_file(expected, os.path.join(out_dir, "expected.safetensors"), meta)
    for name, res in (("final", plain), ("final_clip", clip)):
        st.save_file({n: res["final." + n] for n in weights}, os.path.join(out_dir, name + ".safetensors"),
                     {"what": f"weights after {TRAIN['steps']} steps of the "
                              f"{'clipped ' if name == 'final_clip' else ''}run"})
    torch.set_default_dtype(torch.float32)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_dir) for f in fs)
    print(f"  wrote {out_dir}: {total} bytes, losses {np.round(expected['train_losses'], 6).tolist()},"
          f" clipped {np.round(expected['train_losses_clip'], 6).tolist()}, {time.time() - t0:.1f} s")


def verify_cli_fixture(out_dir):
    """Reload the checkpoint and the PNGs as the CLI would, and recompute the embeddings."""
    tensors, meta = st.load_file(os.path.join(out_dir, "model.safetensors"))
    exp, _ = st.load_file(os.path.join(out_dir, "expected.safetensors"))
    cfg = json.loads(meta["config"])
    with open(os.path.join(out_dir, "pairs.tsv"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "filepath\ttitle"
    paths, caps = zip(*(line.split("\t") for line in lines[1:]))
    rgb = np.stack([read_png(os.path.join(out_dir, p)) for p in paths])
    torch.set_default_dtype(torch.float64)
    m = R.build(cfg, seed=0)
    m.load_state_dict({n: torch.from_numpy(tensors[n]).double() for n, _ in m.named_parameters()},
                      strict=True)
    check_eq("cli: checkpoint holds exactly the model's parameters",
             sorted(tensors) == sorted(n for n, _ in m.named_parameters()), True)
    ids, lengths = R.bytes_tokenize(list(caps))
    out = m(torch.from_numpy(cli_normalise(rgb)).double(), ids, lengths)
    check("cli: reload + forward, image_embeds", out["image_embeds"],
          torch.from_numpy(exp["image_embeds"]), 1e-6)
    check("cli: reload + forward, text_embeds", out["text_embeds"],
          torch.from_numpy(exp["text_embeds"]), 1e-6)
    check("cli: reload + forward, loss of step 1", out["loss"].reshape(1),
          torch.from_numpy(exp["train_losses"][:1]), 1e-6)
    torch.set_default_dtype(torch.float32)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--check-only", action="store_true", help="run the self-checks only")
    ap.add_argument("--skip-checks", action="store_true", help="write fixtures without self-checks")
    ap.add_argument("--cli", action="store_true",
                    help="write only the CLI fixture, OUT_DIR/cli/ (tests/cli_parity.sh)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.makedirs(args.out_dir, exist_ok=True)
    if not args.skip_checks:
        torch.set_default_dtype(torch.float64)
        selfcheck_scan()
        selfcheck_conv_crossscan()
        selfcheck_mamba2()
        selfcheck_loss()
        selfcheck_model()
        selfcheck_init()
        selfcheck_io(args.out_dir)
        torch.set_default_dtype(torch.float32)
        selfcheck_params()
        if FAILS:
            print(f"SELF-CHECK FAILED: {FAILS}")
            return 1
        print("all self-checks passed")
    if args.check_only:
        return 0
    if args.cli:
        print("cli fixture")
        make_cli_fixture(os.path.join(args.out_dir, "cli"))
        verify_cli_fixture(os.path.join(args.out_dir, "cli"))
        if FAILS:
            print(f"FIXTURE VERIFY FAILED: {FAILS}")
            return 1
        return 0
    print("fixtures")
    for name, (cfg, images_fn, captions) in fixture_configs().items():
        path = make_fixture(name, cfg, images_fn, captions, args.out_dir)
        verify_fixture(path, cfg)
    if FAILS:
        print(f"FIXTURE VERIFY FAILED: {FAILS}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
