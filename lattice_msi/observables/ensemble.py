"""Ensemble estimates with Γ-method errors: ⟨|M|⟩, χ, U₄, ⟨φ²⟩, ξ₂ (MATH.md §1)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..lattice.geometry import Lattice
from ..stats import Estimate, gamma_method
from .fields import per_config


def binder_from_means(m2: torch.Tensor, m4: torch.Tensor) -> torch.Tensor:
    """U₄ = 1 − ⟨M⁴⟩ / (3 ⟨M²⟩²)."""
    return 1.0 - m4 / (3.0 * m2 * m2)


def xi2_from_means(g0: torch.Tensor, gkmin: torch.Tensor, L: int) -> torch.Tensor:
    """ξ₂ = √(G̃(0)/G̃(k_min) − 1) / (2 sin(π/L))."""
    return torch.sqrt(g0 / gkmin - 1.0) / (2.0 * math.sin(math.pi / L))


@dataclass
class EnsembleSummary:
    """Named estimates of one ensemble."""

    estimates: dict[str, Estimate] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Estimate:
        return self.estimates[key]

    def table(self) -> str:
        rows = [f"{'observable':<12} {'value':>16} {'tau_int':>9}"]
        for k, e in self.estimates.items():
            rows.append(f"{k:<12} {str(e):>16} {e.tau_int:>9.2f}")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {k: {"value": e.value, "error": e.error, "tau_int": e.tau_int} for k, e in self.estimates.items()}


def summarize(phi: torch.Tensor, lattice: Lattice, S: float = 1.5) -> EnsembleSummary:
    """Estimates from configurations of shape (chains, samples, L, ..., L), in MC-time order.

    For i.i.d. samples pass (1, n, L, ...) or (n, 1, L, ...) — the errors are the same.
    """
    if phi.dim() != lattice.d + 2:
        raise ValueError(f"phi has shape {tuple(phi.shape)}, expected (chains, samples, L, ...)")
    R, N = phi.shape[:2]
    V = lattice.volume
    obs = per_config(phi.reshape((R * N,) + lattice.shape).double(), lattice)
    arr = {k: v.reshape(R, N).cpu().numpy() for k, v in obs.items()}

    def stack(*names):
        return np.stack([arr[n] for n in names], axis=-1)

    est = {
        "|M|": gamma_method(arr["absM"], S=S),
        "V<M^2>": gamma_method(stack("M2"), lambda a: V * a[0], S=S),
        "chi": gamma_method(stack("M2", "absM"), lambda a: V * (a[0] - a[1] ** 2), S=S),
        "U4": gamma_method(stack("M2", "M4"), lambda a: binder_from_means(a[0], a[1]), S=S),
        "<phi^2>": gamma_method(arr["phi2"], S=S),
        "xi2": gamma_method(stack("G0", "Gkmin"), lambda a: xi2_from_means(a[0], a[1], lattice.L), S=S),
    }
    return EnsembleSummary(est)
