"""Markov-chain Monte Carlo: batched HMC and the resumable ensemble runner."""

from .cluster import swendsen_wang
from .ensemble import EnsembleConfig, EnsembleResult, run_ensemble, shard_path, shard_seed
from .hmc import HMC, INTEGRATORS, HMCConfig, StepSizeTuner, TrajectoryResult

__all__ = [
    "HMC",
    "HMCConfig",
    "StepSizeTuner",
    "TrajectoryResult",
    "INTEGRATORS",
    "EnsembleConfig",
    "EnsembleResult",
    "run_ensemble",
    "shard_path",
    "shard_seed",
    "swendsen_wang",
]
