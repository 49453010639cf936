"""lattice_msi: lattice phi^4 ensembles, multitask stochastic-interpolant models, honest comparison.

Importing the package changes no global state (no default device, dtype or RNG seed).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("lattice-msi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .errors import ConfigError, FileMismatchError, IncompleteFileError, LatticeMSIError  # noqa: E402

__all__ = ["__version__", "LatticeMSIError", "ConfigError", "FileMismatchError", "IncompleteFileError"]
