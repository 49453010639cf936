"""Drift networks: periodic, translation-equivariant, conditioned on the operator of their family."""

from .drift_net import DriftNet, NetConfig
from .load import load_model

__all__ = ["DriftNet", "NetConfig", "load_model"]
