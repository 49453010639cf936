"""Exact results for the Gaussian free field λ = 0, m² > 0 (MATH.md §2).

S = φᵀKφ − hᵀφ with K = m² − Δ_lat, so φ ~ N(μ, C), C = (2K)⁻¹, μ = C h:
    G̃(k) = 1 / (2 (m² + k̂²)),   ⟨φ_x²⟩ − μ_x² = V⁻¹ Σ_k G̃(k),   μ = h / (2 m²) for uniform h.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .couplings import Couplings
from .fourier import fft, ifft, khat2
from .geometry import Lattice


def _require_free(c: Couplings) -> None:
    if not c.is_free:
        raise ConfigError(f"lam = {c.lam}: exact free-field results need lam = 0")


def propagator(lattice: Lattice, couplings: Couplings, dtype=torch.float64, device=None) -> torch.Tensor:
    """G̃(k) = V⁻¹⟨|Σ_x e^{−ik·x}(φ_x − μ_x)|²⟩ = 1/(2(m² + k̂²)), shape (L,...,L), FFT order."""
    _require_free(couplings)
    return 0.5 / (couplings.m2 + khat2(lattice, dtype=dtype, device=device))


def phi2_connected(lattice: Lattice, couplings: Couplings) -> float:
    """⟨φ_x²⟩ − μ_x² = V⁻¹ Σ_k G̃(k)."""
    return float(propagator(lattice, couplings).mean())


def mean_field(couplings: Couplings) -> float:
    """μ = h / (2 m²) per site for a uniform field h."""
    _require_free(couplings)
    return couplings.h / (2.0 * couplings.m2)


def phi2(lattice: Lattice, couplings: Couplings) -> float:
    """⟨φ_x²⟩ including the mean: V⁻¹ Σ_k G̃(k) + μ²."""
    return phi2_connected(lattice, couplings) + mean_field(couplings) ** 2


def sample(
    lattice: Lattice,
    couplings: Couplings,
    n: int,
    generator: torch.Generator,
    dtype=torch.float64,
    device=None,
) -> torch.Tensor:
    """n exact independent free-field configurations, shape (n, L, ..., L).

    A real white-noise field filtered by √G̃(k) in Fourier space (the unitary DFT of real
    white noise has the right Hermitian symmetry and unit variance per mode), plus the mean.
    """
    _require_free(couplings)
    white = torch.randn((n,) + lattice.shape, generator=generator, dtype=dtype, device=device)
    g = propagator(lattice, couplings, dtype=dtype, device=device)
    phi = ifft(fft(white, lattice) * g.sqrt(), lattice)
    return phi + mean_field(couplings)
