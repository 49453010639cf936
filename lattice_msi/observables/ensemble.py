"""Measurement of ensembles held in memory or in (many, larger-than-memory) ensemble files."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LatticeMSIError

from ..lattice.geometry import Lattice
from .features import config_features
from .measure import Measurement, measure

CHUNK = 4096  # configurations per feature chunk when streaming from files


def summarize(phi: torch.Tensor, lattice: Lattice, h: float = 0.0, S: float = 1.5) -> Measurement:
    """Measurement of configurations (chains, samples, L, ..., L) in MC-time order.

    For i.i.d. samples pass (1, n, L, ...) or (n, 1, L, ...) — the errors are the same.
    """
    if phi.dim() != lattice.d + 2:
        raise ValueError(f"phi has shape {tuple(phi.shape)}, expected (chains, samples, L, ...)")
    R, N = phi.shape[:2]
    feats = config_features(phi.reshape((R * N,) + lattice.shape), lattice)
    chain = np.repeat(np.arange(R), N)
    t = np.tile(np.arange(N), R)
    return measure(feats, lattice.L, lattice.d, chain, t, h=h, S=S)


def dataset_features(ds, lattice: Lattice, chunk: int = CHUNK, action=None) -> dict[str, np.ndarray]:
    """Features of every configuration of an (xarray, possibly dask-backed) ensemble, chunk by chunk."""
    n = ds.sizes["config"]
    parts = []
    for i in range(0, n, chunk):
        block = np.asarray(ds["phi"][i : i + chunk].values)
        parts.append(config_features(torch.from_numpy(block), lattice, action))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


CORRECTIONS = ("reweight", "imh")


def measure_files(patterns, to_m2: float | None = None, to_h: float | None = None, allow_incomplete: bool = False, chunk: int = CHUNK,
                  correct: str | None = None, imh_seed: int = 0):
    """Measure one ensemble from files or globs (out of core), optionally reweighted to (to_m2, to_h).

    correct (model samples with a recorded log q): "reweight" weights each configuration by
    e^{−S}/q (errors include the weights; combined with any coupling reweighting), "imh"
    measures the independence-Metropolis chain over the samples in file order.
    Returns (Measurement, attrs of the first file; with `correction` added when corrected).
    """
    from ..io import open_ensembles
    from .reweight import coupling_log_weights

    ds, attrs = open_ensembles(patterns, allow_incomplete=allow_incomplete, chunk=chunk)
    lattice = Lattice(int(attrs["L"]), int(attrs["d"]))
    action = None
    if all(k in attrs for k in ("m2", "lam")):
        from ..lattice import Couplings, Phi4Action

        action = Phi4Action(lattice, Couplings(float(attrs["m2"]), float(attrs["lam"]), float(attrs.get("h", 0.0))))
    feats = dataset_features(ds, lattice, chunk, action)
    chain = np.asarray(ds["chain"].values) if "chain" in ds else None
    mc_time = np.asarray(ds["mc_time"].values) if "mc_time" in ds else None
    h = float(attrs.get("h", 0.0))
    log_w = None
    if correct is not None:
        from ..correction import importance_log_weights, independence_metropolis

        if correct not in CORRECTIONS:
            raise LatticeMSIError(f"correct = {correct!r} is not one of {', '.join(CORRECTIONS)}")
        if "log_q" not in ds or action is None:
            raise LatticeMSIError(f"{attrs['files'][0]!r} records no log q of its configurations (sample it with --density)")
        log_w = importance_log_weights(np.asarray(ds["action"].values), np.asarray(ds["log_q"].values))
        if correct == "imh":
            if to_m2 is not None or to_h is not None:
                raise LatticeMSIError("independence Metropolis targets the file's own theory: reweight to other couplings with correct='reweight'")
            chain_imh = independence_metropolis(log_w, imh_seed)
            feats = {k: v[chain_imh.index] for k, v in feats.items()}
            chain, mc_time, log_w = None, None, None
            attrs["correction"] = {"method": "imh", "acceptance": chain_imh.acceptance}
        else:
            attrs["correction"] = {"method": "reweight"}
    if to_m2 is not None or to_h is not None:
        dm2 = 0.0 if to_m2 is None else to_m2 - float(attrs["m2"])
        dh = 0.0 if to_h is None else to_h - h
        lw = coupling_log_weights(feats, lattice.volume, dm2, dh)
        log_w = lw if log_w is None else log_w + lw
        h = h + dh
    ds.close()
    m = measure(feats, lattice.L, lattice.d, chain, mc_time, h=h, log_weights=log_w)
    if correct == "imh":
        m.meta["imh_acceptance"] = attrs["correction"]["acceptance"]
    return m, attrs
