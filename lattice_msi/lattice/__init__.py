"""Lattice φ⁴: geometry, couplings, action and force, Fourier helpers, free-field exact results."""

from . import free
from .action import Phi4Action, neighbour_sum
from .couplings import Couplings
from .fourier import fft, ifft, khat2, momenta
from .geometry import DIM_NAMES, Lattice

__all__ = ["Lattice", "Couplings", "Phi4Action", "neighbour_sum", "fft", "ifft", "khat2", "momenta", "free", "DIM_NAMES"]
