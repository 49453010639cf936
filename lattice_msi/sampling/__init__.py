"""Integrators along operator paths: one loop (ODE Euler/Heun, SDE Euler–Maruyama) for every task."""

from .integrators import METHODS, SampleResult, sample

__all__ = ["sample", "SampleResult", "METHODS"]
