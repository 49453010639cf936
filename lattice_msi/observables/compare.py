"""Comparison of two ensembles: pulls of every observable, χ² of G̃(k), W1 and KS of M.

- pull = (other − ref)/√(σ_ref² + σ_other²) per observable (Γ-method errors of each side);
- χ² = Σ_orbits pull² of G̃(k) over the momentum orbits, with its p-value (dof = orbits);
- W1 and KS between the magnetization distributions, from chains thinned by ⌈2τ_int⌉ (the
  largest of M, |M|, M²) so that
  the samples are nearly independent; the level W1 reaches from sampling noise alone is the 95 %
  quantile of W1 between random splits of the pooled thinned samples (a permutation test, which
  also gives the p-value); the KS p-value is the two-sample one on the thinned samples.
Everything agrees when max |pull| < threshold and every p-value exceeds p_min.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

from ..errors import ConfigError
from .measure import Measurement

N_PERMUTATIONS = 200


def _thinned_M(m: Measurement) -> np.ndarray:
    if m.log_w_series is not None:  # a reweighted ensemble: resample by the weights (seeded)
        M = np.concatenate(m.M_series)
        lw = np.concatenate(m.log_w_series)
        w = np.exp(lw - lw.max())
        rng = np.random.default_rng(12345)
        n = max(2, int(m.ess))
        return rng.choice(M, size=n, p=w / w.sum())
    # the slowest of M (tunnelling between the two signs), |M| and M² sets the thinning
    tau = max(m.estimates["<M>"].tau_int, m.estimates["<|M|>"].tau_int, m.estimates["<M^2>"].tau_int, 0.5)
    step = max(1, int(math.ceil(2 * tau)))
    return np.concatenate([s[::step] for s in m.M_series])


@dataclass
class Comparison:
    names: list[str]
    ref: np.ndarray  # (n_obs, 2) value, error
    other: np.ndarray
    pulls: np.ndarray
    gk_chi2: float
    gk_dof: int
    gk_p: float
    w1: float
    w1_noise95: float
    w1_p: float
    ks: float
    ks_p: float
    threshold: float
    p_min: float
    khat2: np.ndarray
    gk_ref: np.ndarray
    gk_other: np.ndarray

    @property
    def agree(self) -> bool:
        return bool(np.all(np.abs(self.pulls) < self.threshold) and min(self.gk_p, self.w1_p, self.ks_p) > self.p_min)

    def table(self) -> str:
        from ..stats import format_value_error as f

        rows = [f"{'observable':<12} {'reference':>16} {'other':>16} {'pull':>7}"]
        for i, n in enumerate(self.names):
            flag = "  <--" if abs(self.pulls[i]) >= self.threshold else ""
            rows.append(f"{n:<12} {f(*self.ref[i]):>16} {f(*self.other[i]):>16} {self.pulls[i]:>+7.2f}{flag}")
        rows.append(f"G~(k): chi2 = {self.gk_chi2:.1f} / {self.gk_dof} orbits, p = {self.gk_p:.3g}")
        rows.append(f"M distribution: W1 = {self.w1:.4g} (noise level {self.w1_noise95:.4g}, p = {self.w1_p:.3g}), KS = {self.ks:.4g} (p = {self.ks_p:.3g})")
        rows.append(f"verdict: {'agree' if self.agree else 'DISAGREE'} (|pull| < {self.threshold}, p > {self.p_min})")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {
            "observables": {
                n: {"ref": self.ref[i].tolist(), "other": self.other[i].tolist(), "pull": float(self.pulls[i])}
                for i, n in enumerate(self.names)
            },
            "gk_chi2": self.gk_chi2, "gk_dof": self.gk_dof, "gk_p": self.gk_p,
            "w1": self.w1, "w1_noise95": self.w1_noise95, "w1_p": self.w1_p, "ks": self.ks, "ks_p": self.ks_p,
            "threshold": self.threshold, "p_min": self.p_min, "agree": self.agree,
        }

    def to_dataset(self):
        import xarray as xr

        ds = xr.Dataset(
            {
                "ref_value": ("observable", self.ref[:, 0]),
                "ref_error": ("observable", self.ref[:, 1]),
                "other_value": ("observable", self.other[:, 0]),
                "other_error": ("observable", self.other[:, 1]),
                "pull": ("observable", self.pulls),
                "Gk_ref": ("orbit", self.gk_ref[:, 0]),
                "Gk_ref_error": ("orbit", self.gk_ref[:, 1]),
                "Gk_other": ("orbit", self.gk_other[:, 0]),
                "Gk_other_error": ("orbit", self.gk_other[:, 1]),
                "khat2": ("orbit", self.khat2),
            },
            coords={"observable": self.names},
        )
        d = self.to_dict()
        for k in ("gk_chi2", "gk_dof", "gk_p", "w1", "w1_noise95", "w1_p", "ks", "ks_p", "threshold", "p_min"):
            ds.attrs[k] = d[k]
        ds.attrs["agree"] = int(self.agree)
        return ds

    def write(self, stem: str) -> list[str]:
        """stem.nc (netCDF-4/HDF5) and stem.json."""
        self.to_dataset().to_netcdf(stem + ".nc", engine="h5netcdf")
        with open(stem + ".json", "w") as fh:
            json.dump(self.to_dict(), fh, indent=2)
        return [stem + ".nc", stem + ".json"]


def compare(ref: Measurement, other: Measurement, threshold: float = 3.0, p_min: float = 1e-3, seed: int = 0) -> Comparison:
    if not threshold > 0 or not 0 <= p_min < 1:
        raise ConfigError(f"threshold = {threshold} must be > 0 and p_min = {p_min} in [0, 1)")
    if len(ref.Gk) != len(other.Gk):
        raise ConfigError("the ensembles live on different lattices")
    names = [k for k in ref.estimates if k in other.estimates]
    R = np.array([[ref[k].value, ref[k].error] for k in names])
    O = np.array([[other[k].value, other[k].error] for k in names])
    comb = np.hypot(R[:, 1], O[:, 1])
    pulls = np.where(comb > 0, (O[:, 0] - R[:, 0]) / np.where(comb > 0, comb, 1.0), 0.0)

    gr = np.array([[e.value, e.error] for e in ref.Gk])
    go = np.array([[e.value, e.error] for e in other.Gk])
    ge = np.hypot(gr[:, 1], go[:, 1])
    ok = ge > 0
    chi2 = float(np.sum(((go[ok, 0] - gr[ok, 0]) / ge[ok]) ** 2))
    dof = int(ok.sum())
    gk_p = float(scipy.stats.chi2.sf(chi2, dof)) if dof else 1.0

    a, b = _thinned_M(ref), _thinned_M(other)
    w1 = float(scipy.stats.wasserstein_distance(a, b))
    rng = np.random.default_rng(seed)
    pool = np.concatenate([a, b])
    null = np.empty(N_PERMUTATIONS)
    for i in range(N_PERMUTATIONS):
        perm = rng.permutation(pool)
        null[i] = scipy.stats.wasserstein_distance(perm[: len(a)], perm[len(a) :])
    w1_p = float((1 + np.sum(null >= w1)) / (1 + N_PERMUTATIONS))
    ks = scipy.stats.ks_2samp(a, b)
    return Comparison(
        names, R, O, pulls, chi2, dof, gk_p, w1, float(np.quantile(null, 0.95)), w1_p,
        float(ks.statistic), float(ks.pvalue), threshold, p_min, ref.orbit_khat2, gr, go,
    )
