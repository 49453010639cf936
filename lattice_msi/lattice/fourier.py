"""Lattice momenta and the unitary DFT over the lattice axes of batched fields.

Momenta k_μ = 2π n_μ / L with n_μ in FFT order (0, 1, ..., L−1 wrapped to (−L/2, L/2]);
the lattice Laplacian's eigenvalues are k̂² = Σ_μ 4 sin²(k_μ/2).
"""

from __future__ import annotations

import math

import torch

from .geometry import Lattice


def momenta(lattice: Lattice, dtype=torch.float64, device=None) -> torch.Tensor:
    """k_μ for every mode: tensor of shape (d, L, ..., L) in FFT order."""
    n = torch.fft.fftfreq(lattice.L, d=1.0 / lattice.L, dtype=dtype, device=device)
    k1 = 2.0 * math.pi * n / lattice.L
    grids = torch.meshgrid(*([k1] * lattice.d), indexing="ij")
    return torch.stack(grids)


def khat2(lattice: Lattice, dtype=torch.float64, device=None) -> torch.Tensor:
    """k̂² = Σ_μ 4 sin²(k_μ/2), shape (L, ..., L) in FFT order."""
    k = momenta(lattice, dtype=dtype, device=device)
    return (4.0 * torch.sin(k / 2.0) ** 2).sum(0)


def fft(phi: torch.Tensor, lattice: Lattice) -> torch.Tensor:
    """Unitary DFT over the lattice axes: φ̂_k = V^{-1/2} Σ_x e^{−ik·x} φ_x."""
    return torch.fft.fftn(phi, dim=lattice.axes, norm="ortho")


def ifft(phik: torch.Tensor, lattice: Lattice) -> torch.Tensor:
    """Inverse of fft, real part (the input is assumed Hermitian)."""
    return torch.fft.ifftn(phik, dim=lattice.axes, norm="ortho").real
