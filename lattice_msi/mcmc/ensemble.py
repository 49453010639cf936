"""Run batched HMC chains into an ensemble file, resumably and shard by shard.

A run is fully described by an EnsembleConfig. The file records it; rerunning the same config
on the same path resumes from the last flushed save and yields configuration-for-configuration
the same file as an uninterrupted run (the resume state holds the fields, the generator state,
the step size and the counters, and is replaced atomically after every flush).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import ConfigError, require_finite, require_int
from ..io import EnsembleWriter, read_attrs, save_state
from ..io.ensemble_file import resume_output
from ..lattice import Couplings, Lattice, Phi4Action
from .cluster import swendsen_wang
from .layout import to_chains_last
from .hmc import HMC, HMCConfig, StepSizeTuner

DTYPES = {"float32": torch.float32, "float64": torch.float64}
THERM_CHECKPOINT_EVERY = 50  # trajectories between resume states during thermalisation


@dataclass(frozen=True)
class EnsembleConfig:
    """Everything that determines an ensemble (and so its file), validated on construction."""

    L: int
    d: int = 2
    m2: float = -4.0
    lam: float = 4.572
    h: float = 0.0
    chains: int = 16
    therm: int = 200
    samples: int = 100
    every: int = 1
    step_size: float = 0.1
    n_leapfrog: int = 10
    integrator: str = "leapfrog"
    tune: bool = True
    target_accept: float = 0.8
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"
    shard: int = 0
    n_shards: int = 1
    cluster_every: int = 0  # a Swendsen–Wang sweep after every k-th trajectory (0: HMC only)
    kernel: str = "eager"  # "compiled": fused torch.compile trajectories (same chain, faster)
    start_from: str = ""  # ensemble file whose configurations start the chains (model-seeded HMC); "": hot start

    def __post_init__(self):
        self.lattice  # validates L, d
        self.couplings  # validates m2, lam, h
        self.hmc_config  # validates step size, steps, integrator, target
        for name in ("chains", "samples", "every"):
            require_int(name, getattr(self, name), 1)
        for name in ("therm", "seed", "cluster_every"):
            require_int(name, getattr(self, name), 0)
        if not isinstance(self.start_from, str):
            raise ConfigError(f"start_from = {self.start_from!r} must be a file path or ''")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype = {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if not (isinstance(self.n_shards, int) and self.n_shards >= 1 and 0 <= self.shard < self.n_shards):
            raise ConfigError(f"shard = {self.shard}/{self.n_shards} is not a valid shard index/count")
        dev = torch.device(self.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device = {self.device!r} requested but CUDA is not available")

    @property
    def lattice(self) -> Lattice:
        return Lattice(self.L, self.d)

    @property
    def couplings(self) -> Couplings:
        return Couplings(self.m2, self.lam, self.h)

    @property
    def hmc_config(self) -> HMCConfig:
        require_finite("step_size", self.step_size)
        return HMCConfig(self.step_size, self.n_leapfrog, self.integrator, self.target_accept, self.kernel)

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> dict:
        """What must match to append to an existing file (the device type fixes the RNG stream)."""
        d = self.to_dict()
        d["device"] = torch.device(self.device).type
        return d


# settings added after files were first written: an old file matches a run at these values
IDENTITY_DEFAULTS = {"cluster_every": 0, "start_from": "", "kernel": "eager"}


def shard_seed(seed: int, shard: int) -> int:
    """Independent 63-bit seed per shard from (seed, shard) via numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, shard]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def shard_path(out: str, shard: int, n_shards: int) -> str:
    """`run.h5` -> `run.shard003-of-008.h5` when there is more than one shard."""
    if n_shards == 1:
        return out
    stem, ext = os.path.splitext(out)
    w = len(str(n_shards - 1))
    return f"{stem}.shard{shard:0{w}d}-of-{n_shards}{ext or '.h5'}"


def state_path(path: str) -> str:
    return path + ".resume"


@dataclass
class EnsembleResult:
    path: str
    n_configs: int
    step_size: float
    acceptance: float
    resumed_from: int  # configurations already on disk when the run started
    already_complete: bool


def _initial_state(cfg: EnsembleConfig, gen: torch.Generator, dtype, device) -> torch.Tensor:
    """Hot start: φ_x ~ N(0, ¼) independently, from the run's own generator; or, with start_from,
    configurations shard·chains … of that file (e.g. model samples: model-seeded HMC)."""
    if cfg.start_from:
        from ..io import read_ensemble

        ens = read_ensemble(cfg.start_from)
        if (int(ens.attrs["L"]), int(ens.attrs["d"])) != (cfg.L, cfg.d):
            raise ConfigError(f"start_from {cfg.start_from!r} has L = {ens.attrs['L']}, d = {ens.attrs['d']}, not L = {cfg.L}, d = {cfg.d}")
        lo, hi = cfg.shard * cfg.chains, (cfg.shard + 1) * cfg.chains
        if ens.phi.shape[0] < hi:
            raise ConfigError(f"start_from {cfg.start_from!r} holds {ens.phi.shape[0]} configurations, fewer than the {hi} chains need")
        return ens.phi[lo:hi].to(dtype=dtype, device=device).clone()
    return 0.5 * torch.randn((cfg.chains,) + cfg.lattice.shape, generator=gen, dtype=dtype, device=device)


