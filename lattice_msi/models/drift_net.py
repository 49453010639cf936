"""Drift networks η̂(x; operator) for lattice fields: periodic, translation-equivariant, operator-conditioned.

The network regresses E[x0 − x1 | I = x] for B = Id − A (see interpolants.nu), so that
η0 = x + (Id − A)η̂ and η1 = x − Aη̂. It knows nothing about tasks:
- every convolution pads circularly (the lattice is periodic), so the map commutes with every
  lattice translation by construction; there is no other position dependence;
- the operator enters as input channels that are themselves equivariant: the per-site α map
  (site family; a constant map for the scalar family) and A x, the operator applied to the
  field (for the Fourier family, where a_k is a per-mode map), plus a FiLM embedding of the
  mean α (the "time") in every block;
- optionally, a spectral layer per block multiplies each channel's Fourier transform by a
  learned function of (a_k, k̂²), so a Fourier-diagonal operator conditions per mode;
- optionally the output is made odd, η̂(−x) = −η̂(x) (Z2, exact when h = 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import ConfigError, require_int
from ..interpolants.drift import Eta
from ..interpolants.families import FourierFamily, Operator, ScalarFamily
from ..interpolants.nu import eta_from_prediction
from ..lattice.fourier import khat2
from ..lattice.geometry import Lattice

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


@dataclass(frozen=True)
class NetConfig:
    """Size and design of a drift network (a small CPU model by default)."""

    L: int
    d: int = 2
    family: str = "site"
    width: int = 32
    depth: int = 4
    kernel: int = 3
    embed: int = 32
    spectral: bool = False
    z2: bool = False
    size_agnostic: bool = False  # fully convolutional: may be applied at other L if asked to
    condition: str = "channels"  # "channels": α map and A x as inputs + FiLM; "film": FiLM only

    def __post_init__(self):
        Lattice(self.L, self.d)
        if self.d not in CONV:
            raise ConfigError(f"d = {self.d}: drift networks are implemented for d = 1, 2, 3")
        if self.family not in ("scalar", "site", "fourier"):
            raise ConfigError(f"family = {self.family!r} is not one of scalar, site, fourier")
        for k in ("width", "depth", "embed", "kernel"):
            require_int(k, getattr(self, k), 1)
        if self.condition not in ("channels", "film"):
            raise ConfigError(f"condition = {self.condition!r} is not one of channels, film")
        if self.kernel % 2 != 1:
            raise ConfigError(f"kernel = {self.kernel} must be odd")

    def to_dict(self) -> dict:
        return asdict(self)


def _time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of a scalar per sample, (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / max(half - 1, 1))
    ang = t[:, None] * freqs[None] * 2 * math.pi
    emb = torch.cat([torch.sin(ang), torch.cos(ang)], -1)
    return emb if dim % 2 == 0 else torch.cat([emb, t[:, None]], -1)


class SpectralFilter(nn.Module):
    """Per channel, multiply the field's Fourier modes by g_c(a_k, k̂²), a small learned MLP."""

    def __init__(self, channels: int, d: int, hidden: int = 16):
        super().__init__()
        self.d = d
        self.mlp = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(), nn.Linear(hidden, channels))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, h: torch.Tensor, a_modes: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
        axes = tuple(range(2, 2 + self.d))
        feats = torch.stack([a_modes, k2.expand_as(a_modes)], -1)  # (B, L.., 2)
        g = 1.0 + self.mlp(feats.to(h.dtype))  # (B, L.., C): identity at initialisation
        g = g.movedim(-1, 1)
        hk = torch.fft.fftn(h.float() if h.dtype == torch.bfloat16 else h, dim=axes, norm="ortho")
        return torch.fft.ifftn(hk * g, dim=axes, norm="ortho").real.to(h.dtype)


