"""The exact law produced by a deterministic integrator when the drift is affine in x.

With the Gaussian oracle every Euler or Heun step is affine, so the whole map X_0 ↦ X_1 is
X_1 = M X_0 + c; pushing the V unit vectors and 0 through the sampler gives M and c exactly,
and a Gaussian input N(m, S) comes out as N(M m + c, M S Mᵀ). This measures discretisation
error without sampling noise (and is the exact density of the generated map for λ = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .integrators import sample


@dataclass
class AffineMap:
    M: torch.Tensor  # (V, V)
    c: torch.Tensor  # (V,)

    def push(self, mean: torch.Tensor, cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.M @ mean + self.c, self.M @ cov @ self.M.T


def affine_map(drift, path, grid, method: str, lattice, fixed=None, shift=None) -> AffineMap:
    """M and c of the integrator's map for an affine drift (deterministic methods only).

    fixed: (mask, values) held as in `sample` (M then has zero rows and columns there, and c
    carries the held values); shift: a mean-matched tilt's switch shift — give it (from
    Task.calibrate_shift): estimated from the batch of unit vectors it would be meaningless.
    """
    V = lattice.volume
    probes = torch.cat([torch.zeros(1, V, dtype=torch.float64), torch.eye(V, dtype=torch.float64)]).reshape((V + 1,) + lattice.shape)
    if fixed is not None:
        mask, values = fixed
        probes = torch.where(mask, values.to(torch.float64), probes)
        fixed = (mask, values.to(torch.float64).expand_as(probes))
    out = sample(drift, path, probes, grid, method, fixed=fixed, shift=shift).x.reshape(V + 1, V)
    c = out[0]
    return AffineMap((out[1:] - c).T, c)
