"""Independence Metropolis with the model as proposal: an exact Markov chain for e^{−S}.

Proposals φ'_i ~ q are i.i.d.; the chain moves from φ to φ' with probability
min(1, w(φ')/w(φ)), w = e^{−S}/q. The chain's law converges to e^{−S} for any q whose support
covers it; its autocorrelation comes only from rejections (τ_int ≈ (1 + r)/(1 − r) for a
rejection rate r independent of the state), measured with the Γ-method like any MCMC chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LatticeMSIError


@dataclass
class IMHResult:
    index: np.ndarray  # (N,) proposal index held by the chain at each step
    accepted: np.ndarray  # (N,) bool, step i accepted proposal i (step 0: the start)
    acceptance: float  # accepted fraction of the N − 1 proposals after the start


def independence_metropolis(log_w: np.ndarray, seed: int = 0) -> IMHResult:
    """The chain over proposals in their order, started at proposal 0."""
    lw = np.asarray(log_w, dtype=np.float64)
    if lw.ndim != 1 or len(lw) < 2:
        raise LatticeMSIError(f"independence Metropolis needs at least 2 proposals, got {lw.shape}")
    if not np.all(np.isfinite(lw)):
        raise LatticeMSIError("log-weights must be finite")
    log_u = np.log(np.random.default_rng(seed).random(len(lw)))
    index = np.empty(len(lw), dtype=np.int64)
    accepted = np.zeros(len(lw), dtype=bool)
    cur = 0
    index[0], accepted[0] = 0, True
    for i in range(1, len(lw)):
        if log_u[i] < lw[i] - lw[cur]:
            cur = i
            accepted[i] = True
        index[i] = cur
    return IMHResult(index, accepted, float(accepted[1:].mean()))
