"""The Gaussian oracle (MATH.md §5): exact drifts when the data law is Gaussian N(μ, C).

    η1(x; A,B) = μ + C Bᵀ (A Aᵀ + B C Bᵀ)⁻¹ (x − Bμ)        η0(x; A,B) = Aᵀ (A Aᵀ + B C Bᵀ)⁻¹ (x − Bμ)

- FreeFieldOracle: C translation invariant (spectrum c_k), exact per mode for the scalar and
  Fourier families, η̂1_k = μ̂_k + c_k b_k (a_k² + b_k² c_k)⁻¹ (x̂_k − b_k μ̂_k); dense for the
  site family. Built from the free field of MATH.md §2 by `from_couplings`.
- DenseGaussianOracle: any μ, C (V ≲ a few hundred), any family.
Both sit behind the Drift interface and have `tilted(q, h)`, the exact oracle of the tilted
Gaussian ρ₁ e^{½xᵀQx + hᵀx}: C → (C⁻¹ − Q)⁻¹, μ → (C⁻¹ − Q)⁻¹ (C⁻¹ μ + h).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..lattice import Couplings, Lattice, free
from ..lattice.fourier import fft, ifft
from .drift import Eta
from .families import FourierFamily, Operator, ScalarFamily


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class DenseGaussianOracle:
    """Exact drift for N(mu, C) with dense V×V linear algebra, for operators of any family."""

    def __init__(self, lattice: Lattice, mu: torch.Tensor, C: torch.Tensor):
        V = lattice.volume
        self.lattice = lattice
        self.mu = mu.reshape(V).double()
        self.C = C.reshape(V, V).double()
        if not torch.allclose(self.C, self.C.T):
            raise ConfigError("covariance is not symmetric")
        if torch.linalg.eigvalsh(self.C).min() <= 0:
            raise ConfigError("covariance is not positive definite")

    def _mats(self, op: Operator):
        fam = op.family
        a, b = op.a, op.b
        n = max(a.shape[0], b.shape[0])
        if n == 1:
            return fam.dense(a)[None], fam.dense(b)[None]
        A = torch.stack([fam.dense(a[min(i, a.shape[0] - 1)]) for i in range(n)])
        B = torch.stack([fam.dense(b[min(i, b.shape[0] - 1)]) for i in range(n)])
        return A, B

    def __call__(self, x: torch.Tensor, op: Operator) -> Eta:
        A, B = self._mats(op)
        A, B = A.to(torch.float64), B.to(torch.float64)
        D = A @ A.transpose(-1, -2) + B @ self.C @ B.transpose(-1, -2)
        r = _flat(x).double() - (B @ self.mu)  # (Bx, V) broadcast (n, V)
        if D.shape[0] == 1:  # one operator for the whole batch: one factorisation, many right-hand sides
            sol = torch.linalg.solve(D[0], r.T)  # (V, n)
            eta1 = self.mu + (self.C @ (B[0].T @ sol)).T
            eta0 = (A[0].T @ sol).T
        else:
            sol = torch.linalg.solve(D, r.unsqueeze(-1))  # (B, V, 1)
            eta1 = self.mu + (self.C @ B.transpose(-1, -2) @ sol).squeeze(-1)
            eta0 = (A.transpose(-1, -2) @ sol).squeeze(-1)
        shape = x.shape
        return Eta(eta0.reshape(shape).to(x.dtype), eta1.reshape(shape).to(x.dtype))

    def log_density(self, x: torch.Tensor, op: Operator) -> torch.Tensor:
        """log ρ_{A,B}(x) of I = A x0 + B x1 ~ N(Bμ, AAᵀ + BCBᵀ) (for score checks)."""
        A, B = self._mats(op)
        S = A @ A.transpose(-1, -2) + B @ self.C @ B.transpose(-1, -2)
        dist = torch.distributions.MultivariateNormal(B @ self.mu, covariance_matrix=S)
        return dist.log_prob(_flat(x).double())

    def tilted(self, Q: torch.Tensor | float = 0.0, h: torch.Tensor | float = 0.0) -> "DenseGaussianOracle":
        V = self.lattice.volume
        Q = torch.as_tensor(Q, dtype=torch.float64)
        Q = Q * torch.eye(V, dtype=torch.float64) if Q.dim() == 0 else Q.reshape(V, V)
        h = torch.as_tensor(h, dtype=torch.float64)
        h = h.expand(V) if h.dim() == 0 else h.reshape(V)
        P = torch.linalg.inv(self.C) - Q
        if torch.linalg.eigvalsh(P).min() <= 0:
            raise ConfigError("tilt makes the Gaussian non-normalisable (C^-1 - Q is not positive definite)")
        Cn = torch.linalg.inv(P)
        Cn = 0.5 * (Cn + Cn.T)
        return DenseGaussianOracle(self.lattice, Cn @ (torch.linalg.solve(self.C, self.mu) + h), Cn)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        L = torch.linalg.cholesky(self.C)
        z = torch.randn((n, self.lattice.volume), generator=generator, dtype=torch.float64)
        return (self.mu + z @ L.T).reshape((n,) + self.lattice.shape)


class FreeFieldOracle:
    """Exact drift for a translation-invariant Gaussian: spectrum c_k (FFT order) and mean field μ."""

    def __init__(self, lattice: Lattice, spectrum: torch.Tensor, mean: torch.Tensor | float = 0.0):
        self.lattice = lattice
        self.c = spectrum.double().reshape(lattice.shape)
        if (self.c <= 0).any():
            raise ConfigError("spectrum must be positive")
        m = torch.as_tensor(mean, dtype=torch.float64)
        self.mu = m.expand(lattice.shape).clone() if m.dim() == 0 else m.reshape(lattice.shape).double()
        self.mu_hat = fft(self.mu[None], lattice)[0]
        self._dense = None

    @classmethod
    def from_couplings(cls, lattice: Lattice, couplings: Couplings) -> "FreeFieldOracle":
        """The free field of MATH.md §2: c_k = G̃(k) = 1/(2(m² + k̂²)), μ = h/(2m²)."""
        return cls(lattice, free.propagator(lattice, couplings), free.mean_field(couplings))

    @property
    def dense(self) -> DenseGaussianOracle:
        if self._dense is None:
            V = self.lattice.volume
            fam = FourierFamily(self.lattice)
            self._dense = DenseGaussianOracle(self.lattice, self.mu, fam.dense(self.c))
            self._dense.C = 0.5 * (self._dense.C + self._dense.C.T)
            assert self._dense.C.shape == (V, V)
        return self._dense

    def __call__(self, x: torch.Tensor, op: Operator) -> Eta:
        if not isinstance(op.family, (FourierFamily, ScalarFamily)):
            return self.dense(x, op)
        lat = self.lattice
        half = lat.L // 2 + 1  # real FFT on the last axis: all coefficients are even
        a, b = op.a.double()[..., :half], op.b.double()[..., :half]
        c, mu_hat = self.c[..., :half], self.mu_hat[..., :half]
        xh = torch.fft.rfftn(x.double(), dim=lat.axes, norm="ortho")
        r = (xh - b * mu_hat) / (a * a + b * b * c)
        back = lambda z: torch.fft.irfftn(z, s=lat.shape, dim=lat.axes, norm="ortho")  # noqa: E731
        eta1 = self.mu + back(c * b * r)
        eta0 = back(a * r)
        return Eta(eta0.to(x.dtype), eta1.to(x.dtype))

    def covariance_dense(self) -> torch.Tensor:
        return self.dense.C

    def tilted(self, q: torch.Tensor | float = 0.0, h: torch.Tensor | float = 0.0) -> "FreeFieldOracle":
        """Exact oracle of ρ₁ e^{½ Σ_k q_k |x̂_k|² + hᵀx}; q scalar or per mode (FFT order), h uniform or a field."""
        q = torch.as_tensor(q, dtype=torch.float64)
        prec = 1.0 / self.c - q
        if (prec <= 0).any():
            raise ConfigError(f"tilt q = {float(q.max())} makes the Gaussian non-normalisable (1/c_k - q_k <= 0)")
        cn = 1.0 / prec
        h = torch.as_tensor(h, dtype=torch.float64)
        hf = h.expand(self.lattice.shape) if h.dim() == 0 else h.reshape(self.lattice.shape).double()
        hh = fft(hf[None], self.lattice)[0]
        mu_hat = cn * (self.mu_hat / self.c + hh)
        mu = ifft(mu_hat[None], self.lattice)[0]
        return FreeFieldOracle(self.lattice, cn, mu)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        white = torch.randn((n,) + self.lattice.shape, generator=generator, dtype=torch.float64)
        return ifft(fft(white, self.lattice) * self.c.sqrt(), self.lattice) + self.mu
