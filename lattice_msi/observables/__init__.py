"""Observables of lattice fields (MATH.md §1): per configuration, per ensemble, comparisons, reweighting."""

from .compare import Comparison, compare
from .ensemble import dataset_features, measure_files, summarize
from .reweight import coupling_log_weights, kish_ess
from .features import config_features, momentum_orbits, two_point
from .fields import abs_magnetization, action_density, magnetization, momentum_two_point, per_config, phi2
from .measure import Measurement, binder_from_means, measure, xi2_from_means

__all__ = [
    "magnetization", "abs_magnetization", "phi2", "action_density", "momentum_two_point", "per_config",
    "config_features", "momentum_orbits", "two_point", "Measurement", "measure", "summarize",
    "dataset_features", "binder_from_means", "xi2_from_means", "measure_files", "compare", "Comparison",
    "coupling_log_weights", "kish_ess",
]
