"""Operator interpolants I = A x0 + B x1: families, paths, training distributions, tilts, Gaussian oracle."""

from .drift import Drift, Eta
from .families import FAMILIES, Family, FourierFamily, Operator, ScalarFamily, SiteFamily, make_family, mode_reflect
from .oracle import DenseGaussianOracle, FreeFieldOracle
from .paths import (
    WindowPath,
    block_rank,
    coarse_to_fine_path,
    fourier_generation_path,
    generation_path,
    mode_rank,
    random_rank,
    raster_rank,
    site_generation_path,
    site_order_path,
)
from .tilts import TiltDomainError, TiltedDrift

__all__ = [
    "Drift", "Eta", "Family", "ScalarFamily", "SiteFamily", "FourierFamily", "Operator", "FAMILIES",
    "make_family", "mode_reflect", "DenseGaussianOracle", "FreeFieldOracle", "WindowPath",
    "generation_path", "site_order_path", "coarse_to_fine_path", "fourier_generation_path",
    "site_generation_path", "raster_rank", "random_rank", "block_rank", "mode_rank",
    "TiltedDrift", "TiltDomainError",
]

from .nu import BlockNu, KnownRegionNu, MixtureNu, ModeNu, Nu, ScalarNu, SiteNu, TrainingBatch, eta_from_prediction  # noqa: E402

__all__ += ["Nu", "ScalarNu", "SiteNu", "BlockNu", "KnownRegionNu", "ModeNu", "MixtureNu", "TrainingBatch", "eta_from_prediction"]
