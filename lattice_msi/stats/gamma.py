"""Γ-method error analysis with Wolff's automatic window, for one or many Markov chains.

U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156 (2004) 143.
For primary observables a_α and a derived quantity F(ā), the fluctuations are projected on
∂F/∂a_α (computed here by autograd), the autocorrelation function Γ_F(t) is estimated over all
chains (replicas) with the global mean, and the window W is the first one with
g(W) = exp(−W/τ(W)) − τ(W)/√(W N) < 0, τ(W) = S / ln((2τ_int(W)+1)/(2τ_int(W)−1)).
Independent samples (a generative model) go through the same code and give τ_int ≈ ½.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class Estimate:
    """Mean value with its error, integrated autocorrelation time (in samples) and window."""

    value: float
    error: float
    tau_int: float
    tau_int_error: float
    window: int
    n_samples: int
    n_chains: int

    def __str__(self) -> str:
        return format_value_error(self.value, self.error)

    def pull(self, other: float, other_error: float = 0.0) -> float:
        """(self − other) / combined error."""
        s = math.hypot(self.error, other_error)
        return (self.value - other) / s if s > 0 else (0.0 if self.value == other else math.inf)


def format_value_error(value: float, error: float, digits: int = 2) -> str:
    """0.3303(20)-style string with `digits` significant digits of the error."""
    if not math.isfinite(error) or error <= 0:
        return f"{value:.6g}"
    exp = math.floor(math.log10(error)) - digits + 1
    dec = max(0, -exp)
    err_digits = round(error / 10**exp)
    if dec == 0:
        return f"{value:.0f}({err_digits * 10**exp:.0f})"
    return f"{value:.{dec}f}({err_digits})"


def _as_replicas(data) -> list[np.ndarray]:
    """Normalise input to a list of float64 arrays, one per chain, each (N_r, n_obs)."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().double().numpy()
    if isinstance(data, np.ndarray):
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :, None]
        elif arr.ndim == 2:
            arr = arr[:, :, None]
        elif arr.ndim != 3:
            raise ConfigError(f"data has {arr.ndim} dimensions, expected (chains, samples[, observables])")
        reps = list(arr)
    else:
        reps = []
        for r in data:
            a = np.asarray(r.detach().cpu().numpy() if isinstance(r, torch.Tensor) else r, dtype=np.float64)
            reps.append(a[:, None] if a.ndim == 1 else a)
    if not reps:
        raise ConfigError("data holds no chains")
    nobs = {r.shape[1] for r in reps}
    if len(nobs) != 1:
        raise ConfigError(f"chains disagree on the number of observables: {sorted(nobs)}")
    for r in reps:
        if not np.all(np.isfinite(r)):
            raise ConfigError("data contains non-finite values")
    return reps


def _autocov(x: np.ndarray, tmax: int) -> np.ndarray:
    """Un-normalised Σ_i x_i x_{i+t} for t = 0..tmax−1 via FFT (x has zero global mean)."""
    n = len(x)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, size)
    ac = np.fft.irfft(f * np.conj(f), size)[:tmax]
    return ac


def gamma_method(
    data,
    func: Callable[[torch.Tensor], torch.Tensor] | None = None,
    S: float = 1.5,
) -> Estimate:
    """Estimate F(⟨a⟩) and its error from Markov-chain data.

    data: array (chains, samples) or (chains, samples, n_obs), or a list of per-chain arrays
          (samples_r[, n_obs]) of possibly different lengths.
    func: maps the float64 tensor of means (n_obs,) to a scalar tensor (torch ops, so that
          autograd gives its gradient). Default: the single observable itself.
    S:    Wolff's window factor; S = 0 switches the window off (τ_int = ½, i.i.d. data).
    """
    reps = _as_replicas(data)
    nobs = reps[0].shape[1]
    if func is None and nobs != 1:
        raise ConfigError(f"{nobs} observables given without a function to combine them")
    N = sum(len(r) for r in reps)
    if N < 2:
        raise ConfigError(f"{N} samples are too few for an error estimate")
    abar = sum(r.sum(0) for r in reps) / N
    a = torch.tensor(abar, dtype=torch.float64, requires_grad=True)
    f = a[0] if func is None else func(a)
    if f.dim() != 0:
        raise ConfigError(f"func returned shape {tuple(f.shape)}, expected a scalar")
    (grad,) = torch.autograd.grad(f, a, allow_unused=True)
    grad = np.zeros(nobs) if grad is None else grad.numpy()
    value = float(f.detach())
    if not (math.isfinite(value) and np.all(np.isfinite(grad))):
        raise ConfigError(f"the derived quantity is not finite or not differentiable at the mean (value {value})")
    proj = [(r - abar) @ grad for r in reps]

    nmin = min(len(p) for p in proj)
    tmax = max(1, nmin // 2)
    gam = np.zeros(tmax)
    for p in proj:
        gam[: min(tmax, len(p))] += _autocov(p, min(tmax, len(p)))
    counts = np.array([sum(max(0, len(p) - t) for p in proj) for t in range(tmax)], dtype=np.float64)
    gam /= counts
    g0 = gam[0]
    if g0 <= 0.0:
        return Estimate(value, 0.0, 0.5, 0.0, 0, N, len(reps))

    W = 0
    if S > 0 and tmax > 1:
        rho = gam / g0
        tau_w = 0.5 + np.cumsum(rho[1:])  # τ_int(W) for W = 1..tmax−1
        Ws = np.arange(1, tmax)
        tau = np.full_like(tau_w, 1e-12)
        ok = tau_w > 0.5
        tau[ok] = S / np.log((2 * tau_w[ok] + 1) / (2 * tau_w[ok] - 1))
        g = np.exp(-Ws / tau) - tau / np.sqrt(Ws * N)
        neg = np.nonzero(g < 0)[0]
        W = int(Ws[neg[0]]) if len(neg) else int(Ws[-1])
    cf = g0 + 2.0 * gam[1 : W + 1].sum()
    cf *= 1.0 + (2 * W + 1) / N  # Wolff's bias correction of the window sum
    if cf <= 0.0:
        # strongly anti-correlated chains (e.g. an HMC trajectory near half a period of a mode):
        # the window sum is not a usable variance. With several independent chains, the spread
        # of their means still is; with one chain fall back to the i.i.d. error (conservative).
        cf = _between_chain_cf(proj) if len(proj) > 1 else g0
    tau_int = cf / (2.0 * g0)
    error = math.sqrt(cf / N)
    tau_err = tau_int * math.sqrt((4 * W + 2) / N)
    return Estimate(value, error, tau_int, tau_err, W, N, len(reps))


def _between_chain_cf(proj: list[np.ndarray]) -> float:
    """N·Var(global mean) estimated from the scatter of independent chain means (projected data)."""
    n = np.array([len(p) for p in proj], dtype=np.float64)
    means = np.array([p.mean() for p in proj])
    N = n.sum()
    mbar = (n * means).sum() / N
    var_mean = (n**2 * (means - mbar) ** 2).sum() / (N**2) * len(proj) / (len(proj) - 1)
    return max(var_mean * N, 1e-300)


def mean_error(data, S: float = 1.5) -> Estimate:
    """Γ-method estimate of the mean of a single observable (chains, samples)."""
    return gamma_method(data, None, S)


def stack_observables(*obs: Sequence) -> np.ndarray:
    """Stack per-config observables, each (chains, samples), into (chains, samples, n_obs)."""
    arrs = [np.asarray(o.detach().cpu().numpy() if isinstance(o, torch.Tensor) else o, dtype=np.float64) for o in obs]
    return np.stack(arrs, axis=-1)
