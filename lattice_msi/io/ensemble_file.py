"""The ensemble file: one HDF5/netCDF4 file per ensemble (or shard), read by h5py and xarray.

Layout (DESIGN.md "Files on disk"):
- `phi` (config, x[, y, z, t]) float32/float64, the configurations;
- per-config `chain` (int32), `mc_time` (int64, trajectory index), `action` (float64),
  `accept_rate` (float32, fraction accepted since the previous save);
- per-trajectory `dH` (trajectory, replica) float64 and `accepted` (trajectory, replica) int8,
  replica r being chain shard·chains + r of this shard;
- attributes: L, d, m2, lam, h, algorithm, source, run_config (JSON), seed, version, created,
  status ("running" until the run finishes, then "complete"), n_configs.

Writes are incremental: each `append_*` extends the unlimited dimensions and `flush()` pushes
the data to the operating system, so a killed run leaves every flushed configuration readable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone

import h5netcdf
import h5py
import numpy as np
import torch

from .. import __version__
from ..errors import FileMismatchError, IncompleteFileError, LatticeMSIError
from ..lattice.geometry import DIM_NAMES

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"


def _scalar(v):
    """Attributes come back from HDF5 as 1-element arrays or numpy scalars; unwrap them."""
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.reshape(()).item()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bytes):
        v = v.decode()
    return v


def read_attrs(path: str) -> dict:
    """File attributes as plain Python values, with run_config decoded from JSON."""
    try:
        with h5netcdf.File(path, "r") as f:
            attrs = {k: _scalar(v) for k, v in f.attrs.items() if not k.startswith("_")}
    except OSError as e:
        raise LatticeMSIError(f"cannot read ensemble file {path!r}: {e}") from None
    if "run_config" in attrs:
        attrs["run_config"] = json.loads(attrs["run_config"])
    return attrs


CONFIG_VARS = ("phi", "chain", "mc_time", "action", "accept_rate")
# optional per-config float64 records of model samples: log-density of the map, its error
EXTRA_CONFIG_VARS = ("log_q", "log_q_err")
TRAJECTORY_VARS = ("dH", "accepted")


class EnsembleWriter:
    """Create (or reopen for resuming) an ensemble file and append to it incrementally.

    The netCDF-4 layout (dimension scales, unlimited `config` and `trajectory`) is made once
    with h5netcdf; appends then go through bare h5py, resizing each variable and its dimension
    scale, which costs a fraction of a millisecond instead of h5netcdf's bookkeeping.
    """

    def __init__(self, path: str):
        self.path = path
        self._f = h5py.File(path, "a")
        self._config_vars = CONFIG_VARS + tuple(v for v in EXTRA_CONFIG_VARS if v in self._f)

    @classmethod
    def create(
        cls,
        path: str,
        L: int,
        d: int,
        chains: int,
        attrs: dict,
        run_config: dict,
        dtype=np.float32,
        extra_vars: tuple[str, ...] = (),
    ) -> "EnsembleWriter":
        dims = DIM_NAMES[:d]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with h5netcdf.File(path, "w") as f:
            f.dimensions = {"config": None, "trajectory": None, "replica": chains, **{n: L for n in dims}}
            per_chunk = max(1, min(1024, (1 << 20) // (4 * L**d)))
            f.create_variable("phi", ("config",) + dims, dtype=dtype, chunks=(per_chunk,) + (L,) * d)
            f.create_variable("chain", ("config",), dtype=np.int32, chunks=(4096,))
            f.create_variable("mc_time", ("config",), dtype=np.int64, chunks=(4096,))
            f.create_variable("action", ("config",), dtype=np.float64, chunks=(4096,))
            f.create_variable("accept_rate", ("config",), dtype=np.float32, chunks=(4096,))
            for name in extra_vars:
                if name not in EXTRA_CONFIG_VARS:
                    raise LatticeMSIError(f"unknown per-config variable {name!r}")
                f.create_variable(name, ("config",), dtype=np.float64, chunks=(4096,))
            f.create_variable("dH", ("trajectory", "replica"), dtype=np.float64, chunks=(256, chains))
            f.create_variable("accepted", ("trajectory", "replica"), dtype=np.int8, chunks=(256, chains))
            f.variables["phi"].attrs["long_name"] = "lattice field configurations"
            f.variables["mc_time"].attrs["long_name"] = "HMC trajectory index (thermalisation included)"
            f.variables["dH"].attrs["long_name"] = "H_end - H_start of each production trajectory"
            meta = dict(attrs)
            meta.update(
                L=L,
                d=d,
                version=__version__,
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                run_config=json.dumps(run_config, sort_keys=True),
                status=STATUS_RUNNING,
                n_configs=0,
            )
            for k, v in meta.items():
                f.attrs[k] = v
        return cls(path)

    @classmethod
    def reopen(cls, path: str, run_config: dict, defaults: dict | None = None) -> "EnsembleWriter":
        """Open an existing file for appending; refuse if it was made with another run config.

        defaults: values of settings that older files do not record (added later), so that such
        a file still matches a run that leaves them at their defaults.
        """
        attrs = read_attrs(path)
        old = attrs.get("run_config")
        if old is None:
            raise FileMismatchError(f"{path!r} is not an ensemble file of this package (no run_config)")
        old = {**(defaults or {}), **old}
        diff = sorted(k for k in set(old) | set(run_config) if old.get(k) != run_config.get(k))
        if diff:
            k = diff[0]
            raise FileMismatchError(
                f"{path!r} was made with {k} = {old.get(k)!r}, not {run_config.get(k)!r}; "
                "use another --out or remove the file"
            )
        return cls(path)

    @property
    def n_configs(self) -> int:
        return self._f["config"].shape[0]

    @property
    def n_trajectories(self) -> int:
        return self._f["trajectory"].shape[0]

    def _resize(self, dim: str, names, n: int) -> None:
        for name in (dim,) + tuple(names):
            self._f[name].resize(n, axis=0)

    def truncate(self, n_configs: int, n_trajectories: int) -> None:
        """Drop configurations and trajectory records beyond the given counts (resume)."""
        if n_configs > self.n_configs or n_trajectories > self.n_trajectories:
            raise LatticeMSIError(
                f"{self.path!r} holds {self.n_configs} configs / {self.n_trajectories} trajectories, "
                f"fewer than its resume state ({n_configs} / {n_trajectories}); the file is damaged"
            )
        self._resize("config", self._config_vars, n_configs)
        self._resize("trajectory", TRAJECTORY_VARS, n_trajectories)
        self._f.attrs["n_configs"] = n_configs
        self._f.attrs["status"] = STATUS_RUNNING
        self.flush()

    def append_configs(self, phi, chain, mc_time, action, accept_rate, **extra) -> None:
        values = dict(zip(CONFIG_VARS, map(_np, (phi, chain, mc_time, action, accept_rate))))
        want = set(self._config_vars) - set(CONFIG_VARS)
        if set(extra) != want:
            raise LatticeMSIError(f"{self.path!r} records {sorted(want)} per configuration, got {sorted(extra)}")
        values.update({k: _np(v) for k, v in extra.items()})
        n0, n = self.n_configs, values["phi"].shape[0]
        self._resize("config", self._config_vars, n0 + n)
        for name, v in values.items():
            ds = self._f[name]
            ds[n0 : n0 + n] = v.astype(ds.dtype, copy=False)
        self._f.attrs["n_configs"] = n0 + n

    def append_trajectories(self, dH, accepted) -> None:
        dH, accepted = _np(dH), _np(accepted)
        if dH.shape[0] == 0:
            return
        n0, n = self.n_trajectories, dH.shape[0]
        self._resize("trajectory", TRAJECTORY_VARS, n0 + n)
        self._f["dH"][n0 : n0 + n] = dH
        self._f["accepted"][n0 : n0 + n] = accepted.astype(np.int8)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Records already written (per-config variables), for summaries of the file itself."""
        return np.asarray(self._f[name][start : self.n_configs if stop is None else stop])

    def set_attrs(self, **attrs) -> None:
        for k, v in attrs.items():
            self._f.attrs[k] = v

    def flush(self) -> None:
        """Push everything written so far to the operating system (survives a killed process)."""
        self._f.flush()

    def finalize(self) -> None:
        self._f.attrs["status"] = STATUS_COMPLETE
        self.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Resumed:
    """What an existing output file offers a rerun of the same command."""

    writer: "EnsembleWriter | None"  # open for appending, truncated to the state; None: start afresh
    state: dict | None  # the resume state matching the file
    complete: bool  # the file is finished: nothing to do
    n_configs: int = 0


