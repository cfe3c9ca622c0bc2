"""Plain-PyTorch reference implementation of CLIMP (VMamba vision tower + Mamba-1/Mamba-2 text
tower, symmetric InfoNCE), written from /work/shared/reference/architecture.md (cited as §x.y).

No mamba_ssm, no custom kernels: the selective scan is a loop over time, so the file runs on a CPU
in float64 and autograd gives the gradients. Module and parameter names reproduce the CLIMP
release keys exactly (`vision_encoder.*`, `vision_projection.*`, `text_encoder.*`,
`text_projection.*`, `logit_scale`).

Configuration is a plain dict, the same JSON the fixtures store under __metadata__["config"]:
  {"vision": {"dims": C0, "depths": [..], "d_state": N, "ssm_ratio": 2.0, "mlp_ratio": 4.0},
   "text": {"arch": "mamba1"|"mamba2", "d_model": D, "n_layer": n, "d_state": N, "expand": 2,
            "d_conv": 4, "dt_rank": R (mamba1; 0 for mamba2), "vocab": V,
            "headdim": P (mamba2; 0 for mamba1), "ngroups": G (1)},
   "embed_dim": 768}

Shape letters: Bt batch, L length, D text width, E inner width, N state, R dt rank, K directions (4)
or conv width, H x W grid, C vision channels, P Mamba-2 head dim, G groups.
"""
import contextlib
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

LOGIT_SCALE_INIT = math.log(1 / 0.07)  # §5.1
LOGIT_SCALE_MAX = math.log(100.0)  # open_clip clamp, §5.2
NORM_EPS = 1e-5  # RMSNorm, gated RMSNorm, LayerNorm(2d)

# Factory kwargs for every parameter; `on_device("meta")` builds a model without memory (used to
# count parameters of the full-size presets). Initialisation is skipped on meta tensors.
_FK = {}


@contextlib.contextmanager
def on_device(device):
    global _FK
    old = _FK
    _FK = {"device": torch.device(device)}
    try:
        yield
    finally:
        _FK = old


def _meta(t):
    return t.device.type == "meta"


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

