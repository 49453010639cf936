"""The φ⁴ action S(φ) and its force F = −∂S/∂φ, batched over configurations (MATH.md §1).

    S(φ) = Σ_x [ (2d + m²) φ_x² + λ φ_x⁴ − h φ_x − 2 Σ_μ φ_x φ_{x+μ̂} ]
    F_x  = −2(2d + m²) φ_x − 4λ φ_x³ + h + 2 Σ_{±μ} φ_{x±μ̂}

Fields are (B, L, ..., L); device and dtype follow the input. The force has an in-place path
(`out=`, `work=`) that reuses buffers, which the HMC integrator uses on its hot loop.
"""

from __future__ import annotations

import torch

from .couplings import Couplings
from .geometry import Lattice


def neighbour_sum(phi: torch.Tensor, axes, out: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_{±μ} φ_{x±μ̂} over the given lattice axes, periodic, without allocating when out is given."""
    if out is None:
        out = torch.zeros_like(phi)
    else:
        out.zero_()
    for a in axes:
        n = phi.shape[a]
        # forward neighbour φ_{x+μ̂}: out[i] += φ[i+1]
        out.narrow(a, 0, n - 1).add_(phi.narrow(a, 1, n - 1))
        out.narrow(a, n - 1, 1).add_(phi.narrow(a, 0, 1))
        # backward neighbour φ_{x−μ̂}: out[i] += φ[i−1]
        out.narrow(a, 1, n - 1).add_(phi.narrow(a, 0, n - 1))
        out.narrow(a, 0, 1).add_(phi.narrow(a, n - 1, 1))
    return out


def forward_neighbour(phi: torch.Tensor, a: int) -> torch.Tensor:
    """φ_{x+μ̂} along axis a (periodic): the values of torch.roll(phi, -1, a), in phi's memory layout."""
    n = phi.shape[a]
    out = torch.empty_like(phi)
    out.narrow(a, 0, n - 1).copy_(phi.narrow(a, 1, n - 1))
    out.narrow(a, n - 1, 1).copy_(phi.narrow(a, 0, 1))
    return out


class Phi4Action:
    """φ⁴ lattice action on a periodic lattice; callable as action(phi) -> S of shape (B,)."""

    def __init__(self, lattice: Lattice, couplings: Couplings):
        self.lattice = lattice
        self.couplings = couplings
        self._mass = 2.0 * lattice.d + couplings.m2  # coefficient of φ² in S

    def __call__(self, phi: torch.Tensor) -> torch.Tensor:
        return self.action(phi)

    def action(self, phi: torch.Tensor) -> torch.Tensor:
        """S per configuration, shape (B,), accumulated in at least float64 precision."""
        c = self.couplings
        axes = self.lattice.axes
        phi2 = phi * phi
        dens = self._mass * phi2 + c.lam * phi2 * phi2 - c.h * phi
        hop = sum(phi * forward_neighbour(phi, a) for a in axes)
        dens = dens - 2.0 * hop
        acc = torch.float64 if phi.dtype in (torch.float16, torch.bfloat16, torch.float32) else phi.dtype
        return dens.sum(dim=axes, dtype=acc)

    def force(
        self, phi: torch.Tensor, out: torch.Tensor | None = None, work: torch.Tensor | None = None
    ) -> torch.Tensor:
        """F = −∂S/∂φ, shape of phi. With out/work (same shape) it allocates nothing."""
        c = self.couplings
        out = neighbour_sum(phi, self.lattice.axes, out)
        out.mul_(2.0)
        out.add_(phi, alpha=-2.0 * self._mass)
        if c.lam != 0.0:
            if work is None:
                work = torch.empty_like(phi)
            torch.mul(phi, phi, out=work)
            work.mul_(phi)
            out.add_(work, alpha=-4.0 * c.lam)
        if c.h != 0.0:
            out.add_(c.h)
        return out
