"""Drift networks: periodic, translation-equivariant, conditioned on the operator of their family."""

from .drift_net import DriftNet, NetConfig

__all__ = ["DriftNet", "NetConfig"]
