"""Observables of lattice fields (MATH.md §1): per configuration and as ensemble estimates."""

from .fields import (
    abs_magnetization,
    action_density,
    magnetization,
    momentum_two_point,
    phi2,
    per_config,
)
from .ensemble import EnsembleSummary, summarize, xi2_from_means, binder_from_means

__all__ = [
    "magnetization",
    "abs_magnetization",
    "phi2",
    "action_density",
    "momentum_two_point",
    "per_config",
    "EnsembleSummary",
    "summarize",
    "xi2_from_means",
    "binder_from_means",
]