def resume_output(path: str, identity: dict, state_file: str, defaults: dict | None = None) -> Resumed:
    """Reopen `path` for a rerun with the same identity: finished, resumable, or to be restarted.

    A file made with another identity is refused (FileMismatchError); a file without a resume
    state (killed before its first checkpoint) holds nothing trustworthy and is removed.
    """
    from .state import load_state

    if not os.path.exists(path):
        return Resumed(None, None, False)
    attrs = read_attrs(path)
    writer = EnsembleWriter.reopen(path, identity, defaults)
    if attrs.get("status") == STATUS_COMPLETE:
        n = writer.n_configs
        writer.close()
        return Resumed(None, None, True, n)
    if not os.path.exists(state_file):
        writer.close()
        os.remove(path)
        return Resumed(None, None, False)
    state = load_state(state_file)
    if {**(defaults or {}), **state.get("identity", {})} != identity:
        writer.close()
        raise FileMismatchError(f"resume state {state_file!r} belongs to another run; remove it and {path!r}")
    writer.truncate(int(state["n_configs"]), int(state.get("n_trajectories", 0)))
    return Resumed(writer, state, False, writer.n_configs)


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return np.ascontiguousarray(x.detach().cpu().numpy())
    return np.asarray(x)


@dataclass
class Ensemble:
    """An ensemble read from disk: configurations, per-config records and attributes."""

    phi: torch.Tensor  # (n_configs, L, ..., L)
    chain: np.ndarray
    mc_time: np.ndarray
    attrs: dict
    path: str

    @property
    def n_chains(self) -> int:
        return int(len(np.unique(self.chain)))

    def by_chain(self) -> torch.Tensor:
        """Configurations as (chains, samples, L, ..., L) in MC-time order (equal-length chains)."""
        chains = np.unique(self.chain)
        counts = {int(c): int((self.chain == c).sum()) for c in chains}
        n = min(counts.values())
        if len(set(counts.values())) != 1:
            raise LatticeMSIError(f"{self.path!r}: chains have unequal lengths {sorted(set(counts.values()))}")
        order = np.lexsort((self.mc_time, self.chain))
        return self.phi[torch.as_tensor(order)].reshape((len(chains), n) + tuple(self.phi.shape[1:]))


def read_ensemble(path: str, allow_incomplete: bool = False, dtype=torch.float64) -> Ensemble:
    """Load an ensemble file into memory; an unfinished file is an error unless allowed."""
    attrs = read_attrs(path)
    if attrs.get("status") != STATUS_COMPLETE and not allow_incomplete:
        raise IncompleteFileError(
            f"{path!r} is incomplete (status = {attrs.get('status')!r}, {attrs.get('n_configs')} configs): "
            "rerun the command that made it to resume"
        )
    with h5netcdf.File(path, "r") as f:
        phi = torch.from_numpy(np.asarray(f.variables["phi"][...])).to(dtype)
        chain = np.asarray(f.variables["chain"][...]) if "chain" in f.variables else np.zeros(len(phi), np.int32)
        mc_time = (
            np.asarray(f.variables["mc_time"][...]) if "mc_time" in f.variables else np.arange(len(phi))
        )
    return Ensemble(phi, chain, mc_time, attrs, path)
