"""Open one or many ensemble files (shards, globs) as one lazily loaded xarray Dataset."""

from __future__ import annotations

import glob
import os

import xarray as xr

from ..errors import FileMismatchError, IncompleteFileError, LatticeMSIError
from .ensemble_file import STATUS_COMPLETE, read_attrs

THEORY_KEYS = ("L", "d", "m2", "lam", "h")
PER_CONFIG = ("phi", "chain", "mc_time")


def expand_paths(patterns) -> list[str]:
    """Files named by paths or glob patterns, sorted; a pattern that matches nothing is an error."""
    if isinstance(patterns, str):
        patterns = [patterns]
    out = []
    for p in patterns:
        hits = sorted(glob.glob(p)) if any(c in p for c in "*?[") else ([p] if os.path.exists(p) else [])
        if not hits:
            raise LatticeMSIError(f"no ensemble file matches {p!r}")
        out += hits
    return out


def open_ensembles(patterns, allow_incomplete: bool = False, chunk: int = 4096) -> tuple[xr.Dataset, dict]:
    """Concatenate the per-config variables of several files along `config` (dask-backed).

    Every file must be complete (unless allowed) and describe the same theory; the attributes of
    the first file are returned, with `files` listing them all.
    """
    paths = expand_paths(patterns)
    attrs0 = None
    for p in paths:
        a = read_attrs(p)
        if a.get("status") != STATUS_COMPLETE and not allow_incomplete:
            raise IncompleteFileError(f"{p!r} is incomplete (status = {a.get('status')!r}); rerun the command that made it")
        if attrs0 is None:
            attrs0 = a
        for k in THEORY_KEYS:
            if k in attrs0 and a.get(k) != attrs0.get(k):
                raise FileMismatchError(f"{p!r} has {k} = {a.get(k)!r} but {paths[0]!r} has {attrs0.get(k)!r}")
    opened = []
    for p in paths:
        ds = xr.open_dataset(p, engine="h5netcdf", chunks={})  # dask, on the stored chunks
        keep = [v for v in ds.data_vars if "config" in ds[v].dims]
        opened.append(ds[keep])
    ds = opened[0] if len(opened) == 1 else xr.concat(opened, dim="config")
    attrs = dict(attrs0)
    attrs["files"] = paths
    return ds, attrs
