"""Paths through operator space: t ∈ [0, 1] ↦ (A_t, B_t) from (Id, 0) (noise) to (0, Id) (data).

A task is a path (plus what is held fixed and a tilt). Every path here is a WindowPath: each
component c of the family basis (the single scalar component, a site, or a Fourier mode) has a
window [s_c, e_c] ⊂ [0, 1] in which its α_c goes from 1 to 0 along a schedule, β_c = 1 − α_c;
known (observed) components have α = 0, β = 1 for the whole path and never move.

- plain generation: one scalar window [0, 1];
- any order / autoregressive / block orders over sites: windows from a rank per site;
- coarse to fine: windows from the rank of |k̂| per Fourier mode (coarse modes first);
- inpainting / super-resolution: any of these with a `known` mask.
The integrators step between grid points with the exact increments Δα, Δβ of the path, so a
non-linear schedule is integrated in the path variable.
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ..lattice.fourier import khat2
from ..lattice.geometry import Lattice
from .families import Family, FourierFamily, Operator, ScalarFamily, SiteFamily

SCHEDULES = {
    "linear": lambda u: 1.0 - u,
    "cosine": lambda u: torch.cos(0.5 * math.pi * u),
}


class WindowPath:
    """Per-component windows [start, end] with α = schedule((t − start)/(end − start)) inside."""

    def __init__(
        self,
        family: Family,
        start: torch.Tensor,
        end: torch.Tensor,
        schedule: str = "linear",
        known: torch.Tensor | None = None,
        alpha_start: torch.Tensor | None = None,
    ):
        if schedule not in SCHEDULES:
            raise ConfigError(f"schedule = {schedule!r} is not one of {', '.join(SCHEDULES)}")
        shape = family.coef_shape
        start = torch.as_tensor(start, dtype=torch.float64).reshape(shape)
        end = torch.as_tensor(end, dtype=torch.float64).reshape(shape)
        if (start < 0).any() or (end > 1).any() or (end <= start).any():
            raise ConfigError("path windows must satisfy 0 <= start < end <= 1")
        self.family = family
        self.start, self.end = start, end
        self.schedule = schedule
        self.known = None if known is None else torch.as_tensor(known, dtype=torch.bool).reshape(shape)
        # α at the start of each window (1 = pure noise; < 1 starts from an observation, e.g. deblurring)
        self.alpha_start = None
        if alpha_start is not None:
            a0 = torch.as_tensor(alpha_start, dtype=torch.float64).reshape(shape)
            if (a0 <= 0).any() or (a0 > 1).any():
                raise ConfigError("alpha_start must lie in (0, 1]")
            self.alpha_start = a0
        if isinstance(family, FourierFamily):  # a valid Fourier operator needs even coefficients
            family.check_coef(self.alpha(0.37))

    def alpha(self, t: float) -> torch.Tensor:
        u = ((t - self.start) / (self.end - self.start)).clamp(0.0, 1.0)
        a = SCHEDULES[self.schedule](u)
        if self.alpha_start is not None:
            a = self.alpha_start * a
        a = torch.where(u >= 1.0, torch.zeros_like(a), a)  # exactly 0 once the window is over
        if self.known is not None:
            a = torch.where(self.known, torch.zeros_like(a), a)
        return a

    def op(self, t: float, dtype=torch.float64, device=None) -> Operator:
        a = self.alpha(float(t)).to(dtype=dtype, device=device)[None]
        return Operator(self.family, a, 1.0 - a)

    def grid(self, steps: int) -> torch.Tensor:
        """Time grid with `steps` equal steps inside every interval between window boundaries."""
        if steps < 1:
            raise ConfigError(f"steps = {steps} must be a positive integer")
        b = torch.unique(torch.cat([self.start.reshape(-1), self.end.reshape(-1), torch.tensor([0.0, 1.0], dtype=torch.float64)]))
        pieces = [torch.linspace(float(b[i]), float(b[i + 1]), steps + 1, dtype=torch.float64)[:-1] for i in range(len(b) - 1)]
        return torch.cat(pieces + [b[-1:]])


def generation_path(lattice: Lattice, schedule: str = "linear") -> WindowPath:
    """Plain generation: α_t = schedule(t) uniformly (scalar family)."""
    fam = ScalarFamily(lattice)
    one = torch.ones(fam.coef_shape, dtype=torch.float64)
    return WindowPath(fam, 0 * one, one, schedule)


def _windows_from_rank(rank: torch.Tensor, overlap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Component windows for ranks 0..R−1: window r is [r, r + overlap] / (R − 1 + overlap)."""
    rank = rank.to(torch.float64)
    R = float(rank.max()) + 1
    total = R - 1 + overlap
    return rank / total, (rank + overlap) / total


def site_order_path(lattice: Lattice, rank: torch.Tensor, overlap: float = 1.0, schedule: str = "linear", known=None) -> WindowPath:
    """Sites revealed in order of `rank` (equal ranks together); overlap > 1 lets windows overlap."""
    if overlap <= 0:
        raise ConfigError(f"overlap = {overlap} must be positive")
    s, e = _windows_from_rank(torch.as_tensor(rank).reshape(lattice.shape), overlap)
    return WindowPath(SiteFamily(lattice), s, e, schedule, known)


def raster_rank(lattice: Lattice) -> torch.Tensor:
    """Autoregressive (raster) order: site index in C order."""
    return torch.arange(lattice.volume).reshape(lattice.shape)


def random_rank(lattice: Lattice, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random site order (any-order generation)."""
    return torch.randperm(lattice.volume, generator=generator).reshape(lattice.shape)


def block_rank(lattice: Lattice, block: int) -> torch.Tensor:
    """Blocks of block^d sites revealed together, blocks in raster order."""
    if block < 1 or lattice.L % block:
        raise ConfigError(f"block = {block} must divide L = {lattice.L}")
    nb = lattice.L // block
    idx = torch.meshgrid(*[torch.arange(lattice.L) // block] * lattice.d, indexing="ij")
    r = torch.zeros(lattice.shape, dtype=torch.long)
    for i in idx:
        r = r * nb + i
    return r


def mode_rank(lattice: Lattice) -> torch.Tensor:
    """Rank of each Fourier mode by k̂² (ties share a rank; ±k always tie): coarse first."""
    k2 = khat2(lattice)
    vals = torch.unique(torch.round(k2 * 1e9) / 1e9)
    return torch.searchsorted(vals, torch.round(k2 * 1e9) / 1e9)


def coarse_to_fine_path(lattice: Lattice, overlap: float = 1.0, schedule: str = "linear", known=None) -> WindowPath:
    """Fourier modes revealed in order of |k̂|: long wavelengths become data first."""
    if overlap <= 0:
        raise ConfigError(f"overlap = {overlap} must be positive")
    s, e = _windows_from_rank(mode_rank(lattice), overlap)
    return WindowPath(FourierFamily(lattice), s, e, schedule, known)


def fourier_generation_path(lattice: Lattice, known=None, schedule: str = "linear") -> WindowPath:
    """All free modes on one window [0, 1] in the Fourier family (used with `known` modes)."""
    fam = FourierFamily(lattice)
    one = torch.ones(fam.coef_shape, dtype=torch.float64)
    return WindowPath(fam, 0 * one, one, schedule, known)


def site_generation_path(lattice: Lattice, known=None, schedule: str = "linear") -> WindowPath:
    """All free sites on one window [0, 1] in the site family (inpainting)."""
    fam = SiteFamily(lattice)
    one = torch.ones(fam.coef_shape, dtype=torch.float64)
    return WindowPath(fam, 0 * one, one, schedule, known)
