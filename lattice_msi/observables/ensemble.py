"""Measurement of ensembles held in memory or in (many, larger-than-memory) ensemble files."""

from __future__ import annotations

import numpy as np
import torch

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


def measure_files(patterns, to_m2: float | None = None, to_h: float | None = None, allow_incomplete: bool = False, chunk: int = CHUNK):
    """Measure one ensemble from files or globs (out of core), optionally reweighted to (to_m2, to_h).

    Returns (Measurement, attrs of the first file).
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
    if to_m2 is not None or to_h is not None:
        dm2 = 0.0 if to_m2 is None else to_m2 - float(attrs["m2"])
        dh = 0.0 if to_h is None else to_h - h
        log_w = coupling_log_weights(feats, lattice.volume, dm2, dh)
        h = h + dh
    ds.close()
    return measure(feats, lattice.L, lattice.d, chain, mc_time, h=h, log_weights=log_w), attrs
