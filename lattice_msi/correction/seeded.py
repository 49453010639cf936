"""Model-seeded HMC: generated configurations start HMC chains, which then need little or no
thermalisation. HMC keeps e^{−S} exactly whatever the start, so the model only buys time.

The saving is measured, not assumed: the same HMC (same ε, same trajectory) runs from the
model's configurations and from a hot start, and for each the thermalisation time is the first
trajectory t from which the cross-chain mean of an observable stays within k standard errors of
its equilibrium value (σ_t² from the chain scatter at t plus the equilibrium value's own error²).
The equilibrium value and its Γ-method error come from the second halves of both runs pooled.
After thermalisation both produce the same production for the same work, so at equal final
error the model saves (t_scratch − t_seeded) trajectories per chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError
from ..lattice.action import Phi4Action
from ..mcmc.hmc import HMC, HMCConfig
from ..stats import gamma_method

OBSERVABLES = ("s", "absM", "M2")


def _observe(action: Phi4Action, phi: torch.Tensor) -> dict[str, np.ndarray]:
    V = phi[0].numel()
    M = phi.flatten(1).double().mean(1)
    return {"s": (action.action(phi).double() / V).cpu().numpy(), "absM": M.abs().cpu().numpy(), "M2": (M * M).cpu().numpy()}


def hmc_series(phi0: torch.Tensor, action: Phi4Action, config: HMCConfig, n_traj: int, generator: torch.Generator) -> dict[str, np.ndarray]:
    """HMC from phi0 (chains, L, ..., L): per-trajectory S/V, |M|, M², each (n_traj + 1, chains)."""
    hmc = HMC(action, config)
    phi = phi0.clone()
    rows = [_observe(action, phi)]
    for _ in range(n_traj):
        phi = hmc.trajectory(phi, generator).phi
        rows.append(_observe(action, phi))
    return {k: np.stack([r[k] for r in rows]) for k in OBSERVABLES}


def thermalisation_time(series: np.ndarray, mu: float, sigma_mu: float, k: float = 4.0) -> int:
    """First t with |mean_t − μ| ≤ k √(σ_t² + σ_μ²) for every later t (len(series) if never)."""
    C = series.shape[1]
    m = series.mean(1)
    s = series.std(1, ddof=1) / np.sqrt(C) if C > 1 else np.zeros_like(m)
    ok = np.abs(m - mu) <= k * np.sqrt(s * s + sigma_mu**2)
    bad = np.flatnonzero(~ok)
    return 0 if len(bad) == 0 else int(bad[-1] + 1)


@dataclass
class ThermalisationRun:
    t_seeded: dict[str, int]
    t_scratch: dict[str, int]
    equilibrium: dict[str, tuple[float, float]]  # value, error
    seeded: dict[str, np.ndarray]
    scratch: dict[str, np.ndarray]
    n_traj: int
    chains: int

    @property
    def saved_per_chain(self) -> int:
        """Trajectories per chain saved by the seeds: the slowest observable decides."""
        return max(self.t_scratch.values()) - max(self.t_seeded.values())

    def table(self) -> str:
        rows = [f"{'observable':<8} {'equilibrium':>14} {'t_therm seeded':>15} {'t_therm scratch':>16}"]
        for k in self.t_seeded:
            v, e = self.equilibrium[k]
            rows.append(f"{k:<8} {v:>8.5f}({e:.1e}) {self.t_seeded[k]:>15d} {self.t_scratch[k]:>16d}")
        rows.append(f"saved: {self.saved_per_chain} trajectories per chain, {self.saved_per_chain * self.chains} in all ({self.chains} chains)")
        return "\n".join(rows)


def compare_thermalisation(seeds: torch.Tensor, action: Phi4Action, config: HMCConfig, n_traj: int, seed: int = 0,
                           k: float = 4.0, start_scale: float = 0.5) -> ThermalisationRun:
    """HMC from the seeds and from a hot start (φ ~ N(0, start_scale²)), same ε and chain count."""
    if n_traj < 4:
        raise ConfigError(f"n_traj = {n_traj} is too short to see thermalisation")
    g = torch.Generator(device=seeds.device).manual_seed(seed)
    hot = start_scale * torch.randn(seeds.shape, generator=g, dtype=seeds.dtype, device=seeds.device)
    a = hmc_series(seeds, action, config, n_traj, g)
    b = hmc_series(hot, action, config, n_traj, g)
    half = n_traj // 2
    eq, ts, tr = {}, {}, {}
    for name in OBSERVABLES:
        tail = np.concatenate([a[name][half:], b[name][half:]], axis=1)  # (T/2, 2C)
        est = gamma_method([tail[:, c : c + 1] for c in range(tail.shape[1])], lambda x: x[0])
        eq[name] = (est.value, est.error)
        ts[name] = thermalisation_time(a[name], est.value, est.error, k)
        tr[name] = thermalisation_time(b[name], est.value, est.error, k)
    return ThermalisationRun(ts, tr, eq, a, b, n_traj, seeds.shape[0])