class Block(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        Conv = CONV[cfg.d]
        pad = cfg.kernel // 2
        self.conv1 = Conv(cfg.width, cfg.width, cfg.kernel, padding=pad, padding_mode="circular")
        self.conv2 = Conv(cfg.width, cfg.width, cfg.kernel, padding=pad, padding_mode="circular")
        self.film = nn.Linear(cfg.embed, 2 * cfg.width)
        self.norm = nn.GroupNorm(1, cfg.width)
        self.spectral = SpectralFilter(cfg.width, cfg.d) if cfg.spectral else None
        self.act = nn.SiLU()

    def forward(self, h, emb, a_modes=None, k2=None):
        scale, shift = self.film(emb).chunk(2, -1)
        view = (h.shape[0], -1) + (1,) * (h.dim() - 2)
        z = self.norm(h) * (1 + scale.view(view)) + shift.view(view)
        z = self.conv1(self.act(z))
        if self.spectral is not None:
            z = self.spectral(z, a_modes, k2)
        z = self.conv2(self.act(z))
        return h + z


class DriftNet(nn.Module):
    """η̂(x; A) with the Drift interface: `net(x, op)` returns Eta(η0, η1)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        Conv = CONV[cfg.d]
        pad = cfg.kernel // 2
        self.inp = Conv(3, cfg.width, cfg.kernel, padding=pad, padding_mode="circular")
        self.emb = nn.Sequential(nn.Linear(cfg.embed, cfg.embed), nn.SiLU(), nn.Linear(cfg.embed, cfg.embed))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.out = Conv(cfg.width, 1, cfg.kernel, padding=pad, padding_mode="circular")
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _check(self, x: torch.Tensor, op: Operator) -> Lattice:
        L = x.shape[-1]
        if x.dim() != self.cfg.d + 1:
            raise ConfigError(f"input has shape {tuple(x.shape)}, expected (B, L{', L' * (self.cfg.d - 1)})")
        if L != self.cfg.L and not self.cfg.size_agnostic:
            raise ConfigError(f"network was built for L = {self.cfg.L}, got L = {L}")
        fam = op.family.name
        ok = fam == self.cfg.family or fam == "scalar"
        if not ok:
            raise ConfigError(f"network was trained on the {self.cfg.family} family, got a {fam} operator")
        return Lattice(L, self.cfg.d)

    def predict(self, x: torch.Tensor, op: Operator) -> torch.Tensor:
        """η̂ ≈ E[x0 − x1 | I = x] (B, L, ..., L)."""
        lat = self._check(x, op)
        a = op.a
        B = x.shape[0]
        shape = (B,) + lat.shape
        if isinstance(op.family, FourierFamily) and a.shape[1:] != (1,) * lat.d:
            a_site = torch.ones(shape, dtype=x.dtype, device=x.device) * a.mean(dim=tuple(range(1, a.dim())), keepdim=True)
            a_modes = a.expand(shape)
        else:
            a_site = a.expand(shape)
            a_modes = a.mean(dim=tuple(range(1, a.dim())), keepdim=True).expand(shape)
        Ax = op.A(x)
        if self.cfg.z2:
            return 0.5 * (self._net(x, Ax, a_site, a_modes, lat) - self._net(-x, -Ax, a_site, a_modes, lat))
        return self._net(x, Ax, a_site, a_modes, lat)

    def _net(self, x, Ax, a_site, a_modes, lat):
        if self.cfg.condition == "film":  # ablation: the operator only through the embedding
            Ax, a_site = torch.zeros_like(Ax), torch.zeros_like(a_site)
        h = self.inp(torch.stack([x, Ax, a_site], 1))
        t = a_modes.reshape(a_modes.shape[0], -1).mean(1)
        emb = self.emb(_time_embedding(t.to(h.dtype), self.cfg.embed))
        k2 = khat2(lat, dtype=h.dtype, device=h.device) if self.cfg.spectral else None
        for blk in self.blocks:
            h = blk(h, emb, a_modes, k2)
        return self.out(h)[:, 0]

    def forward(self, x: torch.Tensor, op: Operator, raw: bool = False):
        """Eta(η0, η1) — the Drift interface — or, with raw=True, the prediction η̂ itself."""
        pred = self.predict(x, op)
        return pred if raw else eta_from_prediction(x, op, pred)
