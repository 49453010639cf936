"""Per-configuration observables of batched fields (B, L, ..., L); results have shape (B,) or (B, L,...,L)."""

from __future__ import annotations

import torch

from ..lattice.fourier import fft
from ..lattice.geometry import Lattice


def _axes(phi: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(1, phi.dim()))


def magnetization(phi: torch.Tensor) -> torch.Tensor:
    """M = V⁻¹ Σ_x φ_x."""
    return phi.mean(dim=_axes(phi))


def abs_magnetization(phi: torch.Tensor) -> torch.Tensor:
    return magnetization(phi).abs()


def phi2(phi: torch.Tensor) -> torch.Tensor:
    """V⁻¹ Σ_x φ_x²."""
    return (phi * phi).mean(dim=_axes(phi))


def action_density(phi: torch.Tensor, action) -> torch.Tensor:
    """S(φ)/V for a callable action."""
    return action(phi) / phi[0].numel()


def momentum_two_point(phi: torch.Tensor, lattice: Lattice) -> torch.Tensor:
    """|φ̂_k|² = V⁻¹ |Σ_x e^{−ik·x} φ_x|² per configuration and mode, shape (B, L, ..., L)."""
    return fft(phi, lattice).abs() ** 2


def per_config(phi: torch.Tensor, lattice: Lattice) -> dict[str, torch.Tensor]:
    """The per-config primaries used by summaries: M, |M|, M², M⁴, φ², G̃(0), G̃(k_min).

    G̃(k_min) is averaged over the d lattice directions of the lowest non-zero momentum.
    """
    M = magnetization(phi)
    M2 = M * M
    gk = momentum_two_point(phi, lattice)
    idx0 = (slice(None),) + (0,) * lattice.d
    kmin = []
    for mu in range(lattice.d):
        idx = [0] * lattice.d
        idx[mu] = 1
        kmin.append(gk[(slice(None),) + tuple(idx)])
    return {
        "M": M,
        "absM": M.abs(),
        "M2": M2,
        "M4": M2 * M2,
        "phi2": phi2(phi),
        "G0": gk[idx0],
        "Gkmin": torch.stack(kmin).mean(0),
    }
