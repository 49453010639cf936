"""File formats: ensemble files (HDF5 / netCDF4) and atomically replaced resume states."""

from .ensemble_file import (
    STATUS_COMPLETE,
    STATUS_RUNNING,
    Ensemble,
    EnsembleWriter,
    read_attrs,
    read_ensemble,
)
from .dataset import expand_paths, open_ensembles
from .state import load_state, save_state

__all__ = [
    "Ensemble",
    "EnsembleWriter",
    "read_attrs",
    "read_ensemble",
    "save_state",
    "open_ensembles",
    "expand_paths",
    "load_state",
    "STATUS_COMPLETE",
    "STATUS_RUNNING",
]