def text_sizes(t):
    """Derived sizes of the text tower config `t` (dict)."""
    D = t["d_model"]
    E = int(t.get("expand", 2) * D)
    s = {"D": D, "E": E, "N": t["d_state"], "K": t.get("d_conv", 4), "V": t["vocab"]}
    if t["arch"] == "mamba1":
        s["R"] = t.get("dt_rank") or math.ceil(D / 16)
    else:
        P, G = t["headdim"], t.get("ngroups", 1)
        assert E % P == 0, "mamba2: expand*d_model must be a multiple of headdim"
        s.update(P=P, G=G, H=E // P)
    return s


def vision_stage_dims(v):
    return [v["dims"] * 2 ** i for i in range(len(v["depths"]))]


PRESETS = {
    "vmamba-b": {"dims": 128, "depths": [2, 2, 15, 2], "d_state": 1, "ssm_ratio": 2.0,
                 "mlp_ratio": 4.0},
    "mamba-130m": {"arch": "mamba1", "d_model": 768, "n_layer": 24, "d_state": 16, "expand": 2,
                   "d_conv": 4, "dt_rank": 48, "vocab": 50280, "headdim": 0, "ngroups": 1},
    "mamba-1.4b": {"arch": "mamba1", "d_model": 2048, "n_layer": 48, "d_state": 16, "expand": 2,
                   "d_conv": 4, "dt_rank": 128, "vocab": 50280, "headdim": 0, "ngroups": 1},
    "mamba2-1.3b": {"arch": "mamba2", "d_model": 2048, "n_layer": 48, "d_state": 128,
                    "expand": 2, "d_conv": 4, "dt_rank": 0, "vocab": 50288, "headdim": 64,
                    "ngroups": 1},
}
PRESETS["climp-b-mamba1"] = {"vision": PRESETS["vmamba-b"], "text": PRESETS["mamba-1.4b"],
                             "embed_dim": 768}
PRESETS["climp-b-mamba2"] = {"vision": PRESETS["vmamba-b"], "text": PRESETS["mamba2-1.3b"],
                             "embed_dim": 768}


def vision_param_shapes(v, prefix="vision_encoder."):
    """Parameter table of the VMamba tower (no classifier.head) by shape arithmetic (§4.3-4.8)."""
    out = OrderedDict()
    C0, N = v["dims"], v["d_state"]
    p = prefix + "patch_embed."
    out[p + "0.weight"] = (C0 // 2, 3, 3, 3)
    out[p + "0.bias"] = (C0 // 2,)
    out[p + "2.weight"] = (C0 // 2,)
    out[p + "2.bias"] = (C0 // 2,)
    out[p + "5.weight"] = (C0, C0 // 2, 3, 3)
    out[p + "5.bias"] = (C0,)
    out[p + "7.weight"] = (C0,)
    out[p + "7.bias"] = (C0,)
    dims = vision_stage_dims(v)
    for i, (C, depth) in enumerate(zip(dims, v["depths"])):
        E, R, Hm = int(v["ssm_ratio"] * C), math.ceil(C / 16), int(v["mlp_ratio"] * C)
        for j in range(depth):
            b = f"{prefix}layers.{i}.blocks.{j}."
            out[b + "norm.weight"] = (C,)
            out[b + "norm.bias"] = (C,)
            out[b + "op.x_proj_weight"] = (4, R + 2 * N, E)
            out[b + "op.A_logs"] = (4 * E, N)
            out[b + "op.Ds"] = (4 * E,)
            out[b + "op.dt_projs_weight"] = (4, E, R)
            out[b + "op.dt_projs_bias"] = (4, E)
            out[b + "op.out_norm.weight"] = (E,)
            out[b + "op.out_norm.bias"] = (E,)
            out[b + "op.in_proj.weight"] = (E, C)
            out[b + "op.conv2d.weight"] = (E, 1, 3, 3)
            out[b + "op.out_proj.weight"] = (C, E)
            out[b + "norm2.weight"] = (C,)
            out[b + "norm2.bias"] = (C,)
            out[b + "mlp.fc1.weight"] = (Hm, C)
            out[b + "mlp.fc1.bias"] = (Hm,)
            out[b + "mlp.fc2.weight"] = (C, Hm)
            out[b + "mlp.fc2.bias"] = (C,)
        if i + 1 < len(dims):
            d = f"{prefix}layers.{i}.downsample."
            out[d + "1.weight"] = (2 * C, C, 3, 3)
            out[d + "1.bias"] = (2 * C,)
            out[d + "3.weight"] = (2 * C,)
            out[d + "3.bias"] = (2 * C,)
    out[prefix + "classifier.norm.weight"] = (dims[-1],)
    out[prefix + "classifier.norm.bias"] = (dims[-1],)
    return out


def text_param_shapes(t, prefix="text_encoder."):
    """Parameter table of the Mamba-1/Mamba-2 backbone by shape arithmetic (§1.2, §2.1, §3.1)."""
    s = text_sizes(t)
    D, E, N, K, V = s["D"], s["E"], s["N"], s["K"], s["V"]
    out = OrderedDict()
    out[prefix + "embeddings.weight"] = (V, D)
    for i in range(t["n_layer"]):
        L = f"{prefix}layers.{i}."
        out[L + "norm.weight"] = (D,)
        m = L + "mixer."
        if t["arch"] == "mamba1":
            R = s["R"]
            out[m + "in_proj.weight"] = (2 * E, D)
            out[m + "conv1d.weight"] = (E, 1, K)
            out[m + "conv1d.bias"] = (E,)
            out[m + "x_proj.weight"] = (R + 2 * N, E)
            out[m + "dt_proj.weight"] = (E, R)
            out[m + "dt_proj.bias"] = (E,)
            out[m + "A_log"] = (E, N)
            out[m + "D"] = (E,)
            out[m + "out_proj.weight"] = (D, E)
        else:
            G, H = s["G"], s["H"]
            conv_dim = E + 2 * G * N
            out[m + "in_proj.weight"] = (2 * E + 2 * G * N + H, D)
            out[m + "conv1d.weight"] = (conv_dim, 1, K)
            out[m + "conv1d.bias"] = (conv_dim,)
            out[m + "dt_bias"] = (H,)
            out[m + "A_log"] = (H,)
            out[m + "D"] = (H,)
            out[m + "norm.weight"] = (E,)
            out[m + "out_proj.weight"] = (D, E)
    out[prefix + "norm_f.weight"] = (D,)
    return out


def climp_param_shapes(cfg):
    """Full CLIMP parameter table {name: shape}; logit_scale is 0-dim, shape ()."""
    out = vision_param_shapes(cfg["vision"])
    C_last = vision_stage_dims(cfg["vision"])[-1]
    Em = cfg["embed_dim"]
    out["vision_projection.weight"] = (Em, C_last)
    out["vision_projection.bias"] = (Em,)
    out.update(text_param_shapes(cfg["text"]))
    out["text_projection.weight"] = (Em, cfg["text"]["d_model"])
    out["text_projection.bias"] = (Em,)
    out["logit_scale"] = ()
    return out


def count(shapes):
    return sum(math.prod(s) for s in shapes.values())


def weight_decay_applies(name, shape):
    """AdamW decay mask used by the fixtures and the trainer: decay only tensors with ndim >= 2
    that are not biases (any name ending in "bias", incl. dt_projs_bias (K,E)), not A_log/A_logs
    and not the token embedding. (Norm weights, D/Ds, dt_bias, logit_scale are ndim < 2.)"""
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) < 2 or name.endswith("bias"):
        return False
    if leaf in ("A_log", "A_logs", "D", "Ds", "logit_scale"):
        return False
    if name.endswith("embeddings.weight"):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Initialisation helpers (§1.6, §3.1, §4.9)
# ---------------------------------------------------------------------------------------------

def _uniform_fan_in(w, fan_in):
    """PyTorch default Linear/Conv init: kaiming_uniform_(a=sqrt(5)) == U(+-1/sqrt(fan_in))."""
    if not _meta(w):
        with torch.no_grad():
            b = 1.0 / math.sqrt(fan_in)
            w.uniform_(-b, b)


def _inv_softplus_dt(n, dt_min=1e-3, dt_max=0.1, floor=1e-4, **fk):
    """dt ~ exp(U(ln dt_min, ln dt_max)) clamped >= floor; returns dt + ln(-expm1(-dt))."""
    dt = torch.exp(torch.rand(n, **fk) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


def _param(*shape):
    return nn.Parameter(torch.empty(*shape, **_FK))


# ---------------------------------------------------------------------------------------------
# Selective scan (§1.3 step 8, §1.4, §4.10)
# ---------------------------------------------------------------------------------------------

def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True):
    """Sequential selective scan, same contract as mamba_ssm selective_scan_ref.

    u, delta: (Bt, Dc, L)   A: (Dc, N)   B, C: (Bt, G, N, L), channel e uses group e // (Dc/G)
    D: (Dc,) or None        z: (Bt, Dc, L) or None     delta_bias: (Dc,) or None
    s_t = exp(delta_t A) s_{t-1} + delta_t B_t u_t;  y_t = C_t . s_t + D u_t;  y *= silu(z).
    """
    Bt, Dc, L = u.shape
    G = B.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)  # threshold 20: returns x for x > 20
    Bx = B.repeat_interleave(Dc // G, dim=1)  # (Bt, Dc, N, L)
    Cx = C.repeat_interleave(Dc // G, dim=1)
    dA = torch.exp(delta.unsqueeze(-1) * A[None, :, None, :])  # (Bt, Dc, L, N)
    dBu = (delta * u).unsqueeze(-1) * Bx.transpose(2, 3)  # (Bt, Dc, L, N)
    s = u.new_zeros(Bt, Dc, A.shape[1])
    ys = []
    for t in range(L):
        s = dA[:, :, t] * s + dBu[:, :, t]
        ys.append((s * Cx[:, :, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)  # (Bt, Dc, L)
    if D is not None:
        y = y + u * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def causal_conv1d(x, weight, bias):
    """x (Bt, Dc, L), weight (Dc, 1, K), bias (Dc,): depthwise causal conv, zero history (§1.3)."""
    K = weight.shape[-1]
    return F.conv1d(x, weight, bias, padding=K - 1, groups=x.shape[1])[..., : x.shape[-1]]


# ---------------------------------------------------------------------------------------------
# Text tower: Mamba-1 / Mamba-2 mixers and the LM backbone (§1, §1.7, §3)
# ---------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, d, eps=NORM_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d, **_FK))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class RMSNormGated(nn.Module):
    """Mamba-2 gated RMSNorm, norm_before_gate=False: v = y*silu(z), normalised over groups of
    E/G channels (the whole E for G=1), times weight (§3.2 step 7)."""

    def __init__(self, d, group_size, eps=NORM_EPS):
        super().__init__()
        self.eps, self.group_size = eps, group_size
        self.weight = nn.Parameter(torch.ones(d, **_FK))

    def forward(self, y, z):
        v = y * F.silu(z)
        shp = v.shape
        vg = v.reshape(*shp[:-1], shp[-1] // self.group_size, self.group_size)
        vg = vg * torch.rsqrt(vg.pow(2).mean(-1, keepdim=True) + self.eps)
        return vg.reshape(shp) * self.weight


class Mamba1Mixer(nn.Module):
    def __init__(self, t):
        super().__init__()
        s = text_sizes(t)
        D, E, N, K, R = s["D"], s["E"], s["N"], s["K"], s["R"]
        self.E, self.N, self.R = E, N, R
        self.in_proj = nn.Linear(D, 2 * E, bias=False, **_FK)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, padding=K - 1, bias=True, **_FK)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False, **_FK)
        self.dt_proj = nn.Linear(R, E, bias=True, **_FK)
        self.A_log = _param(E, N)
        self.D = _param(E)
        self.out_proj = nn.Linear(E, D, bias=False, **_FK)

    def init_weights(self, n_layer):
        """mamba_simple.py + mixer_seq_simple._init_weights (§1.6)."""
        if _meta(self.D):
            return
        E, N, R = self.E, self.N, self.R
        with torch.no_grad():
            _uniform_fan_in(self.in_proj.weight, self.in_proj.in_features)
            _uniform_fan_in(self.conv1d.weight, self.conv1d.weight.shape[-1])
            _uniform_fan_in(self.conv1d.bias, self.conv1d.weight.shape[-1])
            _uniform_fan_in(self.x_proj.weight, E)
            std = R ** -0.5
            self.dt_proj.weight.uniform_(-std, std)
            self.dt_proj.bias.copy_(_inv_softplus_dt(E))
            self.A_log.copy_(torch.log(torch.arange(1, N + 1, dtype=self.A_log.dtype))
                             .repeat(E, 1))
            self.D.fill_(1.0)
            _uniform_fan_in(self.out_proj.weight, E)
            self.out_proj.weight.div_(math.sqrt(n_layer))

    def forward(self, h):  # h (Bt, L, D) -> (Bt, L, D)
        L = h.shape[1]
        xz = self.in_proj(h)
        x, z = xz[..., : self.E], xz[..., self.E:]
        u = F.silu(causal_conv1d(x.transpose(1, 2), self.conv1d.weight, self.conv1d.bias))
        x_dbl = self.x_proj(u.transpose(1, 2))  # (Bt, L, R+2N)
        dt_in = x_dbl[..., : self.R]
        Bm = x_dbl[..., self.R: self.R + self.N]
        Cm = x_dbl[..., self.R + self.N:]
        draw = dt_in @ self.dt_proj.weight.t()  # (Bt, L, E), bias applied inside the scan
        y = selective_scan(u, draw.transpose(1, 2), -torch.exp(self.A_log),
                           Bm.transpose(1, 2).unsqueeze(1), Cm.transpose(1, 2).unsqueeze(1),
                           D=self.D, z=z.transpose(1, 2), delta_bias=self.dt_proj.bias,
                           delta_softplus=True)
        assert y.shape[-1] == L
        return self.out_proj(y.transpose(1, 2))


def mamba2_ssm(x, dt, A, B, C, D):
    """Mamba-2 SSM, per-head recurrence (§3.2 step 6).
    x (Bt, L, H, P), dt (Bt, L, H) after softplus, A (H,) negative, B, C (Bt, L, G, N), D (H,).
    S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T;  y_t = S_t C_t + D x_t.  Returns (Bt, L, H, P)."""
    Bt, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    Bh = B.repeat_interleave(H // G, dim=2)  # (Bt, L, H, N)
    Ch = C.repeat_interleave(H // G, dim=2)
    dA = torch.exp(dt * A)  # (Bt, L, H)
    S = x.new_zeros(Bt, H, P, N)
    ys = []
    for t in range(L):
        S = dA[:, t, :, None, None] * S + \
            (dt[:, t, :, None, None] * x[:, t, :, :, None]) * Bh[:, t, :, None, :]
        ys.append((S * Ch[:, t, :, None, :]).sum(-1))
    y = torch.stack(ys, dim=1)
    return y + x * D[None, None, :, None]


class Mamba2Mixer(nn.Module):
    def __init__(self, t):
        super().__init__()
        s = text_sizes(t)
        D, E, N, K, P, G, H = s["D"], s["E"], s["N"], s["K"], s["P"], s["G"], s["H"]
        self.E, self.N, self.P, self.G, self.H = E, N, P, G, H
        conv_dim = E + 2 * G * N
        self.in_proj = nn.Linear(D, 2 * E + 2 * G * N + H, bias=False, **_FK)
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, K, groups=conv_dim, padding=K - 1,
                                bias=True, **_FK)
        self.dt_bias = _param(H)
        self.A_log = _param(H)
        self.D = _param(H)
        self.norm = RMSNormGated(E, E // G)
        self.out_proj = nn.Linear(E, D, bias=False, **_FK)

    def init_weights(self, n_layer):
        """mamba2.py + _init_weights (§3.1, §1.6)."""
        if _meta(self.D):
            return
        with torch.no_grad():
            _uniform_fan_in(self.in_proj.weight, self.in_proj.in_features)
            K = self.conv1d.weight.shape[-1]
            _uniform_fan_in(self.conv1d.weight, K)
            _uniform_fan_in(self.conv1d.bias, K)
            self.dt_bias.copy_(_inv_softplus_dt(self.H))
            self.A_log.copy_(torch.log(torch.empty(self.H).uniform_(1.0, 16.0)))
            self.D.fill_(1.0)
            self.norm.weight.fill_(1.0)
            _uniform_fan_in(self.out_proj.weight, self.E)
            self.out_proj.weight.div_(math.sqrt(n_layer))

    def split_inputs(self, u):
        """Everything before the SSM: returns z (Bt,L,E), x (Bt,L,H,P), dt (Bt,L,H) after
        softplus(dt + dt_bias), A (H,), B, C (Bt,L,G,N)."""
        Bt, L, _ = u.shape
        E, GN, H = self.E, self.G * self.N, self.H
        zxbcdt = self.in_proj(u)
        z, xBC, dt = zxbcdt[..., :E], zxbcdt[..., E: 2 * E + 2 * GN], zxbcdt[..., 2 * E + 2 * GN:]
        xBC = F.silu(causal_conv1d(xBC.transpose(1, 2), self.conv1d.weight, self.conv1d.bias))
        xBC = xBC.transpose(1, 2)
        x = xBC[..., :E].reshape(Bt, L, H, self.P)
        B = xBC[..., E: E + GN].reshape(Bt, L, self.G, self.N)
        C = xBC[..., E + GN:].reshape(Bt, L, self.G, self.N)
        dt = F.softplus(dt + self.dt_bias)
        return z, x, dt, -torch.exp(self.A_log), B, C

    def forward(self, u):  # u (Bt, L, D) -> (Bt, L, D)
        Bt, L, _ = u.shape
        z, x, dt, A, B, C = self.split_inputs(u)
        y = mamba2_ssm(x, dt, A, B, C, self.D).reshape(Bt, L, self.E)
        return self.out_proj(self.norm(y, z))


class MambaBlock(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.norm = RMSNorm(t["d_model"])
        self.mixer = Mamba1Mixer(t) if t["arch"] == "mamba1" else Mamba2Mixer(t)

    def forward(self, r):  # pre-norm residual: r + mixer(norm(r)) (§1.7)
        return r + self.mixer(self.norm(r))


class MambaBackbone(nn.Module):
    """HF MambaModel/Mamba2Model backbone: embeddings, layers, norm_f (no lm_head)."""

    def __init__(self, t):
        super().__init__()
        self.cfg = t
        self.embeddings = nn.Embedding(t["vocab"], t["d_model"], **_FK)
        self.layers = nn.ModuleList([MambaBlock(t) for _ in range(t["n_layer"])])
        self.norm_f = RMSNorm(t["d_model"])

    def init_weights(self):
        if _meta(self.norm_f.weight):
            return
        with torch.no_grad():
            self.embeddings.weight.normal_(0.0, 0.02)
            for layer in self.layers:
                layer.norm.weight.fill_(1.0)
                layer.mixer.init_weights(self.cfg["n_layer"])
            self.norm_f.weight.fill_(1.0)

    def forward(self, ids):  # ids (Bt, L) int64 -> (Bt, L, D) after norm_f
        r = self.embeddings(ids)
        for layer in self.layers:
            r = layer(r)
        return self.norm_f(r)


# ---------------------------------------------------------------------------------------------
# Vision tower: VMamba v05_noz, patch-embed v2, downsample v3, LayerNorm2d (§4)
# ---------------------------------------------------------------------------------------------

class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over C of a (B, C, H, W) tensor (§4.2)."""

    def __init__(self, c):
        super().__init__(c, eps=NORM_EPS, **_FK)

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
                            self.bias, self.eps).permute(0, 3, 1, 2)


class Linear2d(nn.Linear):
    """nn.Linear (out, in) applied per pixel to (B, C, H, W)."""

    def forward(self, x):
        return F.conv2d(x, self.weight[:, :, None, None], self.bias)


def cross_scan(x):
    """(B, E, H, W) -> (B, 4, E, L): row-major, column-major, and both reversed (§4.6 step 4)."""
    B, E, H, W = x.shape
    x0 = x.flatten(2)
    x1 = x.transpose(2, 3).flatten(2)
    return torch.stack([x0, x1, x0.flip(-1), x1.flip(-1)], dim=1)


def cross_merge(ys, H, W):
    """(B, 4, E, L) -> (B, E, H, W), the adjoint of cross_scan (§4.6 step 8)."""
    B, K, E, L = ys.shape
    y0 = ys[:, 0] + ys[:, 2].flip(-1)  # row-major order
    y1 = ys[:, 1] + ys[:, 3].flip(-1)  # column-major order
    return y0.view(B, E, H, W) + y1.view(B, E, W, H).transpose(2, 3)


class SS2D(nn.Module):
    """SS2D forward type v05_noz (§4.6)."""

    def __init__(self, C, v):
        super().__init__()
        E, R, N = int(v["ssm_ratio"] * C), math.ceil(C / 16), v["d_state"]
        self.E, self.R, self.N = E, R, N
        self.in_proj = Linear2d(C, E, bias=False, **_FK)
        self.conv2d = nn.Conv2d(E, E, 3, padding=1, groups=E, bias=False, **_FK)
        self.x_proj_weight = _param(4, R + 2 * N, E)
        self.dt_projs_weight = _param(4, E, R)
        self.dt_projs_bias = _param(4, E)
        self.A_logs = _param(4 * E, N)
        self.Ds = _param(4 * E)
        self.out_norm = LayerNorm2d(E)
        self.out_proj = Linear2d(E, C, bias=False, **_FK)

    def init_weights(self):
        """§4.9 with ssm_init "v0" (Linear2d weights are set by VSSM.init_weights)."""
        if _meta(self.Ds):
            return
        E, R, N = self.E, self.R, self.N
        with torch.no_grad():
            _uniform_fan_in(self.conv2d.weight, 9)
            _uniform_fan_in(self.x_proj_weight, E)
            self.dt_projs_weight.uniform_(-R ** -0.5, R ** -0.5)
            self.dt_projs_bias.copy_(_inv_softplus_dt(4 * E).view(4, E))
            self.A_logs.copy_(torch.log(torch.arange(1, N + 1, dtype=self.A_logs.dtype))
                              .repeat(4 * E, 1))
            self.Ds.fill_(1.0)

    def forward(self, x):  # (B, C, H, W) -> (B, C, H, W)
        B, _, H, W = x.shape
        E, R, N, L = self.E, self.R, self.N, H * W
        x = F.silu(self.conv2d(self.in_proj(x)))
        xs = cross_scan(x)  # (B, 4, E, L)
        x_dbl = torch.einsum("kce,bkel->bkcl", self.x_proj_weight, xs)
        dts_in, Bs, Cs = x_dbl[:, :, :R], x_dbl[:, :, R: R + N], x_dbl[:, :, R + N:]
        draw = torch.einsum("ker,bkrl->bkel", self.dt_projs_weight, dts_in)
        ys = selective_scan(xs.reshape(B, 4 * E, L), draw.reshape(B, 4 * E, L),
                            -torch.exp(self.A_logs), Bs, Cs, D=self.Ds,
                            delta_bias=self.dt_projs_bias.reshape(4 * E), delta_softplus=True)
        y = cross_merge(ys.view(B, 4, E, L), H, W)
        return self.out_proj(self.out_norm(y))


class Mlp(nn.Module):
    def __init__(self, C, hidden):
        super().__init__()
        self.fc1 = Linear2d(C, hidden, **_FK)
        self.act = nn.GELU()  # exact erf form
        self.fc2 = Linear2d(hidden, C, **_FK)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class VSSBlock(nn.Module):
    def __init__(self, C, v):
        super().__init__()
        self.norm = LayerNorm2d(C)
        self.op = SS2D(C, v)
        self.norm2 = LayerNorm2d(C)
        self.mlp = Mlp(C, int(v["mlp_ratio"] * C))

    def forward(self, x):  # post_norm=False, no drop-path (§4.5)
        x = x + self.op(self.norm(x))
        return x + self.mlp(self.norm2(x))


class VSSM(nn.Module):
    def __init__(self, v):
        super().__init__()
        C0 = v["dims"]
        assert C0 % 2 == 0, "vision dims must be even (the stem has C0/2 channels)"
        self.patch_embed = nn.Sequential(
            nn.Conv2d(3, C0 // 2, 3, stride=2, padding=1, bias=True, **_FK), nn.Identity(),
            LayerNorm2d(C0 // 2), nn.Identity(), nn.GELU(),
            nn.Conv2d(C0 // 2, C0, 3, stride=2, padding=1, bias=True, **_FK), nn.Identity(),
            LayerNorm2d(C0))
        dims = vision_stage_dims(v)
        self.layers = nn.ModuleList()
        for i, (C, depth) in enumerate(zip(dims, v["depths"])):
            if i + 1 < len(dims):
                down = nn.Sequential(nn.Identity(),
                                     nn.Conv2d(C, 2 * C, 3, stride=2, padding=1, bias=True, **_FK),
                                     nn.Identity(), LayerNorm2d(2 * C))
            else:
                down = nn.Identity()
            self.layers.append(nn.Sequential(OrderedDict(
                blocks=nn.Sequential(*[VSSBlock(C, v) for _ in range(depth)]),
                downsample=down)))
        self.classifier = nn.Sequential(OrderedDict(
            norm=LayerNorm2d(dims[-1]), permute=nn.Identity(),
            avgpool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1)))

    def init_weights(self):
        """VSSM._init_weights + module-level inits (§4.9)."""
        if _meta(self.classifier.norm.weight):
            return
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Linear):  # Linear2d: trunc_normal(0.02), bias 0
                    nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, nn.LayerNorm):
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                elif isinstance(m, nn.Conv2d) and m.groups == 1:  # stem, downsample: default
                    fan_in = m.weight[0].numel()
                    _uniform_fan_in(m.weight, fan_in)
                    if m.bias is not None:
                        _uniform_fan_in(m.bias, fan_in)
                elif isinstance(m, SS2D):
                    m.init_weights()

    def forward(self, x):  # (B, 3, H, W) -> pooled (B, C_last)
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x)


# ---------------------------------------------------------------------------------------------
# CLIMP (§5)
# ---------------------------------------------------------------------------------------------

def clip_loss(img, txt, logit_scale):
    """Symmetric InfoNCE (open_clip ClipLoss, §5.2) on L2-normalised img, txt (Bt, Em)."""
    logits = logit_scale.exp() * img @ txt.t()
    labels = torch.arange(img.shape[0], device=img.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


class CLIMP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C_last = vision_stage_dims(cfg["vision"])[-1]
        self.vision_encoder = VSSM(cfg["vision"])
        self.vision_projection = nn.Linear(C_last, cfg["embed_dim"], bias=True, **_FK)
        self.text_encoder = MambaBackbone(cfg["text"])
        self.text_projection = nn.Linear(cfg["text"]["d_model"], cfg["embed_dim"], bias=True,
                                         **_FK)
        self.logit_scale = nn.Parameter(torch.empty((), **_FK))

    def init_weights(self):
        if _meta(self.logit_scale):
            return
        self.vision_encoder.init_weights()
        self.text_encoder.init_weights()
        with torch.no_grad():
            for lin in (self.vision_projection, self.text_projection):  # PyTorch default Linear
                _uniform_fan_in(lin.weight, lin.in_features)
                _uniform_fan_in(lin.bias, lin.in_features)
            self.logit_scale.fill_(LOGIT_SCALE_INIT)

    def encode_image(self, images):  # (B, 3, H, W) -> pooled (B, C_last)
        return self.vision_encoder(images)

    def encode_text(self, ids, lengths):
        """ids (B, Lmax) right-padded, lengths (B,) -> norm_f output at position len-1, (B, D)."""
        h = self.text_encoder(ids.long())
        idx = (lengths.long() - 1).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
        return h.gather(1, idx).squeeze(1)

    def forward(self, images, ids, lengths):
        image_pooled = self.encode_image(images)
        text_pooled = self.encode_text(ids, lengths)
        image_embeds = F.normalize(self.vision_projection(image_pooled), dim=-1, eps=1e-12)
        text_embeds = F.normalize(self.text_projection(text_pooled), dim=-1, eps=1e-12)
        loss = clip_loss(image_embeds, text_embeds, self.logit_scale)
        return {"image_pooled": image_pooled, "text_pooled": text_pooled,
                "image_embeds": image_embeds, "text_embeds": text_embeds, "loss": loss}


def build(cfg, seed=None, device=None):
    """Build and initialise a CLIMP model. With device="meta" nothing is allocated or initialised."""
    if seed is not None:
        torch.manual_seed(seed)
    if device is not None:
        with on_device(device):
            m = CLIMP(cfg)
    else:
        m = CLIMP(cfg)
    m.init_weights()
    return m


# ---------------------------------------------------------------------------------------------
# Built-in bytes tokenizer (DESIGN.md): UTF-8 byte b -> id b+2, then id 0; pad id 1; vocab 264
# ---------------------------------------------------------------------------------------------

BYTES_VOCAB = 264
EOT_ID, PAD_ID = 0, 1


def bytes_tokenize(captions):
    """Returns (ids (B, Lmax) int64 right-padded with PAD_ID, lengths (B,) int64)."""
    seqs = [[b + 2 for b in c.encode("utf-8")] + [EOT_ID] for c in captions]
    Lmax = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), Lmax), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, torch.tensor([len(s) for s in seqs], dtype=torch.long)
