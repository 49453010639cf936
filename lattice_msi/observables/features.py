"""Per-configuration features from which every ensemble observable is estimated.

Computed chunk by chunk (so ensembles larger than memory stream through), they are small:
M, |M|, M², M⁴, φ², the G̃(k) of each orbit of momenta under the lattice symmetries (modes with
the same sorted |n_μ|, averaged), and the zero-momentum time-slice correlator C(t) (time is
the last lattice axis): C(t) = V_s⁻¹ L⁻¹ Σ_τ S(τ) S(τ + t) with S(τ) = Σ_x⃗ φ(x⃗, τ).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..lattice.fourier import fft, khat2
from ..lattice.geometry import Lattice

SCALARS = ("M", "absM", "M2", "M4", "phi2")


@dataclass(frozen=True)
class MomentumOrbits:
    """Momentum classes: index of every mode's orbit, orbit representatives and k̂² per orbit."""

    index: np.ndarray  # (V,) orbit of each mode (FFT order, flattened)
    n: np.ndarray  # (n_orbits, d) sorted |n_μ| of each orbit
    khat2: np.ndarray  # (n_orbits,)
    size: np.ndarray  # modes per orbit

    @property
    def count(self) -> int:
        return len(self.n)

    def kmin(self, L: int) -> int:
        """The orbit of the lowest non-zero momentum (1, 0, ..., 0)."""
        target = np.zeros(self.n.shape[1], dtype=int)
        target[-1] = 1
        return int(np.nonzero((self.n == np.sort(target)).all(1))[0][0])

    def zero(self) -> int:
        return int(np.nonzero((self.n == 0).all(1))[0][0])


@lru_cache(maxsize=16)
def momentum_orbits(L: int, d: int) -> MomentumOrbits:
    lat = Lattice(L, d)
    n1 = np.abs(np.fft.fftfreq(L, d=1.0 / L).round().astype(int))
    grids = np.stack(np.meshgrid(*[n1] * d, indexing="ij"), -1).reshape(-1, d)
    keys = np.sort(grids, axis=1)
    uniq, index = np.unique(keys, axis=0, return_inverse=True)
    k2 = khat2(lat).reshape(-1).numpy()
    k2_orbit = np.array([k2[index == i][0] for i in range(len(uniq))])
    return MomentumOrbits(index.reshape(-1), uniq, k2_orbit, np.bincount(index.reshape(-1)))


def config_features(phi: torch.Tensor, lattice: Lattice, action=None) -> dict[str, np.ndarray]:
    """Features of configurations (n, L, ..., L): scalars (n,), 'Gk' (n, n_orbits), 'Ct' (n, L);
    with an action, also the action density 's' = S/V."""
    phi = phi.double()
    n = phi.shape[0]
    axes = lattice.axes
    M = phi.mean(dim=axes)
    M2 = M * M
    orb = momentum_orbits(lattice.L, lattice.d)
    gk = (fft(phi, lattice).abs() ** 2).reshape(n, -1)
    idx = torch.as_tensor(orb.index)
    Gk = torch.zeros(n, orb.count, dtype=torch.float64).index_add_(1, idx, gk) / torch.as_tensor(orb.size, dtype=torch.float64)
    S = phi.sum(dim=axes[:-1]) if lattice.d > 1 else phi  # (n, L): time slices
    Sh = torch.fft.fft(S, dim=-1)
    Ct = torch.fft.ifft(Sh.abs() ** 2, dim=-1).real / (lattice.L * (lattice.volume // lattice.L))
    extra = {} if action is None else {"s": (action(phi) / lattice.volume).numpy()}
    return {
        **extra,
        "M": M.numpy(),
        "absM": M.abs().numpy(),
        "M2": M2.numpy(),
        "M4": (M2 * M2).numpy(),
        "phi2": (phi * phi).mean(dim=axes).numpy(),
        "Gk": Gk.numpy(),
        "Ct": Ct.numpy(),
    }


def two_point(phi: torch.Tensor, lattice: Lattice) -> torch.Tensor:
    """Full G(x) = V⁻¹ Σ_y φ_y φ_{y+x} per configuration, shape (n, L, ..., L)."""
    ph = torch.fft.fftn(phi.double(), dim=lattice.axes)
    return torch.fft.ifftn(ph.abs() ** 2, dim=lattice.axes).real / lattice.volume
