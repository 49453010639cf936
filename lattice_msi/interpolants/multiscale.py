"""Restriction of an L-lattice field to L/2 and its band-limited prolongation (MATH.md §6).

The coarse field keeps the strictly representable fine modes, |n_μ| < L/4 for every μ, and is
the band-limited fine field sampled on even sites:
    φ_c(y) = (P_< φ)(2y),   i.e.   φ̂_c(n) = 2^{−d/2} φ̂(n)  (unitary DFTs on both lattices),
which preserves the magnetization. The coarse lattice's Nyquist modes (n_μ = L/4 for some μ)
are identically zero in restricted fields, so a coarse path treats them as known zeros. The
coarse field's law is then exactly the low-mode marginal of the fine theory (not φ⁴ on L/2).
Prolongation is the inverse on that band: φ̂(n) = 2^{d/2} φ̂_c(n) for |n_μ| < L/4, else 0.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..lattice.fourier import fft, ifft
from ..lattice.geometry import Lattice


def _n(L: int) -> torch.Tensor:
    return torch.fft.fftfreq(L, d=1.0 / L).round().long()


def low_mode_mask(lattice: Lattice) -> torch.Tensor:
    """Fine modes kept by the restriction: |n_μ| < L/4 for all μ (FFT order)."""
    if lattice.L % 4:
        raise ConfigError(f"L = {lattice.L}: restriction to L/2 needs L divisible by 4")
    ok = _n(lattice.L).abs() * 4 < lattice.L
    m = torch.ones(lattice.shape, dtype=torch.bool)
    for ax in range(lattice.d):
        shape = [1] * lattice.d
        shape[ax] = lattice.L
        m = m & ok.reshape(shape)
    return m


def coarse_nyquist_mask(coarse: Lattice) -> torch.Tensor:
    """Coarse modes that restricted fields never populate (n_μ = L_c/2 for some μ)."""
    return ~low_mode_mask(Lattice(2 * coarse.L, coarse.d))[tuple(_coarse_index(coarse))]


def _coarse_index(coarse: Lattice):
    """Index of the coarse modes (FFT order) inside the fine FFT-ordered array."""
    Lc = coarse.L
    n = _n(Lc)  # coarse mode numbers, FFT order (the Nyquist appears as −Lc/2)
    idx = torch.where(n < 0, n + 2 * Lc, n)
    return torch.meshgrid(*[idx] * coarse.d, indexing="ij")


def restrict(phi: torch.Tensor, fine: Lattice) -> torch.Tensor:
    """Fine (B, L, ...) → coarse (B, L/2, ...), keeping the modes |n_μ| < L/4."""
    coarse = Lattice(fine.L // 2, fine.d)
    ph = fft(phi, fine) * low_mode_mask(fine).to(phi.device)
    idx = _coarse_index(coarse)
    pc = ph[(slice(None),) + tuple(idx)] * 2.0 ** (-fine.d / 2)
    return ifft(pc, coarse)


def prolong(phi_c: torch.Tensor, coarse: Lattice) -> torch.Tensor:
    """Coarse (B, L_c, ...) → band-limited fine (B, 2L_c, ...); exact inverse of restrict on the band."""
    fine = Lattice(2 * coarse.L, coarse.d)
    pc = fft(phi_c, coarse)
    ph = torch.zeros((phi_c.shape[0],) + fine.shape, dtype=pc.dtype, device=phi_c.device)
    ph[(slice(None),) + tuple(_coarse_index(coarse))] = pc * 2.0 ** (fine.d / 2)
    ph = ph * low_mode_mask(fine).to(phi_c.device)
    return ifft(ph, fine)
