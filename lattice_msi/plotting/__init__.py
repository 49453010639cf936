"""Figures written to files (matplotlib Agg backend, never plt.show)."""

from .figures import plot_configs, plot_magnetization_histograms, plot_propagator

__all__ = ["plot_configs", "plot_magnetization_histograms", "plot_propagator"]
