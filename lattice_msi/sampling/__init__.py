"""Integrators along operator paths: one loop (ODE Euler/Heun, SDE Euler–Maruyama) for every task."""

from .integrators import METHODS, SampleResult, sample
from .linear import AffineMap, affine_map

__all__ = ["sample", "SampleResult", "METHODS", "AffineMap", "affine_map"]