def run_ensemble(cfg: EnsembleConfig, out: str, progress: bool = True) -> EnsembleResult:
    """Thermalise (tuning ε if cfg.tune), then save cfg.samples configs per chain every cfg.every trajectories."""
    path = shard_path(out, cfg.shard, cfg.n_shards)
    spath = state_path(path)
    dtype, device = DTYPES[cfg.dtype], torch.device(cfg.device)
    ident = cfg.identity()
    action = Phi4Action(cfg.lattice, cfg.couplings)
    hmc = HMC(action, cfg.hmc_config)
    gen = torch.Generator(device=device)
    gen.manual_seed(shard_seed(cfg.seed, cfg.shard))
    tuner = StepSizeTuner(cfg.step_size, cfg.target_accept)

    res = resume_output(path, ident, spath, defaults=IDENTITY_DEFAULTS)
    if res.complete:
        step = float(read_attrs(path).get("step_size", cfg.step_size))
        return EnsembleResult(path, res.n_configs, step, float("nan"), res.n_configs, True)
    writer, state = res.writer, res.state
    if writer is None:
        attrs = dict(
            m2=cfg.m2,
            lam=cfg.lam,
            h=cfg.h,
            algorithm="hmc+sw" if cfg.cluster_every else "hmc",
            source=f"mcmc:hmc:{cfg.integrator}" + (f"+sw/{cfg.cluster_every}" if cfg.cluster_every else ""),
            integrator=cfg.integrator,
            n_leapfrog=cfg.n_leapfrog,
            step_size=cfg.step_size,
            seed=cfg.seed,
            shard=cfg.shard,
            n_shards=cfg.n_shards,
            chains=cfg.chains,
        )
        writer = EnsembleWriter.create(path, cfg.L, cfg.d, cfg.chains, attrs, ident, np.dtype(cfg.dtype))

    if state is None:
        phi = _initial_state(cfg, gen, dtype, device)
        n_traj, eps, resumed = 0, cfg.step_size, 0
    else:
        phi = state["phi"].to(device=device, dtype=dtype)
        gen.set_state(state["rng"].to(gen.get_state().device) if device.type == "cpu" else state["rng"])
        n_traj, eps = int(state["n_traj"]), float(state["step_size"])
        tuner.load_state(state["tuner"])
        resumed = writer.n_configs

    if cfg.kernel == "compiled":
        phi = to_chains_last(phi)  # the compiled kernel's fast layout; the same field
    total = cfg.therm + cfg.samples * cfg.every
    chain_ids = torch.arange(cfg.chains, dtype=torch.int32) + cfg.shard * cfg.chains

    def checkpoint():
        writer.flush()
        save_state(
            spath,
            {
                "identity": ident,
                "phi": phi.detach().cpu(),
                "rng": gen.get_state().cpu(),
                "n_traj": n_traj,
                "step_size": eps,
                "tuner": tuner.state(),
                "n_configs": writer.n_configs,
                "n_trajectories": writer.n_trajectories,
            },
        )

    from tqdm import tqdm

    bar = tqdm(total=total, initial=n_traj, disable=not progress, desc=os.path.basename(path), unit="traj")
    dH_buf, acc_buf = [], []
    acc_since_save = torch.zeros(cfg.chains, dtype=torch.float64, device=device)
    n_acc_total, n_prod = 0.0, 0
    try:
        while n_traj < total:
            res = hmc.trajectory(phi, gen, eps)
            phi = res.phi
            n_traj += 1
            if cfg.cluster_every and n_traj % cfg.cluster_every == 0:
                phi = swendsen_wang(phi, cfg.h, gen)
                if cfg.kernel == "compiled":
                    phi = to_chains_last(phi)
            if n_traj <= cfg.therm:
                if cfg.tune:
                    eps = tuner.update(res.accept_prob)
                if n_traj == cfg.therm:
                    writer.set_attrs(step_size=eps)
                    checkpoint()
                elif n_traj % THERM_CHECKPOINT_EVERY == 0:
                    checkpoint()
            else:
                dH_buf.append(res.dH)
                acc_buf.append(res.accepted)
                acc_since_save += res.accepted
                n_acc_total += float(res.accepted.double().mean())
                n_prod += 1
                if (n_traj - cfg.therm) % cfg.every == 0:
                    writer.append_trajectories(torch.stack(dH_buf), torch.stack(acc_buf))
                    writer.append_configs(
                        phi,
                        chain_ids,
                        torch.full((cfg.chains,), n_traj, dtype=torch.int64),
                        action.action(phi),
                        (acc_since_save / cfg.every).float(),
                    )
                    dH_buf, acc_buf = [], []
                    acc_since_save.zero_()
                    checkpoint()
            if progress:
                bar.update(1)
                bar.set_postfix(acc=f"{float(res.accepted.double().mean()):.2f}", eps=f"{eps:.4f}", refresh=False)
    finally:
        bar.close()
    if cfg.therm == 0:
        writer.set_attrs(step_size=eps)
    writer.finalize()
    n = writer.n_configs
    writer.close()
    os.remove(spath)
    acc = n_acc_total / n_prod if n_prod else float("nan")
    return EnsembleResult(path, n, eps, acc, resumed, False)
