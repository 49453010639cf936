"""Operator families: linear operators diagonal in a fixed basis, applied to batched fields.

An operator of a family is given by real per-component coefficients c in that basis:
- ScalarFamily:  A = α Id, coefficients of shape (B|1, 1, ..., 1);
- SiteFamily:    A = diag(α_x) ("Hadamard"), coefficients (B|1, L, ..., L) per site;
- FourierFamily: A = F* diag(a_k) F with F the unitary DFT, coefficients (B|1, L, ..., L) per
  mode in FFT order, real and even (a_k = a_{−k}), so A is real, symmetric and commutes with
  translations.
The scalar family is contained in both others. A pair (A, B) of one family is an Operator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..lattice.fourier import fft, ifft
from ..lattice.geometry import Lattice


class Family:
    """Base class: a basis in which every operator of the family is diagonal."""

    name = "base"

    def __init__(self, lattice: Lattice):
        self.lattice = lattice

    # basis change (orthonormal) ------------------------------------------------------------
    def to_basis(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def from_basis(self, xb: torch.Tensor) -> torch.Tensor:
        return xb

    def apply(self, c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(diag c in this basis) x."""
        return self.from_basis(c * self.to_basis(x))

    def apply2(self, c1: torch.Tensor, x1: torch.Tensor, c2: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """diag(c1) x1 + diag(c2) x2 with one return to the site basis."""
        return self.apply(c1, x1) + self.apply(c2, x2)

    @property
    def coef_shape(self) -> tuple[int, ...]:
        return self.lattice.shape

    def check_coef(self, c: torch.Tensor, name: str = "coefficient") -> torch.Tensor:
        """Validate shape and finiteness; return c with a leading batch axis."""
        shape = self.coef_shape
        if c.dim() == len(shape):
            c = c.unsqueeze(0)
        if c.dim() != len(shape) + 1 or tuple(c.shape[1:]) != shape:
            raise ConfigError(f"{self.name} {name} has shape {tuple(c.shape)}, expected (B, {', '.join(map(str, shape))})")
        if not torch.isfinite(c).all():
            raise ConfigError(f"{self.name} {name} contains non-finite values")
        return c

    def dense(self, c: torch.Tensor) -> torch.Tensor:
        """The V×V matrix of diag(c) in this basis, for a single coefficient set (tests, small V)."""
        V = self.lattice.volume
        c1 = self.check_coef(c)[:1]
        eye = torch.eye(V, dtype=c.dtype, device=c.device).reshape((V,) + self.lattice.shape)
        return self.apply(c1, eye).reshape(V, V).T  # row i of apply(e_i) is column i of the matrix

    def expand(self, c: torch.Tensor) -> torch.Tensor:
        """Coefficients as full per-component arrays (B, L, ..., L)."""
        return c.expand((c.shape[0],) + self.lattice.shape)

    def __repr__(self):
        return f"{type(self).__name__}(L={self.lattice.L}, d={self.lattice.d})"


class ScalarFamily(Family):
    name = "scalar"

    @property
    def coef_shape(self):
        return (1,) * self.lattice.d


class SiteFamily(Family):
    name = "site"


class FourierFamily(Family):
    name = "fourier"

    def to_basis(self, x):
        return fft(x, self.lattice)

    def from_basis(self, xb):
        return ifft(xb, self.lattice)

    def _half(self, c):
        """Even coefficients on the rfft half-spectrum (last axis 0..L/2)."""
        return c[..., : self.lattice.L // 2 + 1]

    def _rfft(self, x):
        return torch.fft.rfftn(x, dim=self.lattice.axes, norm="ortho")

    def _irfft(self, xh):
        return torch.fft.irfftn(xh, s=self.lattice.shape, dim=self.lattice.axes, norm="ortho")

    def apply(self, c, x):
        if c.shape[1:] == (1,) * self.lattice.d:  # scalar coefficients: no transform needed
            return c * x
        return self._irfft(self._half(c) * self._rfft(x))  # real FFT: c is even, so this is exact

    def apply2(self, c1, x1, c2, x2):
        if c1.shape[1:] == (1,) * self.lattice.d and c2.shape[1:] == (1,) * self.lattice.d:
            return c1 * x1 + c2 * x2
        return self._irfft(self._half(c1) * self._rfft(x1) + self._half(c2) * self._rfft(x2))

    def check_coef(self, c, name="coefficient"):
        c = super().check_coef(c, name)
        if not torch.equal(c, mode_reflect(c, self.lattice)):
            raise ConfigError(f"fourier {name} is not even (a_k != a_-k): the operator would not be real")
        return c


def mode_reflect(c: torch.Tensor, lattice: Lattice) -> torch.Tensor:
    """c_{−k} for coefficients in FFT order: reflect n → −n mod L on every lattice axis."""
    axes = lattice.axes
    return torch.roll(torch.flip(c, axes), shifts=(1,) * len(axes), dims=axes)


FAMILIES = {"scalar": ScalarFamily, "site": SiteFamily, "fourier": FourierFamily}


def make_family(name: str, lattice: Lattice) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"family = {name!r} is not one of {', '.join(FAMILIES)}")
    return FAMILIES[name](lattice)


@dataclass
class Operator:
    """A pair (A, B) of one family: I = A x0 + B x1, noise x0, data x1. a, b: (B|1, coef_shape)."""

    family: Family
    a: torch.Tensor
    b: torch.Tensor

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return self.family.apply(self.a, x)

    def B(self, x: torch.Tensor) -> torch.Tensor:
        return self.family.apply(self.b, x)

    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """I = A x0 + B x1, one basis round trip."""
        f = self.family
        return f.from_basis(self.a * f.to_basis(x0) + self.b * f.to_basis(x1))
