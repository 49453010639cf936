"""Unbiased estimates from an imperfect model: importance weights, independence Metropolis and
model-seeded HMC, all built on the exact log-density of the sampler's map (sampling.density)."""

from .imh import IMHResult, independence_metropolis
from .seeded import ThermalisationRun, compare_thermalisation, hmc_series, thermalisation_time
from .weights import ess_fraction, importance_log_weights

__all__ = [
    "importance_log_weights",
    "ess_fraction",
    "independence_metropolis",
    "IMHResult",
    "hmc_series",
    "thermalisation_time",
    "ThermalisationRun",
    "compare_thermalisation",
]
