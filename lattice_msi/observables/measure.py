"""Ensemble estimates with Γ-method errors from per-config features (MATH.md §1).

Every estimate is a function of means of primaries, so one mechanism covers plain and
reweighted ensembles: with log-weights log w, a mean ⟨a⟩ becomes ⟨a w⟩/⟨w⟩ and the error of
the ratio (weights included) follows by the same linear propagation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from ..stats import Estimate, format_value_error, gamma_method
from .features import SCALARS, momentum_orbits


MIN_RELIABLE_ESS = 20  # below this, the self-normalised ratio's error estimate itself is noise


def binder_from_means(m2, m4):
    """U₄ = 1 − ⟨M⁴⟩ / (3 ⟨M²⟩²)."""
    return 1.0 - m4 / (3.0 * m2 * m2)


def xi2_from_means(g0, gkmin, L: int):
    """ξ₂ = √(G̃(0)/G̃(k_min) − 1) / (2 sin(π/L))."""
    return torch.sqrt(g0 / gkmin - 1.0) / (2.0 * math.sin(math.pi / L))


@dataclass
class Measurement:
    """Named scalar estimates plus G̃(k) per momentum orbit, C(t) and the effective mass."""

    estimates: dict[str, Estimate]
    Gk: list[Estimate]
    Ct: list[Estimate]
    meff: list[Estimate]
    orbit_khat2: np.ndarray
    orbit_n: np.ndarray
    n_configs: int
    n_chains: int
    ess: float | None = None  # Kish effective sample size of the weights, when reweighted
    M_series: list = field(default_factory=list)  # per-chain M in MC-time order (for distances)
    log_w_series: list | None = None  # per-chain log-weights, when reweighted
    meta: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Estimate:
        return self.estimates[key]

    def table(self) -> str:
        rows = [f"{'observable':<14} {'value':>18} {'tau_int':>9}"]
        for k, e in self.estimates.items():
            rows.append(f"{k:<14} {format_value_error(e.value, e.error):>18} {e.tau_int:>9.2f}")
        if self.ess is not None:
            rows.append(f"{'ESS/N':<14} {self.ess / self.n_configs:>18.4f}")
            if self.ess < MIN_RELIABLE_ESS:
                rows.append(f"warning: ESS = {self.ess:.1f} < {MIN_RELIABLE_ESS}: a few weights dominate, the errors above are not reliable")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        d = {k: {"value": e.value, "error": e.error, "tau_int": e.tau_int, "tau_int_error": e.tau_int_error} for k, e in self.estimates.items()}
        out = {"observables": d, "n_configs": self.n_configs, "n_chains": self.n_chains}
        if self.ess is not None:
            out["ess"] = self.ess
            out["ess_fraction"] = self.ess / self.n_configs
            out["ess_reliable"] = self.ess >= MIN_RELIABLE_ESS
        return out


def _split(values: np.ndarray, chain: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Per-chain series in MC-time order (values indexed like chain)."""
    v = values[order]
    c = chain[order]
    cuts = np.nonzero(np.diff(c))[0] + 1
    return np.split(v, cuts)


def measure(
    feats: dict[str, np.ndarray],
    L: int,
    d: int,
    chain: np.ndarray | None = None,
    mc_time: np.ndarray | None = None,
    h: float = 0.0,
    log_weights: np.ndarray | None = None,
    S: float = 1.5,
) -> Measurement:
    """Estimates from features (see features.config_features), grouped by chain and ordered by mc_time."""
    n = len(feats["M"])
    if n < 2:
        raise ConfigError(f"{n} configurations are too few to measure")
    chain = np.zeros(n, dtype=np.int64) if chain is None else np.asarray(chain)
    mc_time = np.arange(n) if mc_time is None else np.asarray(mc_time)
    order = np.lexsort((mc_time, chain))
    V = L**d
    orb = momentum_orbits(L, d)

    cols = [feats[k] for k in SCALARS]
    names = list(SCALARS)
    i0, ik = orb.zero(), orb.kmin(L)
    cols += [feats["Gk"][:, i0], feats["Gk"][:, ik]]
    names += ["G0", "Gkmin"]
    prim = np.stack(cols, -1)
    ix = {k: i for i, k in enumerate(names)}

    w = None
    ess = None
    if log_weights is not None:
        lw = np.asarray(log_weights, dtype=np.float64)
        if lw.shape != (n,) or not np.all(np.isfinite(lw)):
            raise ConfigError("log_weights must be finite, one per configuration")
        w = np.exp(lw - lw.max())
        ess = float(w.sum() ** 2 / (w * w).sum())

    def est(columns: np.ndarray, func):
        """Γ-method of func(means); reweighted as ⟨a w⟩/⟨w⟩ when weights are given."""
        if w is None:
            return gamma_method(_split(columns, chain, order), func, S)
        stacked = np.concatenate([columns * w[:, None], w[:, None]], axis=1)
        return gamma_method(_split(stacked, chain, order), lambda a: func(a[:-1] / a[-1]), S)

    def prim_est(*keys, f):
        return est(prim[:, [ix[k] for k in keys]], f)

    def derived(*keys, f):
        """A non-linear estimate that may be undefined at the means (ξ₂ with G̃(0) < G̃(k_min) in a
        tiny ensemble): NaN with the rest of the table, rather than no table."""
        try:
            return prim_est(*keys, f=f)
        except ConfigError:
            return Estimate(float("nan"), float("nan"), float("nan"), float("nan"), 0, n, len(np.unique(chain)))

    connected = h != 0.0
    E = {
        "<M>": prim_est("M", f=lambda a: a[0]),
        "<|M|>": prim_est("absM", f=lambda a: a[0]),
        "<M^2>": prim_est("M2", f=lambda a: a[0]),
        "<M^4>": prim_est("M4", f=lambda a: a[0]),
        "<phi^2>": prim_est("phi2", f=lambda a: a[0]),
        "V<M^2>": prim_est("M2", f=lambda a: V * a[0]),
        "chi": (prim_est("M2", "M", f=lambda a: V * (a[0] - a[1] ** 2)) if connected else prim_est("M2", "absM", f=lambda a: V * (a[0] - a[1] ** 2))),
        "U4": derived("M2", "M4", f=lambda a: binder_from_means(a[0], a[1])),
        "xi2": derived("G0", "Gkmin", "M", f=(lambda a: xi2_from_means(a[0] - V * a[2] ** 2, a[1], L)) if connected else (lambda a: xi2_from_means(a[0], a[1], L))),
    }
    if "s" in feats:
        E["<S>/V"] = est(np.asarray(feats["s"])[:, None], lambda a: a[0])
    Gk = [est(feats["Gk"][:, [j]], lambda a: a[0]) for j in range(orb.count)]
    Ct = [est(feats["Ct"][:, [t]], lambda a: a[0]) for t in range(L)]
    meff = []
    for t in range(1, L // 2):
        cols3 = feats["Ct"][:, [t - 1, t, t + 1]]
        try:
            e = est(cols3, lambda a: torch.acosh((a[0] + a[2]) / (2 * a[1])))
        except ConfigError:
            break  # (C(t−1) + C(t+1))/2C(t) ≤ 1: the signal has reached the noise, no m_eff beyond
        meff.append(e)
    M_series = _split(np.asarray(feats["M"]), chain, order)
    lw_series = None if log_weights is None else _split(np.asarray(log_weights, dtype=np.float64), chain, order)
    return Measurement(E, Gk, Ct, meff, orb.khat2, orb.n, n, len(np.unique(chain)), ess, M_series, lw_series)
