"""Tilts of the target, ρ₁ʳ ∝ ρ₁ e^{r}, r(x) = ½ xᵀQx + hᵀx, as transforms of any drift (MATH.md §4).

Per component of the family basis (site or mode), with p = β²/α² and Q = q there, completing
the square in x₁ shows that the tilted conditional law of x₁ given I = x is the untilted one at
    p_r = p − q,  α_r = α/(α + s),  β_r = s/(α + s),  x_r = (β x + α² h)/(s (α + s)),
where s = √(β² − q α²) = α √p_r. (With α + β = 1 and q = 0 this is x_r = x + α²h/β, the linear
tilt δ = A Aᵀ B^{−T} h; a uniform h moves only the k = 0 mode.) Then
    η1ʳ(x; α, β) = η1(x_r; α_r, β_r),     η0ʳ = (x − β η1ʳ)/α  (0 where α = 0).
The form above is finite at both ends whenever p_r > 0.

Validity. The transform is exact only where p_r > 0 on every component:
- q < 0 (heavier mass): p_r ≥ −q > 0 on the whole path, linear part included;
- q = 0, h ≠ 0 (external field): p_r = p → 0 at pure noise, where x_r diverges;
- q > 0 (lighter mass): fails for α > 1/(1 + √q).
`valid(op)` says whether the transform may be used at op: p_r ≥ p_min on every component,
p_min = (b_min/(1 − b_min))² (b_min = 0.05 by default). Before that point the sampler either
integrates the untilted drift (start="late") or refuses with TiltDomainError (start="refuse",
the default for q > 0). It is never silently extrapolated. With start="late" the state at the
switch has the untilted marginal; with match_mean (default) the sampler shifts it by
B(E_r[x₁] − E[x₁]) estimated self-consistently from the two drifts, which is exact for a
Gaussian target under a linear tilt; what remains is measured in tests (oracle).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, LatticeMSIError
from .drift import Eta
from .families import Family, FourierFamily, Operator, ScalarFamily, SiteFamily

START_POLICIES = ("late", "refuse")


class TiltDomainError(LatticeMSIError):
    """A tilt was evaluated where p_r = β²/α² − q ≤ p_min (it would be wrong there)."""


class TiltedDrift:
    """The drift of the tilted target ρ₁ e^{½ q|x|² + hᵀx} built from the drift of ρ₁.

    q: scalar, or per Fourier mode (FFT order, even; needs the Fourier family) — a mass shift
       m² → m² + c is q = −2c; h: scalar (uniform field) or a field of shape (L, ..., L).
    """

    def __init__(self, base, q=0.0, h=0.0, b_min: float = 0.05, start: str | None = None, match_mean: bool = True):
        self.base = base
        self.q = torch.as_tensor(q, dtype=torch.float64)
        self.h = torch.as_tensor(h, dtype=torch.float64)
        if not torch.isfinite(self.q).all() or not torch.isfinite(self.h).all():
            raise ConfigError("tilt q and h must be finite")
        if not 0.0 < b_min < 1.0:
            raise ConfigError(f"b_min = {b_min} must lie in (0, 1)")
        self.p_min = (b_min / (1.0 - b_min)) ** 2
        self.b_min = b_min
        if start is None:
            start = "refuse" if float(self.q.max()) > 0 else "late"
        if start not in START_POLICIES:
            raise ConfigError(f"start = {start!r} is not one of {', '.join(START_POLICIES)}")
        self.start = start
        self.match_mean = match_mean

    @property
    def per_mode_q(self) -> bool:
        return self.q.dim() > 0

    def _family_for(self, op: Operator) -> Family:
        fam = op.family
        if self.per_mode_q and not isinstance(fam, (FourierFamily, ScalarFamily)):
            raise ConfigError(f"a per-mode q needs a Fourier-diagonal operator family, got {fam.name}")
        if self.per_mode_q and isinstance(fam, ScalarFamily):
            return FourierFamily(fam.lattice)
        return fam

    def _coefs(self, op: Operator, fam: Family):
        a, b = op.a.double(), op.b.double()
        if fam is not op.family:  # promote scalar coefficients to per-mode
            a, b = fam.expand(a), fam.expand(b)
        q = self.q.to(a.device)
        return a, b, q

    def p_r(self, op: Operator) -> torch.Tensor:
        fam = self._family_for(op)
        a, b, q = self._coefs(op, fam)
        with torch.no_grad():
            return torch.where(a > 0, (b * b - q * a * a) / (a * a).clamp_min(1e-300), torch.full_like(a, float("inf")))

    def valid(self, op: Operator) -> bool:
        trivial = float(self.q.abs().max()) == 0.0 and float(self.h.abs().max()) == 0.0
        return trivial or bool((self.p_r(op) >= self.p_min).all())

    def __call__(self, x: torch.Tensor, op: Operator) -> Eta:
        if not self.valid(op):
            pmin = float(self.p_r(op).min())
            raise TiltDomainError(
                f"tilt (q = {float(self.q.max()):g}, h = {float(self.h.abs().max()):g}) evaluated where "
                f"beta^2/alpha^2 - q = {pmin:.3g} < {self.p_min:.3g}: the transform is not valid there"
            )
        fam = self._family_for(op)
        a, b, q = self._coefs(op, fam)
        s = torch.sqrt((b * b - q * a * a).clamp_min(0.0))
        a_r = a / (a + s)
        b_r = s / (a + s)
        xb = fam.to_basis(x.double())
        h = self.h.to(x.device)
        hb = fam.to_basis(h.expand(x.shape[1:])[None]) if h.dim() > 0 else _uniform_in_basis(h, fam, x)
        x_r = fam.from_basis((b * xb + a * a * hb) / (s * (a + s)))
        eta1 = self.base(x_r.to(x.dtype), Operator(fam, a_r.to(x.dtype), b_r.to(x.dtype))).eta1
        rb = xb - b * fam.to_basis(eta1.double())  # A η0 = x − B η1, solved per component
        eta0 = fam.from_basis(torch.where(a > 0, rb / a.clamp_min(1e-300), torch.zeros_like(rb)))
        return Eta(eta0.to(x.dtype), eta1)


def _uniform_in_basis(h: torch.Tensor, fam: Family, x: torch.Tensor) -> torch.Tensor:
    """A uniform field h in the family basis (for the Fourier basis only the k = 0 mode)."""
    field = h * torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64, device=x.device)
    return fam.to_basis(field)
