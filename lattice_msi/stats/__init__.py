"""Error analysis: Γ-method (Wolff) for Markov chains and i.i.d. samples."""

from .gamma import Estimate, format_value_error, gamma_method, mean_error, stack_observables

__all__ = ["Estimate", "gamma_method", "mean_error", "stack_observables", "format_value_error"]
