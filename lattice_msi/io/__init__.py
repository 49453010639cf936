"""File formats: ensemble files (HDF5 / netCDF4) and atomically replaced resume states."""

from .ensemble_file import (
    STATUS_COMPLETE,
    STATUS_RUNNING,
    Ensemble,
    EnsembleWriter,
    read_attrs,
    read_ensemble,
)
from .state import load_state, save_state

__all__ = [
    "Ensemble",
    "EnsembleWriter",
    "read_attrs",
    "read_ensemble",
    "save_state",
    "load_state",
    "STATUS_COMPLETE",
    "STATUS_RUNNING",
]
