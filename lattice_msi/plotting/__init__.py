"""Figures written to files (matplotlib Agg backend, never plt.show)."""

from .figures import plot_configs, plot_correlator, plot_magnetization_histograms, plot_propagator, plot_tau_summary

__all__ = ["plot_configs", "plot_magnetization_histograms", "plot_propagator", "plot_correlator", "plot_tau_summary"]
