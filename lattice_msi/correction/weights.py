"""Importance weights w ∝ e^{−S(φ)}/q(φ) of model samples, in log space.

log w = −S(φ) − log q(φ), with S the action of the target (field, mass shift and held sites
included: a posterior or an inpainting target is e^{−S} restricted to what is generated) and
q the exact density of the map that produced φ. Normalisation constants cancel in the
self-normalised estimates ⟨O w⟩/⟨w⟩ (observables.measure with log_weights), whose errors
include the weights. ESS/N = (Σw)² / (N Σw²) (Kish) says how much the model is worth.
"""

from __future__ import annotations

import numpy as np

from ..errors import LatticeMSIError
from ..observables.reweight import kish_ess


def importance_log_weights(action: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """log w = −S − log q per configuration (float64); refuses non-finite values."""
    S = np.asarray(action, dtype=np.float64)
    lq = np.asarray(log_q, dtype=np.float64)
    if S.shape != lq.shape:
        raise LatticeMSIError(f"{S.shape[0]} actions but {lq.shape[0]} log-densities")
    lw = -S - lq
    bad = np.flatnonzero(~np.isfinite(lw))
    if len(bad):
        raise LatticeMSIError(f"log-weight of configuration {bad[0]} is {lw[bad[0]]} (action {S[bad[0]]}, log q {lq[bad[0]]})")
    return lw


def ess_fraction(log_w: np.ndarray) -> float:
    """Kish effective sample size per sample, in (0, 1]."""
    return kish_ess(np.asarray(log_w, dtype=np.float64)) / len(log_w)


def weight_summary(action: np.ndarray, log_q: np.ndarray, M: np.ndarray, seed: int = 0) -> dict:
    """ESS/N, independence-Metropolis acceptance and τ_int of |M| and M² along its chain."""
    from ..stats import gamma_method
    from .imh import independence_metropolis

    lw = importance_log_weights(action, log_q)
    chain = independence_metropolis(lw, seed)
    out = {"ess_fraction": ess_fraction(lw), "imh_acceptance": chain.acceptance}
    for name, v in (("absM", np.abs(M)), ("M2", M * M)):
        est = gamma_method([v[chain.index][:, None]], lambda a: a[0])
        out[f"imh_tau_int_{name}"] = est.tau_int
    return out
